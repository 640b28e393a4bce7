package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances share callback URLs' state: a revocation made on one is
// seen by the other; a single-use URL is spent once across both, even when
// they race; giving it back makes it usable again, a revocation stays.
func TestCallbackStateIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _, _ := open(t, srv.URL())
	rb, _, _ := open(t, srv.URL())
	a, b := NewCallbackState(ra, nil), NewCallbackState(rb, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Minute)

	if u, err := b.Use(ctx, "rev1", false, until); err != nil || u != CallbackOK {
		t.Fatalf("use before revoke = %v %v", u, err)
	}
	if err := a.Revoke(ctx, "rev1", until); err != nil {
		t.Fatal(err)
	}
	if u, err := b.Use(ctx, "rev1", false, until); err != nil || u != CallbackRevoked {
		t.Fatalf("use on B of a URL revoked on A = %v %v", u, err)
	}

	// Race: 20 uses of one single-use URL on two instances, at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[CallbackUse]int{}
	start := make(chan struct{})
	for i := range 20 {
		s := []*CallbackState{a, b}[i%2]
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
	if got[CallbackOK] != 1 || got[CallbackSpent] != 19 {
		t.Fatalf("20 racing uses of a single-use URL: %v; want 1 OK and 19 spent", got)
	}
	if err := b.Unspend(ctx, "once1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.Use(ctx, "once1", true, until); u != CallbackOK {
		t.Fatalf("use after unspend = %v", u)
	}
	if u, _ := a.Use(ctx, "once1", true, until); u != CallbackSpent {
		t.Fatalf("second use after unspend = %v", u)
	}
	// A revoked single-use URL stays revoked after an unspend.
	if err := a.Revoke(ctx, "once1", until); err != nil {
		t.Fatal(err)
	}
	_ = b.Unspend(ctx, "once1")
	if u, _ := b.Use(ctx, "once1", true, until); u != CallbackRevoked {
		t.Fatalf("revoked, then unspent = %v", u)
	}
}

// Keys are named by the URL's id only and live until the URL expires (on
// the injected clock); a later revocation never shortens one.
func TestCallbackStateKeysAndExpiry(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _, _ := open(t, srv.URL())
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewCallbackState(r, func() time.Time { return now })
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
		left, err := r.client.PTTL(ctx, key).Result()
		if err != nil || left > want || left < want-5*time.Second {
			t.Fatalf("%s lives %v (%v); want about %v", key, left, err, want)
		}
	}
	keys, err := r.client.Keys(ctx, "tokenserver:callback:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v %v", keys, err)
	}
	// A URL past its expiry still gets a key for a second (never none).
	if _, err := s.Use(ctx, "id-C", true, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if left, _ := r.client.PTTL(ctx, "tokenserver:callback:spent:id-C").Result(); left <= 0 || left > time.Second {
		t.Fatalf("key of an expired URL lives %v", left)
	}
}

// Redis down: every call fails closed with ErrUnavailable, at once.
func TestCallbackStateFailsClosed(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _, logs := open(t, srv.URL())
	s := NewCallbackState(r, nil)
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	if err := s.Revoke(ctx, "x", until); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// The first call sees Redis fail; later ones do not try until it answers.
	for i := range 3 {
		if u, err := s.Use(ctx, "x", false, until); !errors.Is(err, ErrUnavailable) || u != CallbackOK {
			t.Fatalf("use %d with Redis down = %v %v", i, u, err)
		}
	}
	if err := s.Revoke(ctx, "y", until); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("revoke with Redis down = %v", err)
	}
	if err := s.Unspend(ctx, "y"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unspend with Redis down = %v", err)
	}
	if !strings.Contains(logs.String(), "Redis failed") {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	srv.Restart() // its data is gone: nothing was persisted
	testinfra.WaitFor(t, "Redis back", r.Up)
	if u, err := s.Use(ctx, "y", true, until); err != nil || u != CallbackOK {
		t.Fatalf("use with Redis back = %v %v", u, err)
	}
}
