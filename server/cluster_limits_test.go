package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Per-caller limits, batch slots and the failed-authentication guard of two
// instances sharing one Redis, over real HTTP.

// retryAfter is a reply's Retry-After in seconds, -1 when absent or not a
// number.
func retryAfter(r reply) int {
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil {
		return -1
	}
	return n
}

// A caller that spends its burst on one instance is refused on the other,
// with a Retry-After; another caller is not. An address that fails to
// authenticate on one instance is refused on the other, even with a valid
// credential.
func TestClusterCallerLimitsAndAuthGuardAreShared(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	env := redisEnv(sb, rs.URL(), "10000", 2)
	// A spent request comes back after 10 s, longer than this test takes.
	env["CALLER_RPS"], env["CALLER_BURST"], env["AUTH_FAILURES_PER_MINUTE"] = "0.1", "3", "2"
	a := startServer(t, sb, env)
	b := startServer(t, sb, env)
	body := map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}
	pat := bearer(t, "pat@example.com", "")
	for i := range 3 {
		if r := a.do("POST", "/api/meetings/join", body, pat); r.Status != 200 {
			t.Fatalf("request %d of the burst on a = %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := b.do("POST", "/api/meetings/join", body, pat)
	if r.Status != 429 || r.Body["code"] != "rate_limited" || retryAfter(r) < 1 || retryAfter(r) > 10 ||
		!strings.Contains(str(r.Body["error"]), "each caller") {
		t.Fatalf("on b after the burst was spent on a = %d %s (Retry-After %q)", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	other := map[string]any{"meetingId": meeting, "participantUserId": "x@example.com"}
	if r := b.do("POST", "/api/meetings/join", other, bearer(t, "x@example.com", "")); r.Status != 200 {
		t.Fatalf("another caller on b = %d %s", r.Status, r.Raw)
	}

	bad := map[string]string{"X-API-Key": "not-a-key-of-this-server-0000"}
	for range 2 {
		if r := a.do("POST", "/api/meetings/join", body, bad); r.Status != 401 {
			t.Fatalf("a bad key on a = %d %s", r.Status, r.Raw)
		}
	}
	r = b.do("POST", "/api/meetings/join", other, bearer(t, "x@example.com", ""))
	if r.Status != 429 || r.Body["code"] != "rate_limited" || retryAfter(r) < 1 ||
		!strings.Contains(str(r.Body["error"]), "failed authentication") {
		t.Fatalf("a valid credential on b from the address that failed twice on a = %d %s", r.Status, r.Raw)
	}
	if h := b.do("GET", "/api/health", nil, nil); field(h.Body, "cluster", "redis") != "ok" {
		t.Fatalf("health = %d %s", h.Status, h.Raw)
	}
}

// batchSlotsKey is where the cluster keeps a caller's running batches
// (cluster/slots.go), read here to know when the batches run.
func batchSlotsKey(rateKey string) string { return "tokenserver:batches:" + rateKey }

// startBatch posts a batch-join to ts that runs until ctx ends, and
// answers its status (0 when the request was cut).
func startBatch(ctx context.Context, ts *testServer, body any, headers map[string]string) int {
	buf, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/meetings/batch-join", bytes.NewReader(buf))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Two batches of one caller running on one instance leave none to start on
// the other: the third gets the cap's error (as one instance gives it).
// Once they end, the other instance runs it. Redis down: each instance
// counts its own.
func TestClusterBatchSlotsAreShared(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	a := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 2))
	b := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 2))
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { rdb.Close() })
	host := bearer(t, "host@example.com", "host")
	batch := map[string]any{"meetingId": meeting, "participantUserIds": participants(3)}
	for _, ts := range []*testServer{a, b} { // each instance holds its S2S token before Zoom slows down
		wantJoin(t, ts.join(t, "bob@example.com"), "account")
	}

	sb.SetLatency(time.Hour) // the batches on a run until their requests are cut
	ctx, cut := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { startBatch(ctx, a, batch, host) })
	}
	defer func() { cut(); wg.Wait() }()
	key := batchSlotsKey("sub:host@example.com")
	waitUntil(t, "two batches run on a", func() bool { return rdb.ZCard(context.Background(), key).Val() == 2 })

	r := b.do("POST", "/api/meetings/batch-join", batch, host)
	if r.Status != 429 || r.Body["code"] != "rate_limited" || retryAfter(r) < 1 ||
		str(r.Body["error"]) != "You already have 2 batches in progress; wait for one to finish." {
		t.Fatalf("a third batch on b while two run on a = %d %s", r.Status, r.Raw)
	}
	cut() // the batches on a end, and free their slots
	wg.Wait()
	sb.SetLatency(0)
	waitUntil(t, "a's slots free", func() bool { return rdb.Exists(context.Background(), key).Val() == 0 })
	if r := b.do("POST", "/api/meetings/batch-join", batch, host); r.Status != 200 {
		t.Fatalf("the batch on b once a's ended = %d %s", r.Status, r.Raw)
	}

	rs.Stop()
	if r := b.do("POST", "/api/meetings/batch-join", batch, host); r.Status != 200 {
		t.Fatalf("a batch with Redis down = %d %s", r.Status, r.Raw)
	}
	if h := b.do("GET", "/api/health", nil, nil); h.Status != 200 || field(h.Body, "cluster", "redis") != "degraded" {
		t.Fatalf("health with Redis down = %d %s", h.Status, h.Raw)
	}
}
