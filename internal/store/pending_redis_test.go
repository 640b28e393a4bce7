package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/redis/redistest"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// mapStates is a PendingLinks: a map, as MemoryPending without its caps.
type mapStates struct {
	mu sync.Mutex
	m  map[string]mapState
}

type mapState struct {
	sub string
	v   []byte
}

func (s *mapStates) Put(_ context.Context, state, sub, _ string, v []byte, _ time.Time) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]mapState{}
	}
	s.m[state] = mapState{sub, v}
	return 0, nil
}

func (s *mapStates) Take(_ context.Context, state string) (string, []byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.m[state]
	delete(s.m, state)
	return h.sub, h.v, ok
}

func (s *mapStates) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// (testinfra.Clock)
func limits(perSub int) PendingLimits {
	return PendingLimits{PerSub: perSub, PerAddr: 50, Total: 10000}
}

func sealedOf(state string) []byte { return []byte("k1\x00sealed-" + state) }
func (o *RedisPending) has(s string) bool {
	return o.redis.Client().Exists(context.Background(), oauthStateKey(s)).Val() == 1
}

// A link made on one instance is completed on another, once: a second
// take fails, and two instances racing on one state cannot both get it.
func TestOAuthStatesAreSharedAndSingleUse(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	clk := testinfra.NewClock()
	la, lb := &mapStates{}, &mapStates{}
	a, b := NewRedisPending(ra, la, limits(5), clk.Now), NewRedisPending(rb, lb, limits(5), clk.Now)
	ctx := context.Background()
	exp := clk.Now().Add(10 * time.Minute)

	if _, err := a.Put(ctx, "state-1", "alice@example.com", "", sealedOf("state-1"), exp); err != nil {
		t.Fatal(err)
	}
	if la.len() != 0 {
		t.Fatal("kept locally while Redis is up")
	}
	sub, v, ok := b.Take(ctx, "state-1")
	if !ok || sub != "alice@example.com" || !bytes.Equal(v, sealedOf("state-1")) {
		t.Fatalf("take on B = %q %q %v", sub, v, ok)
	}
	if _, _, ok := a.Take(ctx, "state-1"); ok {
		t.Fatal("a state was taken twice")
	}

	for i := range 10 {
		st := "race-" + string(rune('a'+i))
		if _, err := a.Put(ctx, st, "bob@example.com", "", sealedOf(st), exp); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, o := range []*RedisPending{a, b, a, b} {
			wg.Go(func() {
				if _, _, ok := o.Take(ctx, st); ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("four racing takes of one state: %d got it", wins.Load())
		}
	}
}

// One sub keeps at most perSub states: a new one retires the oldest. Keys
// name neither the state nor the sub, live as long as the state, and the
// expiry is also checked on the injected clock.
func TestOAuthStatesCapKeysAndExpiry(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	clk := testinfra.NewClock()
	o := NewRedisPending(r, &mapStates{}, limits(3), clk.Now)
	ctx := context.Background()
	for i := range 4 {
		st := "cap-" + string(rune('a'+i))
		clk.Add(time.Millisecond) // ranks by time
		if _, err := o.Put(ctx, st, "carol@example.com", "", sealedOf(st), clk.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if o.has("cap-a") || !o.has("cap-b") || !o.has("cap-d") {
		t.Fatal("the oldest of four states (cap 3) was not the one retired")
	}
	// Another sub's states are its own.
	if _, err := o.Put(ctx, "dave-1", "dave@example.com", "", sealedOf("dave-1"), clk.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !o.has("cap-b") {
		t.Fatal("another sub's state retired carol's")
	}
	// A taken state frees its place.
	if _, _, ok := o.Take(ctx, "cap-b"); !ok {
		t.Fatal("take cap-b")
	}
	if _, err := o.Put(ctx, "cap-e", "carol@example.com", "", sealedOf("cap-e"), clk.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !o.has("cap-c") {
		t.Fatal("a taken state still counted against the cap")
	}

	keys, _ := r.Client().Keys(ctx, "*").Result()
	for _, k := range keys {
		if strings.HasSuffix(k, ":health") { // the probe's
			continue
		}
		for _, bad := range []string{"cap-", "carol", "dave"} {
			if strings.Contains(k, bad) {
				t.Fatalf("key %q names a state or a sub", k)
			}
		}
		if left := r.Client().PTTL(ctx, k).Val(); left <= 9*time.Minute || left > 10*time.Minute {
			t.Fatalf("key %s lives %v; want about 10 minutes", k, left)
		}
	}
	// Expired on the clock (Redis's own expiry is the state TTL too).
	clk.Add(10*time.Minute + time.Second)
	if _, _, ok := o.Take(ctx, "cap-d"); ok {
		t.Fatal("an expired state was taken")
	}
}

// Redis down: states are kept and taken locally; one made then still
// completes once Redis is back (it is looked for in both).
func TestOAuthStatesFallBackToLocal(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	local := &mapStates{}
	o := NewRedisPending(r, local, limits(5), nil)
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	if _, err := o.Put(ctx, "up-1", "erin@example.com", "", sealedOf("up-1"), exp); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// The first call finds Redis failing and falls back at once.
	if _, err := o.Put(ctx, "down-1", "erin@example.com", "", sealedOf("down-1"), exp); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Put(ctx, "down-2", "erin@example.com", "", sealedOf("down-2"), exp); err != nil {
		t.Fatal(err)
	}
	if local.len() != 2 {
		t.Fatalf("%d states kept locally with Redis down; want 2", local.len())
	}
	if sub, _, ok := o.Take(ctx, "down-1"); !ok || sub != "erin@example.com" {
		t.Fatal("a local state was not taken with Redis down")
	}
	if _, _, ok := o.Take(ctx, "up-1"); ok {
		t.Fatal("a state in the stopped Redis was found")
	}
	srv.Restart()
	testinfra.WaitFor(t, "Redis back", r.Up)
	if sub, _, ok := o.Take(ctx, "down-2"); !ok || sub != "erin@example.com" {
		t.Fatal("a state made while Redis was down is lost once it is back")
	}
}

// Many subs behind one address: beyond PerAddr the address is refused,
// with the time until its oldest state expires; another address, and the
// same subs from elsewhere, still keep theirs. Taken states free their
// place. The table of all full: the oldest of all is retired, no one is
// refused. The address is not written in a key or a value.
func TestOAuthStatesPerAddressAndTotal(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _ := redistest.Open(t, srv.URL())
	clk := testinfra.NewClock()
	o := NewRedisPending(r, &mapStates{}, PendingLimits{PerSub: 5, PerAddr: 4, Total: 10}, clk.Now)
	ctx := context.Background()
	put := func(state, sub, addr string) time.Duration {
		t.Helper()
		wait, err := o.Put(ctx, state, sub, addr, sealedOf(state), clk.Now().Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	for i := range 4 {
		if wait := put(fmt.Sprintf("a-%d", i), fmt.Sprintf("user%d@example.com", i), "203.0.113.7"); wait != 0 {
			t.Fatalf("state %d refused (%v)", i, wait)
		}
		clk.Add(time.Second)
	}
	if wait := put("a-4", "user4@example.com", "203.0.113.7"); wait <= 9*time.Minute || wait > 10*time.Minute-4*time.Second {
		t.Fatalf("the address beyond its cap: wait %v; want the life left of its oldest state", wait)
	}
	if o.has("a-4") || !o.has("a-0") {
		t.Fatal("a refused state was kept, or a kept one retired")
	}
	if wait := put("b-0", "user0@example.com", "198.51.100.2"); wait != 0 {
		t.Fatalf("the same sub from another address refused (%v)", wait)
	}
	if _, _, ok := o.Take(ctx, "a-1"); !ok {
		t.Fatal("take a-1")
	}
	if wait := put("a-5", "user5@example.com", "203.0.113.7"); wait != 0 {
		t.Fatalf("a taken state still counted against its address (%v)", wait)
	}
	clk.Add(10 * time.Minute) // the address's states expire
	if wait := put("a-6", "user6@example.com", "203.0.113.7"); wait != 0 {
		t.Fatalf("expired states still counted against their address (%v)", wait)
	}

	// The table of all (10) full: the oldest of all goes.
	for i := range 10 {
		clk.Add(time.Millisecond)
		put(fmt.Sprintf("t-%d", i), fmt.Sprintf("t%d@example.com", i), fmt.Sprintf("10.0.0.%d", i))
	}
	if o.has("a-6") || !o.has("t-0") || !o.has("t-9") {
		t.Fatal("a full table did not retire its oldest state, or retired another")
	}
	if n := r.Client().ZCard(ctx, oauthAllKey).Val(); n != 10 {
		t.Fatalf("%d states in all; want the cap, 10", n)
	}
	keys, _ := r.Client().Keys(ctx, "*").Result()
	for _, k := range keys {
		for _, bad := range []string{"203.0.113.7", "10.0.0.", "198.51"} {
			if strings.Contains(k, bad) || strings.Contains(r.Client().Get(ctx, k).Val(), bad) {
				t.Fatalf("key %q names an address", k)
			}
		}
	}
}
