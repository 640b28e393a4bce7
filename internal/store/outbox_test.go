package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func testEvent(id, sub string) Event {
	return Event{ID: id, Type: "connection.connected", Sub: sub, CreatedAt: t0, Data: []byte(`{"sub":"` + sub + `"}`)}
}

func outboxOf(t *testing.T, s Store) Outbox {
	t.Helper()
	o, ok := s.(Outbox)
	if !ok {
		t.Fatalf("%T keeps no outbox", s)
	}
	return o
}

func claimIDs(t *testing.T, o Outbox, now time.Time, n int) []string {
	t.Helper()
	es, err := o.ClaimEvents(context.Background(), now, now.Add(30*time.Second), n)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

// An event is recorded with the write that carries it, and only when the
// write changes something.
func TestOutboxRecordedWithItsWrite(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := outboxOf(t, s)
		k := GenerateKeyring()
		v, err := s.Put(WithEvent(ctx, testEvent("e1", "a")), connected(t, k, "a", "rt-a"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkDisconnected(WithEvent(ctx, testEvent("e2", "a")), "a", v+1000, "invalid_grant", t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("MarkDisconnected at a wrong version: %v", err)
		}
		if err := s.Delete(WithEvent(ctx, testEvent("e3", "nobody")), "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete of nobody: %v", err)
		}
		if _, err := s.Put(WithEvent(ctx, Event{ID: "e4", Sub: "a"}), connected(t, k, "a", "rt-a2")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Put with an event without type or data: %v", err)
		}
		if c, _ := s.Get(ctx, "a"); c.Version != v {
			t.Fatalf("a write whose event was refused changed the connection (version %d, was %d)", c.Version, v)
		}
		if _, err := s.MarkDisconnected(WithEvent(ctx, testEvent("e5", "a")), "a", v, "invalid_grant", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(WithEvent(ctx, testEvent("e6", "a")), "a"); err != nil {
			t.Fatal(err)
		}
		if n, err := o.PendingEvents(ctx); err != nil || n != 3 {
			t.Fatalf("pending = %d, %v; want 3 (e1, e5, e6)", n, err)
		}
		if got := fmt.Sprint(claimIDs(t, o, t0, 10)); got != "[e1]" {
			t.Fatalf("claimed %s; want [e1], the oldest of a", got)
		}
	})
}

// One sub's events go out one at a time, in order; a leased event is no
// one else's; a retried one keeps its id and waits its turn.
func TestOutboxClaimOrderLeaseRetry(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := outboxOf(t, s)
		k := GenerateKeyring()
		for i, e := range []Event{testEvent("a1", "a"), testEvent("b1", "b"), testEvent("a2", "a")} {
			if _, err := s.Put(WithEvent(ctx, e), connected(t, k, e.Sub, fmt.Sprint("rt", i))); err != nil {
				t.Fatal(err)
			}
		}
		if got := fmt.Sprint(claimIDs(t, o, t0, 10)); got != "[a1 b1]" {
			t.Fatalf("first claim %s; want [a1 b1]", got)
		}
		if got := claimIDs(t, o, t0.Add(time.Second), 10); len(got) != 0 {
			t.Fatalf("claimed %v while leased", got)
		}
		if err := o.RetryEvent(ctx, "a1", 1, t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := claimIDs(t, o, t0.Add(time.Second), 10); len(got) != 0 {
			t.Fatalf("claimed %v before a1's retry is due (a2 must wait for a1)", got)
		}
		es, err := o.ClaimEvents(ctx, t0.Add(2*time.Second), t0.Add(time.Minute), 10)
		if err != nil || len(es) != 1 || es[0].ID != "a1" || es[0].Attempts != 1 || string(es[0].Data) != `{"sub":"a"}` {
			t.Fatalf("retry claim = %+v, %v", es, err)
		}
		if err := o.DeleteEvent(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(claimIDs(t, o, t0.Add(2*time.Second), 10)); got != "[a2]" {
			t.Fatalf("after a1: %s; want [a2]", got)
		}
		// The lease runs out: another deliverer may take it.
		if got := fmt.Sprint(claimIDs(t, o, t0.Add(time.Hour), 10)); got != "[b1 a2]" && got != "[a2 b1]" {
			t.Fatalf("after the leases ran out: %s", got)
		}
		if err := o.DeleteEvent(ctx, "nope"); !errors.Is(err, ErrEventNotFound) {
			t.Errorf("delete unknown: %v", err)
		}
	})
}

// The outbox is bounded: past the cap the oldest go, counted.
func TestOutboxCapDropsOldest(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := outboxOf(t, s)
		o.SetMaxEvents(3)
		k := GenerateKeyring()
		for i := range 5 {
			sub := fmt.Sprint("u", i)
			if _, err := s.Put(WithEvent(ctx, testEvent(fmt.Sprint("e", i), sub)), connected(t, k, sub, "rt")); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := o.PendingEvents(ctx); n != 3 || o.DroppedEvents() != 2 {
			t.Fatalf("pending %d, dropped %d; want 3 and 2", n, o.DroppedEvents())
		}
		if got := fmt.Sprint(claimIDs(t, o, t0, 10)); got != "[e2 e3 e4]" {
			t.Fatalf("left %s; want the newest three", got)
		}
	})
}

// Two stores on one database (two instances): each event is claimed by one.
func TestOutboxSharedClaimsOnce(t *testing.T) {
	pairs := map[string]func(t *testing.T) (Store, Store){
		"sqlite": func(t *testing.T) (Store, Store) {
			p := filepath.Join(t.TempDir(), "c.db")
			return openSQLite(t, p), openSQLite(t, p)
		},
		"postgres": func(t *testing.T) (Store, Store) {
			u := newPostgresDB(t)
			return openPostgres(t, u, fixedClock()), openPostgres(t, u, fixedClock())
		},
	}
	for name, open := range pairs {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			ctx := context.Background()
			k := GenerateKeyring()
			const n = 40
			for i := range n {
				sub := fmt.Sprint("u", i)
				if _, err := a.Put(WithEvent(ctx, testEvent(fmt.Sprint("e", i), sub)), connected(t, k, sub, "rt")); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for _, s := range []Store{a, b, a, b} {
				wg.Go(func() {
					for range 10 {
						es, err := outboxOf(t, s).ClaimEvents(ctx, t0, t0.Add(time.Minute), 3)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						for _, e := range es {
							seen[e.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for id, c := range seen {
				if c != 1 {
					t.Errorf("%s claimed %d times", id, c)
				}
			}
			if len(seen) != n {
				t.Errorf("claimed %d of %d events", len(seen), n)
			}
		})
	}
}

// An event no write causes (rtms.unassigned) is recorded on its own, under
// its own key, once while it waits; it goes out beside a connection's.
func TestOutboxRecordEventOnItsOwn(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := outboxOf(t, s)
		e := Event{ID: "evt_r1", Type: "rtms.unassigned", Sub: "rtms:s1", CreatedAt: t0, Data: []byte(`{"streamId":"s1"}`)}
		if err := o.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := o.RecordEvent(ctx, e); !errors.Is(err, ErrEventExists) {
			t.Fatalf("the same id again: %v", err)
		}
		if err := o.RecordEvent(ctx, Event{ID: "evt_r2", Sub: "rtms:s2"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("an event without type or data: %v", err)
		}
		if _, err := s.Put(WithEvent(ctx, testEvent("e1", "a")), connected(t, GenerateKeyring(), "a", "rt-a")); err != nil {
			t.Fatal(err)
		}
		es, err := o.ClaimEvents(ctx, t0.Add(time.Second), t0.Add(time.Minute), 10)
		if err != nil || len(es) != 2 || es[0].ID != "evt_r1" || es[0].Sub != "rtms:s1" || es[0].Type != "rtms.unassigned" ||
			string(es[0].Data) != `{"streamId":"s1"}` || es[1].ID != "e1" {
			t.Fatalf("claimed %+v, %v", es, err)
		}
		if err := o.DeleteEvent(ctx, "evt_r1"); err != nil {
			t.Fatal(err)
		}
		if n, _ := o.PendingEvents(ctx); n != 1 {
			t.Fatalf("pending = %d", n)
		}
	})
}
