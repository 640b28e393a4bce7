package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
	"github.com/zoomtoken/tokenserver/secret"
)

// states records what the observer was told.
type states struct {
	mu  sync.Mutex
	got []bool
}

func (s *states) Backend(name string, up bool) {
	s.mu.Lock()
	s.got = append(s.got, up)
	s.mu.Unlock()
}

func (s *states) last() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return false, 0
	}
	return s.got[len(s.got)-1], len(s.got)
}

// logBuf collects log lines.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func open(t *testing.T, url string) (*Redis, *states, *logBuf) {
	t.Helper()
	st, logs := &states{}, &logBuf{}
	r, err := Open(context.Background(), secret.New(url), slog.New(slog.NewTextHandler(logs, nil)), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, st, logs
}

// waitFor polls cond until it holds, failing after a generous while (the
// state changes by itself, at the probe's pace).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two instances share one pace per Zoom account: a slot one takes is gone
// for the other; another account's pace is its own.
func TestQuotaPaceIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _, _ := open(t, srv.URL())
	rb, _, _ := open(t, srv.URL())
	const qps = 0.1 // one call per 10 s: nothing on this machine is that slow
	a, b := NewQuota(ra, qps, 2, nil), NewQuota(rb, qps, 2, nil)
	ctx := context.Background()
	if d, err := a.Take(ctx, "acct1"); err != nil || d != 0 {
		t.Fatalf("first take: %v, %v", d, err)
	}
	d, err := b.Take(ctx, "acct1")
	if err != nil || d <= 0 || d > 10*time.Second {
		t.Fatalf("the other instance's take right after: %v, %v; want a wait of up to 10 s", d, err)
	}
	if d, err := b.Take(ctx, "acct2"); err != nil || d != 0 {
		t.Fatalf("another account: %v, %v", d, err)
	}
	if d, err := a.Take(ctx, "acct2"); err != nil || d <= 0 {
		t.Fatalf("acct2 again from a: %v, %v", d, err)
	}
}

// A daily quota one instance met is spent for the others, and the mark
// goes when the quota is back.
func TestQuotaDailyMarkIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _, _ := open(t, srv.URL())
	rb, _, _ := open(t, srv.URL())
	a, b := NewQuota(ra, 10, 2, nil), NewQuota(rb, 10, 2, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Hour).Round(0)
	if got := b.DailyUntil(ctx, "account:acct1"); !got.IsZero() {
		t.Fatalf("unmarked: %v", got)
	}
	a.MarkDaily(ctx, "account:acct1", until)
	if got := b.DailyUntil(ctx, "account:acct1"); !got.Equal(until) {
		t.Fatalf("b sees %v, want %v", got, until)
	}
	if got := b.DailyUntil(ctx, "user:ann@example.com"); !got.IsZero() {
		t.Fatalf("another key: %v", got)
	}
	ttl, err := ra.Client().PTTL(ctx, dailyKey("account:acct1")).Result()
	if err != nil || ttl <= time.Hour-time.Minute || ttl > time.Hour+time.Minute {
		t.Fatalf("the mark's expiry: %v, %v; want about an hour and a minute", ttl, err)
	}
}

// Redis stopped: Take answers at once from this instance's share
// (ZOOM_QPS / CLUSTER_SIZE), the state says degraded, the observer is told;
// Redis back: the instance uses it again by itself.
func TestQuotaFallsBackAndRecovers(t *testing.T) {
	srv := testinfra.StartRedisWithPassword(t, "s3cret-redis-pass")
	r, st, logs := open(t, srv.URL())
	if up, _ := st.last(); !up || r.State() != "ok" {
		t.Fatalf("at start: %v %s", up, r.State())
	}
	// 0.2 calls/s shared by 2 instances: 0.1/s each (10 s apart) alone.
	q := NewQuota(r, 0.2, 2, nil)
	ctx := context.Background()
	q.MarkDaily(ctx, "account:acct1", time.Now().Add(time.Hour))

	srv.Stop()
	done := make(chan struct{})
	var first, second time.Duration
	var err1, err2 error
	go func() {
		defer close(done)
		first, err1 = q.Take(ctx, "acct1")
		second, err2 = q.Take(ctx, "acct1")
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Take hangs while Redis is down")
	}
	if err1 != nil || err2 != nil || first != 0 || second < 5*time.Second || second > 10*time.Second {
		t.Fatalf("alone: %v %v, %v %v; want a slot, then a wait of about 10 s (0.2/2 per second)", first, err1, second, err2)
	}
	if r.State() != "degraded" {
		t.Fatalf("state with Redis down: %s", r.State())
	}
	if up, _ := st.last(); up {
		t.Fatal("the observer was not told Redis is down")
	}
	// The daily mark this instance met stays known.
	if q.DailyUntil(ctx, "account:acct1").IsZero() {
		t.Fatal("the daily mark is forgotten while Redis is down")
	}

	srv.Restart()
	waitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	if up, _ := st.last(); !up {
		t.Fatal("the observer was not told Redis is back")
	}
	// A fresh Redis knows no pace: the shared limiter, not the local one
	// (which would make this call wait 10 s), answers.
	if d, err := q.Take(ctx, "acct1"); err != nil || d != 0 {
		t.Fatalf("after recovery: %v, %v", d, err)
	}
	if strings.Contains(logs.String(), "s3cret-redis-pass") {
		t.Fatal("the Redis password is in the logs")
	}
	if !strings.Contains(logs.String(), "working alone") || !strings.Contains(logs.String(), "answers again") {
		t.Fatalf("the logs do not say what happened:\n%s", logs)
	}
}

// A Redis that is not there at start: the instance starts degraded, and
// uses Redis once it answers.
func TestOpenWithRedisDown(t *testing.T) {
	srv := testinfra.StartRedis(t)
	srv.Stop()
	r, _, _ := open(t, srv.URL())
	if r.State() != "degraded" {
		t.Fatalf("state: %s", r.State())
	}
	srv.Restart()
	waitFor(t, "Redis used once it answers", func() bool { return r.State() == "ok" })
}

func TestOpenRefusesABadURLWithoutQuotingIt(t *testing.T) {
	_, err := Open(context.Background(), secret.New("redis://:hunter22@host:port/x"), nil, nil)
	if err == nil || strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("bad URL: %v", err)
	}
}
