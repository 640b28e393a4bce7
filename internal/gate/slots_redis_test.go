package gate

import (
	"context"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/redis/redistest"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// slotsOn: leases of 30 s on c; renewingOn: renewed every d.
func slotsOn(c *testinfra.Clock) RedisSlotsConfig {
	return RedisSlotsConfig{Lease: 30 * time.Second, Now: c.Now}
}

func renewingOn(c *testinfra.Clock, d time.Duration) RedisSlotsConfig {
	cfg := slotsOn(c)
	cfg.Renew = d
	return cfg
}

func mustAcquire(t *testing.T, s *RedisSlots, key string, limit int) func() {
	t.Helper()
	release, ok := s.Acquire(context.Background(), key, limit)
	if !ok || release == nil {
		t.Fatalf("no slot for %s", key)
	}
	return release
}

func refused(t *testing.T, s *RedisSlots, key string, limit int, why string) {
	t.Helper()
	if release, ok := s.Acquire(context.Background(), key, limit); ok || release != nil {
		t.Fatalf("a slot for %s: %s", key, why)
	}
}

// Two instances share each caller's slots: two batches running on a leave
// none on b; another caller's are its own; a batch that ends frees its slot
// for either instance.
func TestSlotsAreShared(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	la, lb := NewMemorySlots(), NewMemorySlots()
	c := testinfra.NewClock()
	a, b := NewRedisSlots(ra, la, slotsOn(c)), NewRedisSlots(rb, lb, slotsOn(c))
	const ann = "sub:ann@example.com"
	first := mustAcquire(t, a, ann, 2)
	second := mustAcquire(t, a, ann, 2)
	refused(t, b, ann, 2, "two run on a")
	refused(t, a, ann, 2, "two run on a")
	other := mustAcquire(t, b, "sub:bob@example.com", 2)
	first()
	first() // a second release changes nothing
	third := mustAcquire(t, b, ann, 2)
	refused(t, a, ann, 2, "one runs on a, one on b")
	second()
	third()
	other()
	if n, err := ra.Client().Exists(context.Background(), slotsKey(ann)).Result(); err != nil || n != 0 {
		t.Fatalf("the caller's set outlives its batches: %d, %v", n, err)
	}
	if la.Running(ann)+lb.Running(ann) != 0 {
		t.Fatal("the local slots were used with Redis up")
	}
}

// An instance that dies holding slots: its leases end and the slots free
// themselves for the others; until then they are held.
func TestSlotsOfADeadInstanceExpire(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	ca := testinfra.NewClock()
	cb := ca.Copy()
	a := NewRedisSlots(ra, NewMemorySlots(), slotsOn(ca))
	b := NewRedisSlots(rb, NewMemorySlots(), slotsOn(cb))
	const ann = "sub:ann@example.com"
	for range 2 {
		t.Cleanup(mustAcquire(t, a, ann, 2)) // its renewals stop at the end; nothing reaches Redis
	}
	_ = ra.Close() // a dies: no renewal, no release reaches Redis

	cb.Add(29 * time.Second)
	refused(t, b, ann, 2, "the dead instance's leases have 1 s left")
	cb.Add(2 * time.Second)
	mustAcquire(t, b, ann, 2)
	mustAcquire(t, b, ann, 2)
	refused(t, b, ann, 2, "b holds both now")
}

// A running batch renews its lease: it outlasts the first lease, and is
// held by no one else.
func TestSlotsAreRenewedWhileTheBatchRuns(t *testing.T) {
	srv := testinfra.StartRedis(t)
	ra, _ := redistest.Open(t, srv.URL())
	rb, _ := redistest.Open(t, srv.URL())
	ca := testinfra.NewClock()
	cb := ca.Copy()
	a := NewRedisSlots(ra, NewMemorySlots(), renewingOn(ca, 5*time.Millisecond))
	b := NewRedisSlots(rb, NewMemorySlots(), slotsOn(cb))
	const ann = "sub:ann@example.com"
	start := ca.Now()
	release := mustAcquire(t, a, ann, 1)

	ca.Add(25 * time.Second) // the batch still runs; its lease is renewed on a's clock
	want := float64(start.Add(55 * time.Second).UnixMilli())
	testinfra.WaitFor(t, "the lease renewed", func() bool {
		s, err := ra.Client().ZRange(context.Background(), slotsKey(ann), 0, -1).Result()
		if err != nil || len(s) != 1 {
			return false
		}
		score, err := ra.Client().ZScore(context.Background(), slotsKey(ann), s[0]).Result()
		return err == nil && score >= want
	})
	cb.Add(40 * time.Second) // past the first lease, within the renewed one
	refused(t, b, ann, 1, "the batch still runs on a")
	release()
	mustAcquire(t, b, ann, 1)
}

// Redis stopped: Acquire answers at once from the instance's own slots,
// and the fallback is reported; Redis back: the shared slots are used
// again by themselves.
func TestSlotsFallBackAndRecover(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, st := redistest.Open(t, srv.URL())
	local := NewMemorySlots()
	s := NewRedisSlots(r, local, slotsOn(testinfra.NewClock()))
	const ann = "sub:ann@example.com"
	held := mustAcquire(t, s, ann, 2)

	srv.Stop()
	var got []bool
	within(t, "Acquire", func() {
		for range 3 {
			_, ok := s.Acquire(context.Background(), ann, 2)
			got = append(got, ok)
		}
	})
	if !got[0] || !got[1] || got[2] || local.Running(ann) != 2 {
		t.Fatalf("alone: %v, %d local slots held; want two slots here, then refused", got, local.Running(ann))
	}
	if up, _ := st.Last(); up || r.State() != "degraded" {
		t.Fatalf("the fallback is not reported: observer %v, state %s", up, r.State())
	}
	within(t, "release", held) // its lease ends by itself

	srv.Restart()
	testinfra.WaitFor(t, "back to Redis", func() bool { return r.State() == "ok" })
	release := mustAcquire(t, s, ann, 2)
	if n, err := r.Client().ZCard(context.Background(), slotsKey(ann)).Result(); err != nil || n != 1 {
		t.Fatalf("after recovery the slot is not in Redis: %d, %v", n, err)
	}
	release()
}
