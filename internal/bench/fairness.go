package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// fairnessBench shares ZOOM_QPS=40 between two hosts each running two
// batches of n and a third caller doing single joins one after another:
// the joins' latency while the batches saturate the budget, and each
// batch's time against its share's ideal: a quarter of what the joins
// leave of 40 calls a second.
func fairnessBench(bin string, n int, add func(result)) error {
	const qps = 40
	sb, srv, stop, err := harness(bin, sandbox.Options{QPS: qps, Latency: 20 * time.Millisecond},
		"ZOOM_QPS=40", "AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789")
	if err != nil {
		return err
	}
	defer stop()
	hosts := []string{"hosta@example.com", "hostb@example.com"}
	solo := "solo@example.com"
	if err := postAs(srv.url+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": solo},
		callerJWT(solo, "participant")); err != nil {
		return fmt.Errorf("warm-up join: %w", err)
	}
	time.Sleep(1100 * time.Millisecond) // a fresh quota second
	before := sb.Stats()
	start := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, 2*len(hosts))
	failed := make([]error, len(took))
	itemsFailed := make([]int, len(took))
	for h, host := range hosts {
		for j := range 2 {
			i := 2*h + j
			ids := make([]string, n)
			for k := range ids {
				ids[k] = fmt.Sprintf("f%d-%04d@example.com", i, k)
			}
			wg.Go(func() {
				var body struct {
					Summary struct{ Failed int } `json:"summary"`
				}
				failed[i] = postJSON(srv.url+"/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ids},
					callerJWT(host, "host"), &body)
				itemsFailed[i] = body.Summary.Failed
				took[i] = time.Since(start)
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	joins, joinErrs := joinUntil(srv.url, solo, done)
	after := sb.Stats()
	for i, err := range failed {
		if err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
	}
	if len(joins) == 0 {
		return fmt.Errorf("no single join answered (%d failed)", joinErrs)
	}
	slices.Sort(joins)
	add(result{name: fmt.Sprintf("single join amid 2 hosts x 2 batches of %d, ZOOM_QPS=40", n),
		value: fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d joins, %d failed; one Zoom slot is 25 ms + 20 ms latency)",
			ms(pct(joins, 0.50)), ms(pct(joins, 0.99)), ms(joins[len(joins)-1]), len(joins), joinErrs),
		target: "well under 1 s"})
	// Each batch's share is a quarter of what the joins leave: the ideal is
	// every call made (the batches' and the joins') at ZOOM_QPS.
	ideal := time.Duration(float64(len(took)*n+len(joins)+joinErrs) / qps * float64(time.Second))
	for i, d := range took {
		add(result{name: fmt.Sprintf("batch %d (host %c) of %d", i+1, 'A'+i/2, n),
			value: fmt.Sprintf("%.1f s vs ideal %.1f s, a quarter of what the joins leave (%+.1f%%); %d failed",
				d.Seconds(), ideal.Seconds(), (d.Seconds()/ideal.Seconds()-1)*100, itemsFailed[i]),
			target: "near ideal"})
	}
	add(result{name: "Zoom calls, 429s",
		value: fmt.Sprintf("%d calls, %d 429s", after.APICalls-before.APICalls, after.Throttled-before.Throttled)})
	return nil
}

// joinUntil joins as solo, one join every 100 ms, from a second after it
// is called until done closes: the answered joins' latencies, and how many
// failed.
func joinUntil(url, solo string, done <-chan struct{}) (joins []time.Duration, joinErrs int) {
	time.Sleep(time.Second) // the batches fill the budget first
	soloJWT := callerJWT(solo, "participant")
	for running := true; running; {
		select {
		case <-done:
			running = false
			continue
		default:
		}
		t0 := time.Now()
		if err := postAs(url+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": solo}, soloJWT); err != nil {
			joinErrs++
		} else {
			joins = append(joins, time.Since(t0))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return joins, joinErrs
}

// callerJWT signs a caller JWT with the role given.
func callerJWT(sub, role string) string {
	return signHS256("bench-secret-0123456789abcdef0123456789", map[string]any{"sub": sub, "role": role, "exp": time.Now().Add(time.Hour).Unix()})
}

// postAs sends body as JSON with a caller JWT.
func postAs(url string, body any, jwt string) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+jwt)
	return send(req)
}

// postJSON is postAs, decoding the answer into out.
func postJSON(url string, body any, jwt string, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+jwt)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
