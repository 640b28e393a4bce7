package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// clusterScaleBench (-only cluster-scale): three server processes share one
// redis-server (7 or later, from PATH).
//
//  1. A batch of 1,000 users split over the three (three callers, 334/333/333
//     at once, one per process) against a sandbox that allows the account
//     100 calls a second (+20 ms a call), the processes sharing ZOOM_QPS=100
//     through Redis: the time against the quota's ideal N/QPS, and the 429s
//     the sandbox answered. Repeated reps times; the same 1,000 as one batch
//     on one process, and three processes without Redis (each spending
//     ZOOM_QPS alone), once each, for comparison.
//  2. n authenticated websockets spread over the three (user i on process
//     i mod 3): the connect storm, RSS per idle socket (the sum of the three
//     processes' RSS deltas over n), and the RSS peak during one batch to all
//     n, sent to one process (two thirds of the pushes cross processes).
func clusterScaleBench(bin string, n, reps int, add func(result)) error {
	redisURL, stopRedis, err := startRedisServer()
	if err != nil {
		return err
	}
	defer stopRedis()
	if err := clusterBatchBench(bin, redisURL, reps, add); err != nil {
		return fmt.Errorf("cluster batch: %w", err)
	}
	if err := clusterSocketsBench(bin, redisURL, n, add); err != nil {
		return fmt.Errorf("cluster sockets: %w", err)
	}
	return nil
}

// hostJWT is a caller JWT with role host (hosts may send batches).
func hostJWT(sub string) string {
	return signHS256(benchJWTSecret, map[string]any{"sub": sub, "role": "host", "exp": time.Now().Add(time.Hour).Unix()})
}

// startServers starts k server processes against sb with extra settings;
// stop ends them.
func startServers(bin string, sb *sandbox.Sandbox, k int, extra ...string) ([]*server, func(), error) {
	var srvs []*server
	stop := func() {
		for _, s := range srvs {
			s.stop()
		}
	}
	for range k {
		s, err := startServer(bin, sb, extra...)
		if err != nil {
			stop()
			return nil, nil, err
		}
		srvs = append(srvs, s)
	}
	for _, s := range srvs { // each fetches its S2S access token
		if err := post(s.url+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "warm@example.com"}); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return srvs, stop, nil
}

// batchOutcome is one split batch: how long until the last answer, and
// what the sandbox counted meanwhile.
type batchOutcome struct {
	took             time.Duration
	minted, failed   int
	throttled, calls int64
}

// splitBatch sends ids in len(srvs) parts at once, part i to srvs[i] as
// caller host i, and waits for every answer.
func splitBatch(sb *sandbox.Sandbox, srvs []*server, ids []string) (batchOutcome, error) {
	time.Sleep(1100 * time.Millisecond) // a fresh second at the sandbox, a rested pace
	k := len(srvs)
	var wg sync.WaitGroup
	var minted, failed atomic.Int64
	var firstErr atomic.Value
	gate := make(chan struct{})
	for i, s := range srvs {
		part := ids[len(ids)*i/k : len(ids)*(i+1)/k]
		wg.Go(func() {
			b, _ := json.Marshal(map[string]any{"meetingId": meeting, "participantUserIds": part})
			req, _ := http.NewRequest("POST", s.url+"/api/meetings/batch-join", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+hostJWT(fmt.Sprintf("host%d@example.com", i)))
			<-gate
			resp, err := client.Do(req)
			if err != nil {
				firstErr.Store(err)
				return
			}
			defer resp.Body.Close()
			var body struct {
				Summary struct{ Successful, Failed int } `json:"summary"`
			}
			if resp.StatusCode != 200 {
				firstErr.Store(fmt.Errorf("batch on process %d: HTTP %d", i, resp.StatusCode))
				return
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			minted.Add(int64(body.Summary.Successful))
			failed.Add(int64(body.Summary.Failed))
		})
	}
	before := sb.Stats()
	start := time.Now()
	close(gate)
	wg.Wait()
	o := batchOutcome{took: time.Since(start), minted: int(minted.Load()), failed: int(failed.Load())}
	after := sb.Stats()
	o.throttled, o.calls = after.Throttled-before.Throttled, after.APICalls-before.APICalls
	if err, _ := firstErr.Load().(error); err != nil {
		return o, err
	}
	return o, nil
}

func batchIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d@example.com", prefix, i)
	}
	return ids
}

func clusterBatchBench(bin, redisURL string, reps int, add func(result)) error {
	const n, qps = 1000, 100
	ideal := time.Duration(n) * time.Second / qps
	sb := sandbox.New(sandbox.Options{QPS: qps, Latency: 20 * time.Millisecond})
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()
	env := []string{"REDIS_URL=" + redisURL, "CLUSTER_SIZE=3", "ZOOM_QPS=" + strconv.Itoa(qps), "AUTH_JWT_SECRET=" + benchJWTSecret}
	srvs, stop, err := startServers(bin, sb, 3, env...)
	if err != nil {
		return err
	}
	defer stop()

	var took, ratios []float64
	var throttled []int64
	var minted, failed []int
	for r := range max(reps, 1) {
		o, err := splitBatch(sb, srvs, batchIDs(fmt.Sprintf("r%d-", r), n))
		if err != nil {
			return err
		}
		took = append(took, o.took.Seconds())
		ratios = append(ratios, o.took.Seconds()/ideal.Seconds())
		throttled = append(throttled, o.throttled)
		minted, failed = append(minted, o.minted), append(failed, o.failed)
	}
	add(result{name: fmt.Sprintf("cluster batch: 1,000 over 3 processes (334/333/333 at once), ZOOM_QPS=%d shared, sandbox %d QPS + 20 ms", qps, qps),
		value: fmt.Sprintf("median %.2f s vs ideal %.0f s (ratio %.2f); runs %s s; 429s at the sandbox %v; minted %v, failed %v",
			median(took), ideal.Seconds(), median(ratios), joinFloats(took), throttled, minted, failed),
		target: "ratio < 1.1, no 429"})

	one, err := splitBatch(sb, srvs[:1], batchIDs("one-", n))
	if err != nil {
		return err
	}
	add(result{name: "cluster batch: the same 1,000 as one batch on one of the 3 processes",
		value: fmt.Sprintf("%.2f s (ratio %.2f); %d 429s; minted %d, failed %d", one.took.Seconds(), one.took.Seconds()/ideal.Seconds(),
			one.throttled, one.minted, one.failed)})
	stop()

	// Without Redis each process spends ZOOM_QPS alone: three times the account's.
	alone, stopAlone, err := startServers(bin, sb, 3, "ZOOM_QPS="+strconv.Itoa(qps), "AUTH_JWT_SECRET="+benchJWTSecret)
	if err != nil {
		return err
	}
	defer stopAlone()
	o, err := splitBatch(sb, alone, batchIDs("alone-", n))
	if err != nil {
		return err
	}
	add(result{name: "cluster batch: the same split over 3 processes without REDIS_URL (each at ZOOM_QPS)",
		value: fmt.Sprintf("%.2f s (ratio %.2f); %d 429s of %d calls at the sandbox (retried); minted %d, failed %d",
			o.took.Seconds(), o.took.Seconds()/ideal.Seconds(), o.throttled, o.calls, o.minted, o.failed)})
	return nil
}

func joinFloats(v []float64) string {
	var b bytes.Buffer
	for i, f := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.2f", f)
	}
	return b.String()
}

// rssSum is the three processes' RSS added up, in KB.
func rssSum(srvs []*server) (sum int64, each []int64) {
	for _, s := range srvs {
		r := rssKB(s.cmd.Process.Pid)
		each = append(each, r)
		sum += r
	}
	return sum, each
}

func clusterSocketsBench(bin, redisURL string, n int, add func(result)) error {
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()
	srvs, stop, err := startServers(bin, sb, 3, "REDIS_URL="+redisURL, "CLUSTER_SIZE=3",
		"AUTH_JWT_SECRET="+benchJWTSecret, "BATCH_MAX="+strconv.Itoa(max(n, 1)))
	if err != nil {
		return err
	}
	defer stop()
	time.Sleep(time.Second)
	rss0, each0 := rssSum(srvs)

	ds, err := dialParticipants(n, "cs%05d@example.com", func(i int) string { return srvs[i%3].url })
	if err != nil {
		return err
	}
	defer ds.close()
	time.Sleep(5 * time.Second) // let the collectors and the scavengers settle
	rss1, each1 := rssSum(srvs)
	dropped := ds.dropped()

	// One batch to all, sent to the first process: sample the sum of RSS
	// until the last OBF is in.
	b, err := batchToAll(srvs[0].url, ds, 90*time.Second, rss1, func() int64 { r, _ := rssSum(srvs); return r })
	if err != nil {
		return err
	}
	lastMint := sb.Stats().LastMint
	if b.missing > dropped {
		return fmt.Errorf("%d participants never received their OBF", b.missing)
	}
	if b.missing > 0 {
		return errors.New("sockets were closed while idle")
	}

	per := func(kb int64) float64 { return float64(kb) / float64(n) }
	idle := per(rss1 - rss0)
	add(result{name: fmt.Sprintf("cluster sockets: %d authenticated websockets over 3 processes", n),
		value: fmt.Sprintf("connected in %v, 128 dialling at once (%d CONNECTs lost and redialled)", ds.took.Round(time.Millisecond), ds.redials)})
	add(result{name: "cluster sockets: RSS per idle socket (sum of the 3 processes' deltas / sockets)",
		value: fmt.Sprintf("%.1f KB (%d → %d KB in all; per process %s KB; %d closed while idle)", idle, rss0, rss1, deltas(each0, each1), dropped)})
	add(result{name: fmt.Sprintf("cluster sockets: RSS peak per socket, one batch to all %d (sent to one process)", n),
		value:  fmt.Sprintf("%.1f KB (%.2f× idle; peak %d KB in all)", per(b.peak-rss0), per(b.peak-rss0)/idle, b.peak),
		target: "< 1.5× idle"})
	add(result{name: fmt.Sprintf("cluster sockets: last OBF of the %d batch, after the last mint", n),
		value: fmt.Sprintf("%v (%v after the request)", b.last.Sub(lastMint).Round(100*time.Microsecond), b.last.Sub(b.start).Round(time.Millisecond))})
	return nil
}

func deltas(a, b []int64) string {
	d := make([]string, len(a))
	for i := range a {
		d[i] = fmt.Sprintf("+%d", b[i]-a[i])
	}
	return strings.Join(d, " / ")
}
