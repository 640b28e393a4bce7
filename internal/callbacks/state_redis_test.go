package callbacks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/redis/redistest"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

func TestRedisStateContract(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	stateContract(t, NewRedisState(r, nil))
}

// Two instances share callback URLs' state: a revocation made on one is
// seen by the other; a single-use URL is spent once across both, even when
// they race; giving it back makes it usable again, a revocation stays.
func TestRedisStateIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	a, b := NewRedisState(ra, nil), NewRedisState(rb, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Minute)

	if u, err := b.Use(ctx, "rev1", false, until); err != nil || u != UseOK {
		t.Fatalf("use before revoke = %v %v", u, err)
	}
	if err := a.Revoke(ctx, "rev1", until); err != nil {
		t.Fatal(err)
	}
	if u, err := b.Use(ctx, "rev1", false, until); err != nil || u != UseRevoked {
		t.Fatalf("use on B of a URL revoked on A = %v %v", u, err)
	}

	// Race: 20 uses of one single-use URL on two instances, at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[Use]int{}
	start := make(chan struct{})
	for i := range 20 {
		s := []*RedisState{a, b}[i%2]
		wg.Go(func() {
			<-start
			u, err := s.Use(ctx, "once1", true, until)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got[u]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if got[UseOK] != 1 || got[UseSpent] != 19 {
		t.Fatalf("20 racing uses of a single-use URL: %v; want 1 OK and 19 spent", got)
	}
	if err := b.Unspend(ctx, "once1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.Use(ctx, "once1", true, until); u != UseOK {
		t.Fatalf("use after unspend = %v", u)
	}
	if u, _ := a.Use(ctx, "once1", true, until); u != UseSpent {
		t.Fatalf("second use after unspend = %v", u)
	}
	// A revoked single-use URL stays revoked after an unspend.
	if err := a.Revoke(ctx, "once1", until); err != nil {
		t.Fatal(err)
	}
	_ = b.Unspend(ctx, "once1")
	if u, _ := b.Use(ctx, "once1", true, until); u != UseRevoked {
		t.Fatalf("revoked, then unspent = %v", u)
	}
}

// Keys are named by the URL's id only and live until the URL expires (on
// the injected clock); a later revocation never shortens one.
func TestRedisStateKeysAndExpiry(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewRedisState(r, func() time.Time { return now })
	ctx := context.Background()
	if err := s.Revoke(ctx, "id-A", now.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "id-A", now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Use(ctx, "id-B", true, now.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{"tokenserver:callback:revoked:id-A": 90 * time.Second,
		"tokenserver:callback:spent:id-B": 30 * time.Second} {
		left, err := r.Client().PTTL(ctx, key).Result()
		if err != nil || left > want || left < want-5*time.Second {
			t.Fatalf("%s lives %v (%v); want about %v", key, left, err, want)
		}
	}
	keys, err := r.Client().Keys(ctx, "tokenserver:callback:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v %v", keys, err)
	}
	// A URL past its expiry still gets a key for a second (never none).
	if _, err := s.Use(ctx, "id-C", true, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if left, _ := r.Client().PTTL(ctx, "tokenserver:callback:spent:id-C").Result(); left <= 0 || left > time.Second {
		t.Fatalf("key of an expired URL lives %v", left)
	}
}

// storeRefusal reports whether err is the refusal of a state that cannot
// be used: 503 store_unavailable, with Retry-After.
func storeRefusal(err error) bool {
	e, ok := apperr.As(err)
	return ok && apperr.Code(err) == apperr.CodeStoreUnavailable && e.RetryAfter == unavailableRetry
}

// Redis down: every call fails closed (store_unavailable), at once, with
// the one sentence; the failure sets Redis aside (its observer is told).
func TestRedisStateFailsClosed(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, backends := redistest.Open(t, srv.URL())
	s := NewRedisState(r, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	if err := s.Revoke(ctx, "x", until); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// The first call sees Redis fail; later ones do not try until it answers.
	for i := range 3 {
		if u, err := s.Use(ctx, "x", false, until); !storeRefusal(err) || !errors.Is(err, errRedisDown) || u != UseOK {
			t.Fatalf("use %d with Redis down = %v %v", i, u, err)
		}
	}
	if err := s.Revoke(ctx, "y", until); !storeRefusal(err) {
		t.Fatalf("revoke with Redis down = %v", err)
	}
	err := s.Unspend(ctx, "y")
	if !storeRefusal(err) {
		t.Fatalf("unspend with Redis down = %v", err)
	}
	const says = "The state this server's instances share (Redis) cannot be reached, so callback URLs cannot be checked or revoked now; try again in a few seconds."
	if e, _ := apperr.As(err); e.Public() != says || e.Op != "give back callback URL" {
		t.Fatalf("the refusal says %q (op %q)", e.Public(), e.Op)
	}
	if up, _ := backends.Last(); up {
		t.Fatalf("the failure did not set Redis aside: %v", backends.All())
	}
	srv.Restart() // its data is gone: nothing was persisted
	testinfra.WaitFor(t, "Redis back", r.Up)
	if u, err := s.Use(ctx, "y", true, until); err != nil || u != UseOK {
		t.Fatalf("use with Redis back = %v %v", u, err)
	}
}

// A caller whose context ended gets that context's error, which says
// nothing of Redis, and Redis stays in use.
func TestRedisStateCallerGone(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	s := NewRedisState(r, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Use(ctx, "x", true, time.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) || storeRefusal(err) {
		t.Fatalf("use by a caller gone = %v", err)
	}
	if !r.Up() {
		t.Fatal("a caller's own end set Redis aside")
	}
}
