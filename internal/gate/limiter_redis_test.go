package gate

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/internal/redis/redistest"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
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
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	// 0.1 request/s: a spent request comes back after 10 s, longer than this test.
	la, lb := NewMemoryLimiter(0.1, 3, nil), NewMemoryLimiter(0.1, 3, nil)
	a, b := NewRedisLimiter(ra, 0.1, 3, la), NewRedisLimiter(rb, 0.1, 3, lb)
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
	r, st := redistest.Open(t, srv.URL())
	local := NewMemoryLimiter(0.1, 2, nil)
	c := NewRedisLimiter(r, 0.1, 2, local)
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
	if up, _ := st.Last(); up || r.State() != "degraded" {
		t.Fatalf("the fallback is not reported: observer %v, state %s", up, r.State())
	}

	srv.Restart()
	testinfra.WaitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
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
	r, err := redis.Open(context.Background(), secret.New(srv.URL()), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	local := NewMemoryLimiter(1e9, 1e9, nil)
	callers := NewRedisLimiter(r, 1e9, 1e9, local)
	guard := NewRedisGuard(r, 10, NewMemoryGuard(10, nil))
	slots := NewRedisSlots(r, NewMemorySlots(), RedisSlotsConfig{})
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

// freezer is a TCP proxy to a Redis that can be frozen: connections stay
// open and nothing more crosses, as with a Redis that hangs.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	t.Cleanup(func() {
		f.set(false)
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *freezer) url() string { return "redis://" + f.ln.Addr().String() + "/0" }

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen && !frozen {
		close(f.thaw)
		f.thaw = make(chan struct{})
	}
	f.frozen = frozen
}

// wait blocks while the proxy is frozen.
func (f *freezer) wait() {
	f.mu.Lock()
	frozen, thaw := f.frozen, f.thaw
	f.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (f *freezer) serve(c net.Conn) {
	defer c.Close()
	f.wait()
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	defer up.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			f.wait()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go pipe(up, c)
	pipe(c, up)
}

// A Redis that hangs (connections open, no answers): the limit, the guard
// and the slots answer from the instance's own state after the short
// timeout, the fallback is reported, and Redis is used again once it
// answers.
func TestSharedLimitsFallBackFromAHungRedis(t *testing.T) {
	srv := testinfra.StartRedis(t)
	fz := newFreezer(t, srv.Addr())
	r, st := redistest.Open(t, fz.url())
	callers := NewRedisLimiter(r, 0.01, 1, NewMemoryLimiter(0.01, 1, nil))
	guard := NewRedisGuard(r, 1, NewMemoryGuard(1, nil))
	slots := NewRedisSlots(r, NewMemorySlots(), RedisSlotsConfig{})
	if ok, _ := callers.Allow("sub:ann@example.com"); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := callers.Allow("sub:ann@example.com"); ok {
		t.Fatal("over the burst with Redis up")
	}

	fz.set(true)
	var allowed, guarded, slot bool
	within(t, "the shared limits", func() {
		allowed, _ = callers.Allow("sub:ann@example.com")
		guarded, _ = guard.Allow("203.0.113.7:1")
		var release func()
		release, slot = slots.Acquire(context.Background(), "sub:ann@example.com", 2)
		if release != nil {
			release()
		}
	})
	if !allowed || !guarded || !slot {
		t.Fatalf("with Redis hung: caller %v, guard %v, slot %v; want each answered by the instance's own", allowed, guarded, slot)
	}
	if up, _ := st.Last(); up || r.State() != "degraded" {
		t.Fatalf("the fallback is not reported: observer %v, state %s", up, r.State())
	}

	fz.set(false)
	testinfra.WaitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	if ok, _ := callers.Allow("sub:ann@example.com"); ok {
		t.Fatal("after Redis answers again: the request Redis counted is forgotten (still the local limiter)")
	}
}
