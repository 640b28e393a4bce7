package callbacks

import (
	"context"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Use is what State says of one use of a URL.
type Use int

// The answers of State.Use.
const (
	UseOK      Use = iota // go ahead
	UseRevoked            // the URL was revoked
	UseSpent              // a single-use URL was used already (or is being used now)
)

// State remembers which URLs were revoked and which single-use URLs were
// spent, each until its URL expires (after that the signature check refuses
// it anyway). Memory is the one-process implementation; RedisState lets
// several instances agree through Redis, StoreState through the database
// (and outlive a restart). Which one is the server's choice.
type State interface {
	// Revoke refuses every later use of id; until is when its URL expires.
	Revoke(ctx context.Context, id string, until time.Time) error
	// Use asks to use id once: UseRevoked, or, for a single-use URL
	// (once), UseSpent when it was used before; else it records the use.
	Use(ctx context.Context, id string, once bool, until time.Time) (Use, error)
	// Unspend gives a single-use URL back after a use that minted nothing,
	// so the platform's retry can succeed.
	Unspend(ctx context.Context, id string) error
}

// DefaultMaxEntries bounds Memory.
const DefaultMaxEntries = 100_000

// Memory is State in one process: bounded, each entry forgotten when its URL
// expires.
type Memory struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]memEntry
}

var _ State = (*Memory)(nil)

type memEntry struct {
	until   time.Time
	revoked bool
	spent   bool
}

// NewMemory returns a State holding at most maxEntries entries (0: DefaultMaxEntries).
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{max: maxEntries, now: now, entries: map[string]memEntry{}}
}

func full(op string) error {
	return &apperr.Error{Kind: apperr.ErrRateLimited, Op: op, RetryAfter: time.Minute,
		Message: "Too many callback URLs are revoked or spent and not yet expired; try again in a minute, or make shorter-lived URLs."}
}

// room makes place for one more entry: it drops expired ones when full.
// The caller holds mu.
func (m *Memory) room(now time.Time) bool {
	if len(m.entries) < m.max {
		return true
	}
	for id, e := range m.entries {
		if !now.Before(e.until) {
			delete(m.entries, id)
		}
	}
	return len(m.entries) < m.max
}

// Revoke implements State.
func (m *Memory) Revoke(_ context.Context, id string, until time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if !ok && !m.room(now) {
		return full("revoke callback URL")
	}
	e.revoked = true
	e.until = later(e.until, until)
	m.entries[id] = e
	return nil
}

// Use implements State.
func (m *Memory) Use(_ context.Context, id string, once bool, until time.Time) (Use, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if ok && !now.Before(e.until) {
		delete(m.entries, id)
		e, ok = memEntry{}, false
	}
	switch {
	case e.revoked:
		return UseRevoked, nil
	case !once:
		return UseOK, nil
	case e.spent:
		return UseSpent, nil
	}
	if !ok && !m.room(now) {
		return UseOK, full("use callback URL")
	}
	m.entries[id] = memEntry{until: later(e.until, until), spent: true}
	return UseOK, nil
}

// Unspend implements State.
func (m *Memory) Unspend(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok && !e.revoked {
		delete(m.entries, id)
	}
	return nil
}

// Len is how many entries are held (for tests).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
