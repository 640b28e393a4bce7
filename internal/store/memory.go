package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemoryStore keeps connections in the process: nothing survives a restart
// and nothing is shared with other processes.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	conns   map[string]Connection
	version int64 // the last version handed out
	marks   memMarks

	// The outbox (outbox.go): events in the order recorded.
	events   []memEvent
	eventSeq int64
	outboxBounds
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, conns: map[string]Connection{}}
}

func (m *MemoryStore) nextVersion() int64 {
	m.version++
	return m.version
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, sub string) (Connection, error) {
	if err := ctx.Err(); err != nil {
		return Connection{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.conns[sub]
	if !ok {
		return Connection{}, fmt.Errorf("get connection: %w", ErrNotFound)
	}
	return c.clone(), nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context) ([]Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	out := make([]Connection, 0, len(m.conns))
	for _, c := range m.conns {
		out = append(out, c.clone())
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Sub < out[j].Sub })
	return out, nil
}

// Put implements Store.
func (m *MemoryStore) Put(ctx context.Context, c Connection) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c, err := c.prepare(m.now())
	if err != nil {
		return 0, fmt.Errorf("put connection: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.recordEvent(ctx); err != nil {
		return 0, fmt.Errorf("put connection: %w", err)
	}
	c.Version = m.nextVersion()
	m.conns[c.Sub] = c
	return c.Version, nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(ctx context.Context, sub string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.conns[sub]; !ok {
		return fmt.Errorf("delete connection: %w", ErrNotFound)
	}
	if err := m.recordEvent(ctx); err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	delete(m.conns, sub)
	return nil
}

// SwapRefresh implements Store.
func (m *MemoryStore) SwapRefresh(ctx context.Context, sub string, expectVersion int64, sealed Sealed, refreshedAt time.Time) (int64, error) {
	const op = "swap refresh token"
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if err := checkSealed(op, sealed); err != nil {
		return 0, err
	}
	if refreshedAt.IsZero() {
		refreshedAt = m.now()
	}
	return m.update(ctx, op, sub, expectVersion, false, func(c *Connection) error {
		if c.Status != StatusConnected {
			return ErrDisconnected
		}
		c.Refresh = sealed.clone()
		c.RefreshedAt = utc(refreshedAt)
		c.LeaseUntil = time.Time{}
		return nil
	})
}

// update applies change to the connection of sub, only if its version is
// expect (or, with anyVersion, expect is AnyVersion), and gives it a new
// version. A sentinel that change returns aborts the write.
func (m *MemoryStore) update(ctx context.Context, op, sub string, expect int64, anyVersion bool, change func(*Connection) error) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.conns[sub]
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: %w", op, ErrNotFound)
	case !(anyVersion && expect == AnyVersion) && c.Version != expect:
		return 0, fmt.Errorf("%s: %w", op, ErrConflict)
	}
	if err := change(&c); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := m.recordEvent(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	c.Version = m.nextVersion()
	m.conns[sub] = c
	return c.Version, nil
}

// MarkDisconnected implements Store.
func (m *MemoryStore) MarkDisconnected(ctx context.Context, sub string, expectVersion int64, reason string, at time.Time) (int64, error) {
	const op = "mark connection disconnected"
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if reason == "" {
		return 0, fmt.Errorf("%s: %w: empty reason", op, ErrInvalid)
	}
	if at.IsZero() {
		at = m.now()
	}
	return m.update(ctx, op, sub, expectVersion, true, func(c *Connection) error {
		c.Status, c.Reason, c.DisconnectedAt = StatusDisconnected, reason, utc(at)
		c.Refresh = Sealed{}
		c.LeaseUntil = time.Time{}
		return nil
	})
}

// Claim implements Store.
func (m *MemoryStore) Claim(ctx context.Context, sub string, expectVersion int64, until time.Time) (int64, error) {
	const op = "claim refresh token"
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if until.IsZero() {
		return 0, fmt.Errorf("%s: %w: no lease end", op, ErrInvalid)
	}
	now := m.now()
	return m.update(ctx, op, sub, expectVersion, false, func(c *Connection) error {
		switch {
		case c.Status != StatusConnected:
			return ErrDisconnected
		case c.LeaseUntil.After(now):
			return ErrLeased
		}
		c.LeaseUntil = utc(until)
		return nil
	})
}

// Release implements Store.
func (m *MemoryStore) Release(ctx context.Context, sub string, claimedVersion int64) error {
	const op = "release refresh token"
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := m.update(ctx, op, sub, claimedVersion, false, func(c *Connection) error {
		c.LeaseUntil = time.Time{}
		return nil
	})
	return err
}

// FindByUser implements Store.
func (m *MemoryStore) FindByUser(ctx context.Context, key string) (Connection, error) {
	if err := ctx.Err(); err != nil {
		return Connection{}, err
	}
	if key == "" {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		best     Connection
		bestRank = -1
	)
	for _, c := range m.conns {
		r := matchRank(c, key)
		if r < 0 {
			continue
		}
		if bestRank < 0 || better(c, r, best, bestRank) {
			best, bestRank = c, r
		}
	}
	if bestRank < 0 {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	return best.clone(), nil
}

// Close implements Store; it does nothing.
func (m *MemoryStore) Close() error { return nil }
