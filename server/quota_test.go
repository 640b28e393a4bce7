package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

func participants(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p%04d@example.com", i)
	}
	return ids
}

// everyoneOnce checks each asked user appears exactly once in the answer.
func everyoneOnce(t *testing.T, asked []string, ok, failed []any) {
	t.Helper()
	seen := map[string]int{}
	for _, list := range [][]any{ok, failed} {
		for _, e := range list {
			seen[str(e.(map[string]any)["userId"])]++
		}
	}
	for _, id := range asked {
		if seen[id] != 1 {
			t.Fatalf("%s is answered %d times", id, seen[id])
		}
	}
	if len(seen) != len(asked) {
		t.Fatalf("%d users answered, %d asked", len(seen), len(asked))
	}
}

func TestBatchOf1000UnderZoomRateLimit(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{QPS: 100})
	env := zoomEnv(sb)
	env["ZOOM_QPS"], env["BATCH_MAX"] = "100", "1000"
	ts := startServer(t, sb, env)
	ids := participants(1000)
	start := time.Now()
	r := ts.do("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ids}, adminKey)
	took := time.Since(start)
	if r.Status != 200 {
		t.Fatalf("batch = %d %.300s", r.Status, r.Raw)
	}
	ok := field(r.Body, "results", "successful").([]any)
	failed := field(r.Body, "results", "failed").([]any)
	everyoneOnce(t, ids, ok, failed)
	if len(ok) != 1000 {
		t.Fatalf("%d of 1000 tokens, failed: %.300v", len(ok), failed)
	}
	st := sb.Stats()
	if st.Minted != 1000 {
		t.Fatalf("sandbox minted %d tokens for 1000 users", st.Minted)
	}
	t.Logf("1000 OBFs at ZOOM_QPS=100 against a 100 QPS sandbox: %v, %d 429s absorbed", took.Round(time.Millisecond), st.Throttled)
	if st.Throttled > 50 {
		t.Errorf("%d 429s: the limiter is not pacing calls to the quota", st.Throttled)
	}
}

func TestOutageMidBatchGivesPerUserFailures(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_QPS"] = "50"
	ts := startServer(t, sb, env)
	ids := participants(150)
	go func() {
		time.Sleep(time.Second)
		sb.SetOutage(sandbox.OutageAll)
	}()
	r := ts.do("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ids}, adminKey)
	if r.Status != 200 {
		t.Fatalf("batch = %d %.300s", r.Status, r.Raw)
	}
	ok := field(r.Body, "results", "successful").([]any)
	failed := field(r.Body, "results", "failed").([]any)
	everyoneOnce(t, ids, ok, failed)
	if len(ok) == 0 || len(failed) == 0 {
		t.Fatalf("outage mid-batch: %d ok, %d failed", len(ok), len(failed))
	}
	for _, f := range failed {
		m := f.(map[string]any)
		if m["code"] != "zoom_unavailable" || m["error"] == "" {
			t.Fatalf("failure = %v", m)
		}
	}
	if int64(len(ok)) != sb.Stats().Minted {
		t.Fatalf("%d tokens answered, %d minted", len(ok), sb.Stats().Minted)
	}
	// Once Zoom is back, calls succeed again within the breaker's pause (5 s).
	sb.SetOutage(sandbox.OutageNone)
	deadline := time.Now().Add(7 * time.Second)
	for {
		j := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "back@example.com"}, adminKey)
		if j.Status == 200 {
			break
		}
		if j.Body["code"] != "zoom_unavailable" || j.Header.Get("Retry-After") == "" || time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %s", j.Status, j.Raw)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r = ts.do("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ids[:20]}, adminKey)
	if n := len(field(r.Body, "results", "successful").([]any)); n != 20 {
		t.Fatalf("after the outage: %d of 20", n)
	}
}

func TestPerSecond429BurstIsAbsorbed(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{QPS: 10})
	env := zoomEnv(sb)
	env["ZOOM_QPS"] = "1000" // misconfigured above the account's quota
	ts := startServer(t, sb, env)
	ts.do("GET", "/api/health", nil, nil)
	const n = 40
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": fmt.Sprintf("u%d@example.com", i)}, adminKey)
			statuses[i] = r.Status
		}(i)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	if st := sb.Stats(); st.Throttled == 0 || st.Minted != n {
		t.Fatalf("throttled %d, minted %d: the burst was not exercised or not absorbed", st.Throttled, st.Minted)
	}
}

func TestZoom5xxAreRetried(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	ts.do("GET", "/api/health", nil, nil)
	sb.FailNext(3, http.StatusServiceUnavailable)
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	if r.Status != 200 || sb.Stats().APICalls != 4 {
		t.Fatalf("after three 503s: %d, %d calls", r.Status, sb.Stats().APICalls)
	}
	sb.FailNext(1000, http.StatusInternalServerError)
	r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	if r.Status != 503 || r.Body["code"] != "zoom_unavailable" {
		t.Fatalf("persistent 500s: %d %s", r.Status, r.Raw)
	}
	if calls := sb.Stats().APICalls; calls != 4+4 {
		t.Fatalf("retries are not bounded: %d calls", calls-4)
	}
}

// The SANDBOX_* variables set the sandbox's faults in sandbox mode.
func TestSandboxVariables(t *testing.T) {
	pat := func(ts *testServer) reply {
		tok := ts.do("POST", "/sandbox/tokens", map[string]any{"sub": "pat@example.com"}, nil)
		h := map[string]string{"Authorization": "Bearer " + str(tok.Body["token"])}
		return ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, h)
	}
	for _, c := range []struct {
		name   string
		env    map[string]string
		status int
		code   string
	}{
		{"outage", map[string]string{"SANDBOX_OUTAGE": "api"}, 503, "zoom_unavailable"},
		{"oauth outage", map[string]string{"SANDBOX_OUTAGE": "oauth"}, 503, "zoom_unavailable"},
		{"error rate 1", map[string]string{"SANDBOX_ERROR_RATE": "1"}, 503, "zoom_unavailable"},
		{"daily limit 0 calls left", map[string]string{"SANDBOX_DAILY_LIMIT": "1"}, 200, ""},
		{"latency", map[string]string{"SANDBOX_LATENCY": "300ms"}, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := sandboxEnv()
			for k, v := range c.env {
				env[k] = v
			}
			ts := startServer(t, nil, env)
			start := time.Now()
			r := pat(ts)
			if r.Status != c.status || (c.code != "" && r.Body["code"] != c.code) {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			switch c.name {
			case "latency":
				if time.Since(start) < 300*time.Millisecond {
					t.Fatal("SANDBOX_LATENCY had no effect")
				}
			case "daily limit 0 calls left":
				if r := pat(ts); r.Status != 503 || r.Body["code"] != "zoom_rate_limited" || r.Header.Get("Retry-After") == "" {
					t.Fatalf("second call = %d %s", r.Status, r.Raw)
				}
			}
		})
	}
}

func TestConcurrentBatchesPerCallerAreCapped(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Latency: 200 * time.Millisecond})
	env := zoomEnv(sb)
	env["ZOOM_QPS"] = "20"
	ts := startServer(t, sb, env)
	host := bearer(t, "host@example.com", "host")
	body := map[string]any{"meetingId": meeting, "participantUserIds": participants(10)}
	var wg sync.WaitGroup
	statuses := make(chan reply, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond) // the third starts while two run
			statuses <- ts.do("POST", "/api/meetings/batch-join", body, host)
		}(i)
	}
	wg.Wait()
	close(statuses)
	var ok, limited int
	for r := range statuses {
		switch {
		case r.Status == 200:
			ok++
		case r.Status == 429 && r.Body["code"] == "rate_limited" && r.Header.Get("Retry-After") != "":
			limited++
		default:
			t.Fatalf("unexpected: %d %s", r.Status, r.Raw)
		}
	}
	if ok != 2 || limited != 1 {
		t.Fatalf("%d ran, %d refused; want 2 and 1", ok, limited)
	}
	// Once its batches finish, the host may batch again.
	if r := ts.do("POST", "/api/meetings/batch-join", body, host); r.Status != 200 {
		t.Fatalf("after the batches: %d %s", r.Status, r.Raw)
	}
}
