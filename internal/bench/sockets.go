package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// socketsBench holds n authenticated websockets on one server (participants
// waiting for a token that comes once), then sends one batch to all of them.
// It reports the connect storm, the server's memory per idle socket (RSS,
// and the Go runtime's own figures from /metrics), the RSS peak during the
// batch, and when the last OBF arrived after the sandbox minted the last
// token. The sandbox answers at unlimited QPS.
func socketsBench(bin string, n int, add func(result)) error {
	sb, srv, stop, err := harness(bin, sandbox.Options{}, "AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789",
		"BATCH_MAX="+strconv.Itoa(max(n, 1)))
	if err != nil {
		return err
	}
	defer stop()
	pid := srv.cmd.Process.Pid
	_ = post(srv.url+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "warm@example.com"})
	time.Sleep(time.Second)
	rt0, rss0 := runtimeStats(srv.url), rssKB(pid)

	ds, err := dialParticipants(n, "w%05d@example.com", func(int) string { return srv.url })
	if err != nil {
		return err
	}
	defer ds.close()
	time.Sleep(5 * time.Second) // let the collector and the scavenger settle
	rt1, rss1 := runtimeStats(srv.url), rssKB(pid)
	dropped := ds.dropped()

	// One batch to all: sample RSS until the last OBF is in.
	b, err := batchToAll(srv.url, ds, 60*time.Second, rss1, func() int64 { return rssKB(pid) })
	if err != nil {
		return err
	}
	lastMint := sb.Stats().LastMint
	if b.missing > dropped {
		return fmt.Errorf("%d participants never received their OBF", b.missing)
	}

	perSocket := func(kb int64) float64 { return float64(kb) / float64(n) }
	idle := perSocket(rss1 - rss0)
	add(result{name: fmt.Sprintf("sockets: %d authenticated websockets connected", n),
		value: fmt.Sprintf("in %v, 128 dialling at once, slowest %v (%d CONNECTs lost and redialled)",
			ds.took.Round(time.Millisecond), ds.slowest.Round(time.Millisecond), ds.redials)})
	add(result{name: fmt.Sprintf("sockets: server RSS per idle socket at %d", n),
		value: fmt.Sprintf("%.1f KB (%d KB before, %d KB with %d sockets; %d closed by the server while idle)", idle, rss0, rss1, n, dropped), target: "< 16 KB"})
	add(result{name: "sockets: per idle socket, Go runtime",
		value: fmt.Sprintf("%.1f goroutines; heap in use %.1f KB, stacks %.1f KB (of %.1f KB the runtime holds from the OS)",
			float64(rt1.goroutines-rt0.goroutines)/float64(n), perSocket((rt1.heapInuse-rt0.heapInuse)/1024),
			perSocket((rt1.stackInuse-rt0.stackInuse)/1024), perSocket((rt1.sys-rt0.sys)/1024))})
	add(result{name: fmt.Sprintf("sockets: RSS peak per socket, one batch to all %d", n),
		value:  fmt.Sprintf("%.1f KB (%.2f× idle; peak %d KB)", perSocket(b.peak-rss0), perSocket(b.peak-rss0)/idle, b.peak),
		target: "< 1.5× idle"})
	add(result{name: fmt.Sprintf("sockets: last OBF of the %d batch, after the last mint", n),
		value: fmt.Sprintf("%v (%v after the request; the batch answered in %v)", b.last.Sub(lastMint).Round(100*time.Microsecond),
			b.last.Sub(b.start).Round(time.Millisecond), b.took.Round(time.Millisecond)),
		target: "< 100 ms"})
	return nil
}

// batchRun is one batch to all: when it was sent, how long its answer
// took, when the last OBF arrived, how many never did, and the RSS peak.
type batchRun struct {
	start   time.Time
	took    time.Duration
	last    time.Time
	missing int
	peak    int64
}

// batchToAll sends one batch-join for every participant of ds to url,
// sampling RSS (rss, from base) until the last OBF is in, waiting for them
// at most wait.
func batchToAll(url string, ds *dialed, wait time.Duration, base int64, rss func() int64) (batchRun, error) {
	stopSampling := samplePeak(base, rss)
	b := batchRun{start: time.Now()}
	var batchErr error
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		batchErr = post(url+"/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ds.ids})
		b.took = time.Since(b.start)
	}()
	b.last, b.missing = lastCredentials(ds.clients, wait)
	<-answered
	b.peak = stopSampling()
	if batchErr != nil {
		return b, fmt.Errorf("batch: %w", batchErr)
	}
	return b, nil
}

// rtStats are the Go runtime's figures, as the server's /metrics reports them.
type rtStats struct {
	goroutines                 int64
	heapInuse, stackInuse, sys int64
}

var metricLine = regexp.MustCompile(`(?m)^(go_goroutines|go_memstats_heap_inuse_bytes|go_memstats_stack_inuse_bytes|go_memstats_sys_bytes) ([0-9.e+]+)$`)

func runtimeStats(base string) rtStats {
	var s rtStats
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range metricLine.FindAllSubmatch(b, -1) {
		f, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[1]) {
		case "go_goroutines":
			s.goroutines = int64(f)
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = int64(f)
		case "go_memstats_stack_inuse_bytes":
			s.stackInuse = int64(f)
		case "go_memstats_sys_bytes":
			s.sys = int64(f)
		}
	}
	return s
}

// lastCredentials waits, within d in all, for each client's
// meeting:credentials: when the last one arrived, and how many never did.
func lastCredentials(clients []*rawclient.Client, d time.Duration) (last time.Time, missing int) {
	deadline := time.Now().Add(d)
	for _, c := range clients {
		e, ok := c.WaitEvent("meeting:credentials", max(time.Until(deadline), time.Millisecond))
		if !ok {
			missing++
			continue
		}
		if e.At.After(last) {
			last = e.At
		}
	}
	return last, missing
}

// dialed is n participants, connected and authenticated.
type dialed struct {
	clients []*rawclient.Client
	ids     []string      // participant i's user id
	took    time.Duration // to connect them all
	slowest time.Duration // one participant's longest connect (roughly: racing stores may keep a smaller one)
	redials int64         // CONNECTs lost and redialled
}

// dialParticipants connects n participants, 128 dialling at once, the
// i-th (user idFormat % i) to urlOf(i). On an error the ones connected are
// closed.
func dialParticipants(n int, idFormat string, urlOf func(i int) string) (*dialed, error) {
	d := &dialed{clients: make([]*rawclient.Client, n), ids: make([]string, n)}
	for i := range d.ids {
		d.ids[i] = fmt.Sprintf(idFormat, i)
	}
	var redials, slowest atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 128)
	var dialErr atomic.Value
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t := time.Now()
			c, tries, err := participant(urlOf(i), jwtFor(d.ids[i]))
			redials.Add(int64(tries))
			if err != nil {
				dialErr.Store(err)
				return
			}
			if took := int64(time.Since(t)); took > slowest.Load() {
				slowest.Store(took)
			}
			d.clients[i] = c
		})
	}
	wg.Wait()
	d.took, d.slowest, d.redials = time.Since(start), time.Duration(slowest.Load()), redials.Load()
	if err, _ := dialErr.Load().(error); err != nil {
		d.close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return d, nil
}

func (d *dialed) close() {
	for _, c := range d.clients {
		if c != nil {
			c.Close()
		}
	}
}

// dropped is how many the server has closed.
func (d *dialed) dropped() int {
	n := 0
	for _, c := range d.clients {
		if c.Closed(0) {
			n++
		}
	}
	return n
}

// samplePeak reads rss every 2 ms until the function it answers is called,
// which answers the highest value read (from start).
func samplePeak(start int64, rss func() int64) (stop func() int64) {
	peak := start
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, rss())
			}
		}
	}()
	return func() int64 {
		close(done)
		<-sampled
		return peak
	}
}
