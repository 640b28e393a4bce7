package redis

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

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

func open(t *testing.T, url string) (*Redis, *testinfra.Backends, *logBuf) {
	t.Helper()
	st, logs := &testinfra.Backends{}, &logBuf{}
	r, err := Open(context.Background(), secret.New(url), slog.New(slog.NewTextHandler(logs, nil)), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, st, logs
}

// Two instances share one pace per Zoom account: a moment one books is
// gone for the other, who books the next; a wait longer than the caller
// accepts books nothing; another account's pace is its own.
func TestQuotaPaceIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _, _ := open(t, srv.URL())
	rb, _, _ := open(t, srv.URL())
	const qps = 0.1 // one call per 10 s: nothing on this machine is that slow
	a, b := NewQuota(ra, qps, 2, nil), NewQuota(rb, qps, 2, nil)
	ctx := context.Background()
	gap := time.Duration(float64(10*time.Second) * paceMargin) // between two moments
	if d, ok, err := a.Reserve(ctx, "acct1", 0); err != nil || !ok || d != 0 {
		t.Fatalf("first: %v %v %v; want the moment now", d, ok, err)
	}
	if d, ok, err := b.Reserve(ctx, "acct1", time.Second); err != nil || ok || d <= gap-time.Second || d > gap {
		t.Fatalf("the other instance, accepting 1 s: %v %v %v; want refused, the next moment %v off", d, ok, err, gap)
	}
	if d, ok, err := b.Reserve(ctx, "acct1", -1); err != nil || !ok || d <= gap-time.Second || d > gap {
		t.Fatalf("the other instance, any wait: %v %v %v; want the moment %v off (the refusal booked nothing)", d, ok, err, gap)
	}
	if d, ok, err := a.Reserve(ctx, "acct1", time.Minute); err != nil || !ok || d <= 2*gap-time.Second || d > 2*gap {
		t.Fatalf("the third: %v %v %v; want the moment %v off", d, ok, err, 2*gap)
	}
	if d, ok, err := b.Reserve(ctx, "acct2", 0); err != nil || !ok || d != 0 {
		t.Fatalf("another account: %v %v %v", d, ok, err)
	}
	ttl, err := ra.Client().PTTL(ctx, paceKey("acct1")).Result()
	if err != nil || ttl <= 2*gap || ttl > 3*gap+time.Second {
		t.Fatalf("the schedule's expiry: %v, %v; want a second past its last moment", ttl, err)
	}
}

// Many callers on three instances at once, at 50 calls a second: the
// moments they book are 20 ms apart, one each, none shared (what makes
// a batch split over instances finish at the quota's pace, none lost).
func TestQuotaBooksDistinctMoments(t *testing.T) {
	srv := testinfra.StartRedis(t)
	var qs []*Quota
	for range 3 {
		r, _, _ := open(t, srv.URL())
		qs = append(qs, NewQuota(r, 50, 3, nil))
	}
	ctx := context.Background()
	const n = 90
	waits := make(chan time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, ok, err := qs[i%3].Reserve(ctx, "acct1", -1)
			if err != nil || !ok {
				t.Errorf("reserve: %v %v", ok, err)
			}
			waits <- d
		}()
	}
	wg.Wait()
	close(waits)
	var got []time.Duration
	for d := range waits {
		got = append(got, d)
	}
	slices.Sort(got)
	// Each booked moment is 20 ms after the one before; the waits were
	// measured at slightly different times, so neighbours differ by 20 ms
	// less the time between their calls (under a few ms here, but the
	// machine is shared: only say they are distinct and spread).
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] && got[i] != 0 {
			t.Fatalf("two calls booked the same moment: %v", got)
		}
	}
	if last := got[len(got)-1]; last < time.Duration(n-1)*20*time.Millisecond-time.Second {
		t.Fatalf("the last of %d calls waits %v; want about %v (one moment each)", n, last, time.Duration(n-1)*20*time.Millisecond)
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
	if up, _ := st.Last(); !up || r.State() != "ok" {
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
		var ok1, ok2 bool
		first, ok1, err1 = q.Reserve(ctx, "acct1", -1)
		second, ok2, err2 = q.Reserve(ctx, "acct1", -1)
		if !ok1 || !ok2 {
			err1 = errors.New("a moment was refused with no bound")
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Reserve hangs while Redis is down")
	}
	if err1 != nil || err2 != nil || first != 0 || second < 5*time.Second || second > 10*time.Second {
		t.Fatalf("alone: %v %v, %v %v; want a slot, then a wait of about 10 s (0.2/2 per second)", first, err1, second, err2)
	}
	if r.State() != "degraded" {
		t.Fatalf("state with Redis down: %s", r.State())
	}
	if up, _ := st.Last(); up {
		t.Fatal("the observer was not told Redis is down")
	}
	// The daily mark this instance met stays known.
	if q.DailyUntil(ctx, "account:acct1").IsZero() {
		t.Fatal("the daily mark is forgotten while Redis is down")
	}

	srv.Restart()
	testinfra.WaitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	if up, _ := st.Last(); !up {
		t.Fatal("the observer was not told Redis is back")
	}
	// A fresh Redis knows no pace: the shared limiter, not the local one
	// (which would make this call wait 10 s), answers.
	if d, ok, err := q.Reserve(ctx, "acct1", 0); err != nil || !ok || d != 0 {
		t.Fatalf("after recovery: %v %v %v", d, ok, err)
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
	testinfra.WaitFor(t, "Redis used once it answers", func() bool { return r.State() == "ok" })
}

func TestOpenRefusesABadURLWithoutQuotingIt(t *testing.T) {
	_, err := Open(context.Background(), secret.New("redis://:hunter22@host:port/x"), nil, nil)
	if err == nil || strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("bad URL: %v", err)
	}
}

// A Redis that answers but refuses writes (maxmemory reached, noeviction)
// cannot hold the shared state: it is not used, and not taken up and
// dropped again at each probe; once it takes writes again, it is used.
func TestRedisThatRefusesWritesStaysDegraded(t *testing.T) {
	srv := testinfra.StartRedis(t)
	admin, _, _ := open(t, srv.URL())
	ctx := context.Background()
	if err := admin.Client().ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Client().ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	r, st, _ := open(t, srv.URL())
	q := NewQuota(r, 1000, 1, nil)
	for range 30 { // three probes' worth
		if _, _, err := q.Reserve(ctx, "acct1", -1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := st.All()
	if slices.Contains(seen, true) || r.State() != "degraded" {
		t.Fatalf("a Redis refusing writes was used (states told: %v, now %s)", seen, r.State())
	}
	if err := admin.Client().ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	testinfra.WaitFor(t, "used once it takes writes", func() bool { return r.State() == "ok" })
}

// A Redis that hangs: the call that met its timeout marks it degraded at
// once (the next calls do not wait their half second too), though the
// call's own context, derived for that timeout, ended with it.
func TestRedisThatHangsIsDegradedByTheCallThatWaited(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _, _ := open(t, srv.URL())
	ctx := context.Background()
	for round := range 3 {
		srv.Freeze()
		if _, ok := r.FirstSeen(ctx, "tokenserver:test:seen", time.Minute); ok {
			srv.Thaw()
			t.Fatal("a frozen Redis answered")
		}
		up := r.Up()
		srv.Thaw()
		if up {
			t.Fatalf("round %d: still up right after a call timed out on it", round)
		}
		testinfra.WaitFor(t, "used again once thawed", func() bool { return r.State() == "ok" })
	}
}
