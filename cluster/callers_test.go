package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
	"github.com/zoomtoken/tokenserver/secret"
	"github.com/zoomtoken/tokenserver/services"
)

// within runs f, failing the test if it has not returned after a generous
// while: a call that falls back must never hang.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s hangs while Redis is down", what)
	}
}

// Two instances share each caller's budget: the burst one spends is gone
// for the other, which is told when to come back; another caller's budget
// is its own; n at once counts n.
func TestCallersShareOneBudget(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _, _ := open(t, srv.URL())
	rb, _, _ := open(t, srv.URL())
	// 0.1 request/s: a spent request comes back after 10 s, longer than this test.
	la, lb := services.NewCallerLimiter(0.1, 3, nil), services.NewCallerLimiter(0.1, 3, nil)
	a, b := NewCallers(ra, 0.1, 3, la), NewCallers(rb, 0.1, 3, lb)
	for i := range 3 {
		if ok, _ := a.Allow("sub:ann@example.com"); !ok {
			t.Fatalf("request %d of the burst refused on a", i+1)
		}
	}
	ok, wait := b.Allow("sub:ann@example.com")
	if ok || wait < time.Second || wait > 10*time.Second || wait%time.Second != 0 {
		t.Fatalf("on b after the burst was spent on a: %v, %v; want refused, retry in whole seconds up to 10", ok, wait)
	}
	if ok, _ := b.Allow("sub:bob@example.com"); !ok {
		t.Fatal("another caller is refused")
	}

	if ok, _ := b.AllowN("api-key:0123abcd", 2); !ok {
		t.Fatal("2 of a burst of 3 refused")
	}
	if ok, _ := a.AllowN("api-key:0123abcd", 2); ok {
		t.Fatal("2 more allowed on a with 1 left")
	}
	if ok, _ := a.AllowN("api-key:0123abcd", 1); !ok {
		t.Fatal("the last one refused")
	}
	if ok, wait := a.AllowN("api-key:4567cdef", 4); ok || wait != time.Second {
		t.Fatalf("more than a burst at once: %v, %v; want never", ok, wait)
	}
	if n := la.Callers() + lb.Callers(); n != 0 {
		t.Fatalf("the local limiters were used with Redis up (%d callers)", n)
	}
	// An idle caller costs nothing: the key lives until the budget is full.
	ttl, err := ra.Client().PTTL(context.Background(), "rate:"+callerKey("sub:ann@example.com")).Result()
	if err != nil || ttl <= 0 || ttl > 31*time.Second {
		t.Fatalf("the caller's key expires in %v (%v); want within the 30 s that refill the burst", ttl, err)
	}
}

// Redis stopped: Allow answers at once from the instance's own limiter
// (the whole burst again, as one process has); Redis back: the shared
// budget is used again by itself.
func TestCallersFallBackAndRecover(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, st, _ := open(t, srv.URL())
	local := services.NewCallerLimiter(0.1, 2, nil)
	c := NewCallers(r, 0.1, 2, local)
	for range 2 {
		c.Allow("sub:ann@example.com")
	}
	if ok, _ := c.Allow("sub:ann@example.com"); ok {
		t.Fatal("over the burst with Redis up")
	}

	srv.Stop()
	var got []bool
	within(t, "Allow", func() {
		for range 3 {
			ok, _ := c.Allow("sub:ann@example.com")
			got = append(got, ok)
		}
	})
	if !got[0] || !got[1] || got[2] || local.Callers() != 1 {
		t.Fatalf("alone: %v (%d local callers); want the local burst of 2, then refused", got, local.Callers())
	}
	if up, _ := st.last(); up || r.State() != "degraded" {
		t.Fatalf("the fallback is not reported: observer %v, state %s", up, r.State())
	}

	srv.Restart()
	waitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	// A fresh Redis knows no budget: the shared limiter (the local one is
	// spent) allows the burst again.
	for i := range 2 {
		if ok, _ := c.Allow("sub:ann@example.com"); !ok {
			t.Fatalf("request %d after recovery refused: still the local limiter", i+1)
		}
	}
}

// What a request pays for the shared limits, against a redis-server on
// loopback (BENCHMARKS.md): the caller's limit, the guard's look at the
// address, a batch slot taken and given back; and the local limiter.
func BenchmarkSharedLimits(b *testing.B) {
	srv := testinfra.StartRedis(b)
	r, err := Open(context.Background(), secret.New(srv.URL()), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	local := services.NewCallerLimiter(1e9, 1e9, nil)
	callers := NewCallers(r, 1e9, 1e9, local)
	guard := NewGuard(r, 10, services.NewAuthGuard(10, nil))
	slots := NewSlots(r, services.NewLocalBatchSlots(), SlotsConfig{})
	b.Run("callers-redis", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := callers.Allow("sub:ann@example.com"); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("callers-local", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := local.Allow("sub:ann@example.com"); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("guard-redis", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := guard.Allow("203.0.113.7:1"); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("slot-redis", func(b *testing.B) {
		for b.Loop() {
			release, ok := slots.Acquire(context.Background(), "sub:ann@example.com", 2)
			if !ok {
				b.Fatal("refused")
			}
			release()
		}
	})
	if !r.Up() {
		b.Fatal("Redis failed during the benchmark: the local fallback was measured")
	}
}
