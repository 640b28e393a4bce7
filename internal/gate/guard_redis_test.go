package gate

import (
	"context"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/redis/redistest"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances share each address's failures: failures on a refuse the
// address on b, with how long to wait; Allow spends nothing; another
// address is not refused; an IPv6 address counts by its /64 on both.
func TestGuardIsShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	a := NewRedisGuard(ra, 3, NewMemoryGuard(3, nil))
	b := NewRedisGuard(rb, 3, NewMemoryGuard(3, nil))
	const addr = "203.0.113.7:51234"
	for range 10 {
		if ok, _ := b.Allow(addr); !ok {
			t.Fatal("refused before any failure")
		}
	}
	a.Failed(addr)
	a.Failed("203.0.113.7:40000") // another port, the same address
	if ok, _ := b.Allow(addr); !ok {
		t.Fatal("refused after 2 of 3 failures")
	}
	b.Failed(addr)
	ok, wait := b.Allow(addr)
	if ok || wait < time.Second || wait > 20*time.Second || wait%time.Second != 0 {
		t.Fatalf("after 3 failures: %v, %v; want refused, retry in whole seconds up to 20 (3 a minute)", ok, wait)
	}
	if ok, _ := a.Allow(addr); ok {
		t.Fatal("a allows what b refuses")
	}
	if ok, _ := a.Allow("198.51.100.1:1"); !ok {
		t.Fatal("another address is refused")
	}

	for range 3 {
		a.Failed("[2001:db8:1:2::1]:443")
	}
	if ok, _ := b.Allow("[2001:db8:1:2:ffff::9]:80"); ok {
		t.Fatal("another address of the same /64 is allowed on b")
	}
	// The key lives until the budget is full again: a minute at most.
	ttl, err := ra.Client().PTTL(context.Background(), "rate:"+guardKey("203.0.113.7")).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the address's key expires in %v (%v)", ttl, err)
	}
}

// Redis stopped: the instance answers at once from its own guard, which
// knows the failures it saw while Redis was up; Redis back: the shared
// counts again.
func TestGuardFallsBackAndRecovers(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, st := redistest.Open(t, srv.URL())
	g := NewRedisGuard(r, 2, NewMemoryGuard(2, nil))
	const addr = "203.0.113.7:1"
	g.Failed(addr)

	srv.Stop()
	var first, second bool
	within(t, "the guard", func() {
		first, _ = g.Allow(addr)
		g.Failed(addr)
		second, _ = g.Allow(addr)
	})
	if !first || second {
		t.Fatalf("alone: %v then %v; want the failure seen before Redis fell counted, the second refusing", first, second)
	}
	if up, _ := st.Last(); up || r.State() != "degraded" {
		t.Fatalf("the fallback is not reported: observer %v, state %s", up, r.State())
	}

	srv.Restart()
	testinfra.WaitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	// A fresh Redis knows no failures: the shared guard (the local one
	// refuses) allows the address again.
	if ok, _ := g.Allow(addr); !ok {
		t.Fatal("after recovery: still the local guard")
	}
}
