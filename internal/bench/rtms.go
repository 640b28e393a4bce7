package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// The RTMS app the servers sign streams with.
const (
	benchRTMSClientID     = "bench-rtms-client-id"
	benchRTMSClientSecret = "bench-rtms-client-secret-0123456789"
)

// rtmsBench measures RTMS assignment (issue 26): workers (sockets with the
// worker role, each rtms:ready with capacity) take n streams, whose
// meeting.rtms_started webhooks (signed as Zoom signs them) are sent
// evenly within one second. The time is from sending a stream's webhook to
// its worker holding rtms:assign; each assign is acked at once, and each
// stream must be assigned exactly once (assigns are counted per stream id
// until 6 s after the last, past the 5 s ack timeout). On one instance
// twice (its default store, SQLite, and DATABASE_URL=memory), then on three sharing a redis-server: the
// webhooks to the first, worker i on instance i mod 3.
func rtmsBench(bin string, n, workers, capacity int, add func(result)) error {
	dir, err := os.MkdirTemp("", "benchrtms")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db := "sqlite:" + filepath.Join(dir, "c.db")
	if err := rtmsOneInstance(bin, db, "one instance (SQLite)", n, workers, capacity, add); err != nil {
		return fmt.Errorf("one instance: %w", err)
	}
	if err := rtmsOneInstance(bin, "memory", "one instance (memory)", n, workers, capacity, add); err != nil {
		return fmt.Errorf("one instance, memory: %w", err)
	}
	if err := rtmsThreeInstances(bin, n, workers, capacity, add); err != nil {
		return fmt.Errorf("three instances: %w", err)
	}
	return nil
}

// rtmsOneInstance runs the RTMS bench on one instance with the store db.
func rtmsOneInstance(bin, db, label string, n, workers, capacity int, add func(result)) error {
	_, srv, stop, err := harness(bin, sandbox.Options{}, append(rtmsEnv(), "DATABASE_URL="+db)...)
	if err != nil {
		return err
	}
	defer stop()
	return runRTMS([]string{srv.url}, n, workers, capacity, label, add)
}

// rtmsEnv is the servers' environment: webhooks, caller JWTs and an RTMS app.
func rtmsEnv() []string {
	return []string{"AUTH_JWT_SECRET=" + benchJWTSecret, "ZOOM_WEBHOOK_SECRETS=" + benchWebhookSecret,
		"ZOOM_RTMS_CLIENT_ID=" + benchRTMSClientID, "ZOOM_RTMS_CLIENT_SECRET=" + benchRTMSClientSecret}
}

func rtmsThreeInstances(bin string, n, workers, capacity int, add func(result)) error {
	redisURL, stopRedis, err := startRedisServer()
	if err != nil {
		return err
	}
	defer stopRedis()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()
	var urls []string
	for range 3 {
		s, err := startServer(bin, sb, append(rtmsEnv(), "REDIS_URL="+redisURL, "CLUSTER_SIZE=3", "DATABASE_URL=memory")...)
		if err != nil {
			return err
		}
		defer s.stop()
		urls = append(urls, s.url)
	}
	return runRTMS(urls, n, workers, capacity, "3 instances on Redis", add)
}

// rtmsAssign is one rtms:assign a worker received.
type rtmsAssign struct {
	stream string
	worker int
	at     time.Time
}

// runRTMS connects the workers (worker i on urls[i mod len]), sends the n
// webhooks to urls[0], collects the assigns and reports.
func runRTMS(urls []string, n, workers, capacity int, label string, add func(result)) error {
	ws, err := rtmsWorkers(urls, workers, capacity)
	defer closeClients(ws)
	if err != nil {
		return err
	}
	m0 := rtmsMetricsOf(urls)
	got := make(chan rtmsAssign, 4*n)
	stopTaking := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range ws {
		wg.Go(func() { takeAssigns(c, i, got, stopTaking) })
	}
	sent, refused := sendRTMSStarted(urls[0], n)
	assigns := collectAssigns(got, n)
	close(stopTaking)
	wg.Wait()
	m := rtmsMetricsOf(urls)
	return reportRTMS(rtmsRun{label: label, n: n, workers: workers, capacity: capacity, sent: sent, refused: refused,
		assigns: assigns, server: m.since(m0)}, add)
}

// rtmsWorkers connects the workers, each a caller of its own with the
// worker role, and sends rtms:ready {capacity}.
func rtmsWorkers(urls []string, workers, capacity int) ([]*rawclient.Client, error) {
	ws := make([]*rawclient.Client, workers)
	for i := range ws {
		c, _, err := participant(urls[i%len(urls)], callerJWT(fmt.Sprintf("worker-%02d", i), "worker"))
		if err != nil {
			return ws, err
		}
		ws[i] = c
		args, err := c.EmitAck("rtms:ready", map[string]any{"capacity": capacity}, 10*time.Second)
		if err != nil || len(args) == 0 || !strings.Contains(string(args[0]), `"success":true`) {
			return ws, fmt.Errorf("rtms:ready of worker %d: %v %s", i, err, args)
		}
	}
	time.Sleep(500 * time.Millisecond) // the instances settle
	return ws, nil
}

// takeAssigns acks each rtms:assign worker i receives at once and passes
// it on, until stop.
func takeAssigns(c *rawclient.Client, i int, got chan<- rtmsAssign, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		e, ok := c.WaitEvent("rtms:assign", 100*time.Millisecond)
		if !ok {
			continue
		}
		c.Ack(e.AckID, map[string]any{"ok": true})
		var body struct {
			StreamID string `json:"streamId"`
		}
		if len(e.Args) > 0 {
			_ = json.Unmarshal(e.Args[0], &body)
		}
		got <- rtmsAssign{stream: body.StreamID, worker: i, at: e.At}
	}
}

// rtmsStreamOf is stream i's id.
func rtmsStreamOf(i int) string { return fmt.Sprintf("bench-rtms-stream-%04d", i) }

// sendRTMSStarted sends stream i's signed meeting.rtms_started to base,
// the n evenly within one second, each from a goroutine of its own; it
// answers when each was sent and how many were not accepted.
func sendRTMSStarted(base string, n int) (map[string]time.Time, int) {
	sent := make(map[string]time.Time, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	refused := 0
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(n))); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			id := rtmsStreamOf(i)
			body := fmt.Sprintf(`{"event":"meeting.rtms_started","event_ts":%d,"payload":{"meeting_uuid":"bench/uuid+%04d==","rtms_stream_id":%q,"server_urls":"wss://rtms.example/s%04d","operator_id":"op"}}`,
				time.Now().UnixMilli(), i, id, i)
			at := time.Now()
			ok := postZoomWebhook(base, body) == nil
			mu.Lock()
			defer mu.Unlock()
			sent[id] = at
			if !ok {
				refused++
			}
		})
	}
	wg.Wait()
	return sent, refused
}

// postZoomWebhook posts body to base's webhook endpoint, signed as Zoom
// signs (x-zm-signature: v0= hex HMAC-SHA256 of "v0:<ts>:<body>"); any
// answer but 200 {status: accepted} is an error.
func postZoomWebhook(base, body string) error {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(benchWebhookSecret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	req, _ := http.NewRequest("POST", base+"/api/webhooks/zoom", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-zm-request-timestamp", ts)
	req.Header.Set("x-zm-signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	var answer struct {
		Status string `json:"status"`
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode != 200 || answer.Status != "accepted" {
		return fmt.Errorf("webhook: HTTP %d, status %q", resp.StatusCode, answer.Status)
	}
	return nil
}

// collectAssigns gathers the assigns until n distinct streams are in (60 s
// at most), then 6 s more: a second assign of a stream would come by then.
func collectAssigns(got <-chan rtmsAssign, n int) []rtmsAssign {
	var all []rtmsAssign
	seen := map[string]bool{}
	deadline := time.After(60 * time.Second)
	var after <-chan time.Time
	for {
		select {
		case a := <-got:
			all = append(all, a)
			seen[a.stream] = true
			if len(seen) == n && after == nil {
				after = time.After(6 * time.Second)
			}
		case <-after:
			return all
		case <-deadline:
			return all
		}
	}
}

// rtmsRun is one configuration's outcome.
type rtmsRun struct {
	label                string
	n, workers, capacity int
	sent                 map[string]time.Time
	refused              int
	assigns              []rtmsAssign
	server               string
}

// reportRTMS adds the rows of one configuration: every stream assigned
// exactly once, the latency, and the spread over workers.
func reportRTMS(r rtmsRun, add func(result)) error {
	perStream := map[string]int{}
	perWorker := make([]int, r.workers)
	var lat []time.Duration
	for _, a := range r.assigns {
		perStream[a.stream]++
		perWorker[a.worker]++
		if s, ok := r.sent[a.stream]; ok && perStream[a.stream] == 1 {
			lat = append(lat, a.at.Sub(s))
		}
	}
	once, twice := 0, 0
	for id := range r.sent {
		switch c := perStream[id]; {
		case c == 1:
			once++
		case c > 1:
			twice++
		}
	}
	lo, hi := minMax(perWorker)
	add(result{name: fmt.Sprintf("RTMS, %s: %d streams (webhooks within 1 s) over %d workers of capacity %d", r.label, r.n, r.workers, r.capacity),
		value: fmt.Sprintf("%d assigned exactly once, %d more than once, %d never; %d webhooks not accepted; per worker %d to %d",
			once, twice, r.n-once-twice, r.refused, lo, hi),
		target: "every one exactly once"})
	add(result{name: fmt.Sprintf("RTMS, %s: webhook sent → worker holds rtms:assign", r.label),
		value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (server's own, rtms_started → ack: %s)",
			ms(pct(lat, .5)), ms(pct(lat, .99)), ms(pct(lat, 1)), r.server)})
	if once != r.n {
		return fmt.Errorf("%d of %d streams assigned exactly once (%d more than once)", once, r.n, twice)
	}
	return nil
}

func minMax(v []int) (lo, hi int) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi = v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// rtmsMetrics is the servers' own figures summed over the instances: the
// assignment histogram's sum and count, and the reassignments.
type rtmsMetrics struct{ sum, count, reassigned float64 }

func rtmsMetricsOf(urls []string) rtmsMetrics {
	var m rtmsMetrics
	for _, u := range urls {
		body, err := getText(u + "/metrics")
		if err != nil {
			continue
		}
		m.sum += metricSample(body, "rtms_assignment_seconds_sum")
		m.count += metricSample(body, "rtms_assignment_seconds_count")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "rtms_reassignments_total{"); ok {
				var f float64
				_, _ = fmt.Sscan(v[strings.Index(v, "}")+1:], &f)
				m.reassigned += f
			}
		}
	}
	return m
}

// since describes the assignments after m0: their mean and the reassignments.
func (m rtmsMetrics) since(m0 rtmsMetrics) string {
	n := m.count - m0.count
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("mean %.1f ms over %.0f; %.0f reassigned", (m.sum-m0.sum)/n*1000, n, m.reassigned-m0.reassigned)
}
