package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Deferred is a Store whose database is not open yet: every operation
// answers ErrUnavailable, as a database that went down does, until Set
// hands it the store to use; from then on it is that store. It lets an
// instance start while PostgreSQL cannot be reached and switch to it once
// it can, without rebuilding what holds the store.
type Deferred struct {
	mu     sync.Mutex
	s      Store // nil until Set
	closed bool
	deferredBounds
}

// NewDeferred returns a Deferred with no store yet.
func NewDeferred() *Deferred { return &Deferred{} }

// Set makes s the store in use. It answers false, leaving s to the caller
// to close, when the Deferred is closed or already has a store.
func (d *Deferred) Set(s Store) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.s != nil {
		return false
	}
	d.passCap(s)
	d.s = s
	return true
}

// Ready reports whether Set has given it a store.
func (d *Deferred) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s != nil
}

func (d *Deferred) store(op string) (Store, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s == nil {
		return nil, fmt.Errorf("%s: %w: not reached since the server started", op, ErrUnavailable)
	}
	return d.s, nil
}

// Get implements Store.
func (d *Deferred) Get(ctx context.Context, sub string) (Connection, error) {
	s, err := d.store("get connection")
	if err != nil {
		return Connection{}, err
	}
	return s.Get(ctx, sub)
}

// List implements Store.
func (d *Deferred) List(ctx context.Context) ([]Connection, error) {
	s, err := d.store("list connections")
	if err != nil {
		return nil, err
	}
	return s.List(ctx)
}

// Put implements Store.
func (d *Deferred) Put(ctx context.Context, c Connection) (int64, error) {
	s, err := d.store("put connection")
	if err != nil {
		return 0, err
	}
	return s.Put(ctx, c)
}

// Delete implements Store.
func (d *Deferred) Delete(ctx context.Context, sub string) error {
	s, err := d.store("delete connection")
	if err != nil {
		return err
	}
	return s.Delete(ctx, sub)
}

// SwapRefresh implements Store.
func (d *Deferred) SwapRefresh(ctx context.Context, sub string, expectVersion int64, sealed Sealed, refreshedAt time.Time) (int64, error) {
	s, err := d.store("swap refresh token")
	if err != nil {
		return 0, err
	}
	return s.SwapRefresh(ctx, sub, expectVersion, sealed, refreshedAt)
}

// Claim implements Store.
func (d *Deferred) Claim(ctx context.Context, sub string, expectVersion int64, until time.Time) (int64, error) {
	s, err := d.store("claim refresh token")
	if err != nil {
		return 0, err
	}
	return s.Claim(ctx, sub, expectVersion, until)
}

// Release implements Store.
func (d *Deferred) Release(ctx context.Context, sub string, claimedVersion int64) error {
	s, err := d.store("release refresh token")
	if err != nil {
		return err
	}
	return s.Release(ctx, sub, claimedVersion)
}

// FindByUser implements Store.
func (d *Deferred) FindByUser(ctx context.Context, key string) (Connection, error) {
	s, err := d.store("find connection")
	if err != nil {
		return Connection{}, err
	}
	return s.FindByUser(ctx, key)
}

// MarkDisconnected implements Store.
func (d *Deferred) MarkDisconnected(ctx context.Context, sub string, expectVersion int64, reason string, at time.Time) (int64, error) {
	s, err := d.store("mark connection disconnected")
	if err != nil {
		return 0, err
	}
	return s.MarkDisconnected(ctx, sub, expectVersion, reason, at)
}

// Ping reports whether the database answers: ErrUnavailable before Set,
// then the store's own Ping (nil for a store that cannot tell).
func (d *Deferred) Ping(ctx context.Context) error {
	s, err := d.store("ping database")
	if err != nil {
		return err
	}
	if p, ok := s.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Close closes the store in use, if any; a later Set is refused.
func (d *Deferred) Close() error {
	d.mu.Lock()
	s := d.s
	d.closed, d.s = true, nil
	d.mu.Unlock()
	if s != nil {
		return s.Close()
	}
	return nil
}
