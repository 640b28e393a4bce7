package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Before Set, a Deferred is a database that cannot be reached: every
// operation answers ErrUnavailable. After Set it is the store it was given
// (storeKinds runs the store tests through one); once closed, it refuses a
// store and the caller keeps it.
func TestDeferredUnavailableUntilSet(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	d := NewDeferred()
	ops := map[string]func() error{
		"get":        func() error { _, err := d.Get(ctx, "alice"); return err },
		"list":       func() error { _, err := d.List(ctx); return err },
		"put":        func() error { _, err := d.Put(ctx, connected(t, k, "alice", "rt-1")); return err },
		"delete":     func() error { return d.Delete(ctx, "alice") },
		"swap":       func() error { _, err := d.SwapRefresh(ctx, "alice", 1, sealFor(t, k, "alice", "rt-2"), t0); return err },
		"claim":      func() error { _, err := d.Claim(ctx, "alice", 1, t0.Add(time.Minute)); return err },
		"release":    func() error { return d.Release(ctx, "alice", 1) },
		"find":       func() error { _, err := d.FindByUser(ctx, "alice"); return err },
		"disconnect": func() error { _, err := d.MarkDisconnected(ctx, "alice", AnyVersion, "gone", t0); return err },
		"ping":       func() error { return d.Ping(ctx) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s before Set: %v, want ErrUnavailable", name, err)
		}
	}
	if d.Ready() {
		t.Fatal("ready before Set")
	}
	if !d.Set(NewMemoryStore(fixedClock())) || !d.Ready() {
		t.Fatal("Set refused")
	}
	if d.Set(NewMemoryStore(fixedClock())) {
		t.Fatal("a second Set replaced the store in use")
	}
	if _, err := d.Put(ctx, connected(t, k, "alice", "rt-1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("ping a memory store: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Set(NewMemoryStore(fixedClock())) {
		t.Fatal("Set after Close was accepted")
	}
}
