package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// Event is one event for the app's back-end (EVENTS_URL), kept in the
// connections store's outbox until delivered. It holds identifiers and
// state only, never a token.
type Event struct {
	ID        string    // the same on every delivery attempt
	Type      string    // connection.connected, connection.lost, connection.disconnected, rtms.unassigned
	Sub       string    // its ordering key (a connection's sub, "rtms:<streamId>"): one key's events go out one at a time, in order
	CreatedAt time.Time // when the change was recorded
	Data      []byte    // the event's data, JSON
	Attempts  int       // failed deliveries so far
	NextAt    time.Time // not before then
	seq       int64     // the order recorded
}

// DefaultMaxEvents is how many undelivered events an outbox keeps; past
// it, the oldest is dropped (Outbox.DroppedEvents counts them).
const DefaultMaxEvents = 100_000

// Outbox is the transactional outbox of events, in the connections store.
// An event rides on a write: a context made by WithEvent, given to Put,
// Delete or MarkDisconnected, records its event in the same transaction as
// the change (SQLite and PostgreSQL), or under the same lock (memory); a
// write that changes nothing records nothing.
type Outbox interface {
	// ClaimEvents leases, until until, at most n events due at now: of each
	// sub, only its oldest, and only when no one holds its lease, so one
	// sub's events go out in order and each event to one deliverer at a time.
	ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]Event, error)
	// DeleteEvent forgets a delivered (or given up) event.
	DeleteEvent(ctx context.Context, id string) error
	// RetryEvent records a failed delivery: attempts so far, not before next; the lease ends.
	RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error
	// PendingEvents counts the events not yet delivered.
	PendingEvents(ctx context.Context) (int, error)
	// DroppedEvents counts the events this store dropped for the cap since it was opened.
	DroppedEvents() int64
	// SetMaxEvents sets the cap (DefaultMaxEvents when n <= 0).
	SetMaxEvents(n int)
	// RecordEvent records e on its own, for an event no connection's write
	// causes (rtms.unassigned). An event whose id is recorded and not yet
	// delivered is not recorded twice (ErrEventExists).
	RecordEvent(ctx context.Context, e Event) error
}

var (
	_ Outbox = (*MemoryStore)(nil)
	_ Outbox = (*SQLiteStore)(nil)
	_ Outbox = (*PostgresStore)(nil)
)

type eventKey struct{}

// WithEvent returns a context whose write (Put, Delete, MarkDisconnected)
// records e in the outbox with the change it makes.
func WithEvent(ctx context.Context, e Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}

// eventOf is the event ctx carries for its write, checked.
func eventOf(ctx context.Context, now time.Time) (Event, bool, error) {
	e, ok := ctx.Value(eventKey{}).(Event)
	if !ok {
		return Event{}, false, nil
	}
	if e.ID == "" || e.Type == "" || e.Sub == "" || len(e.Data) == 0 {
		return Event{}, false, fmt.Errorf("%w: an event needs an id, a type, a sub and data", ErrInvalid)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.NextAt.IsZero() {
		e.NextAt = e.CreatedAt
	}
	return e, true, nil
}

// ErrEventExists: an event of that id waits in the outbox already.
var ErrEventExists = errors.New("event already recorded")

// ErrEventNotFound: no pending event has that id.
var ErrEventNotFound = errors.New("event not found")

// outboxBounds is an outbox's cap and what it dropped.
type outboxBounds struct {
	max     atomic.Int64
	dropped atomic.Int64
}

func (b *outboxBounds) limit() int64 {
	if n := b.max.Load(); n > 0 {
		return n
	}
	return DefaultMaxEvents
}

// SetMaxEvents implements Outbox.
func (b *outboxBounds) SetMaxEvents(n int) { b.max.Store(int64(n)) }

// DroppedEvents implements Outbox.
func (b *outboxBounds) DroppedEvents() int64 { return b.dropped.Load() }

// RecordEvent implements Outbox.
func (m *MemoryStore) RecordEvent(ctx context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.events {
		if m.events[i].ID == e.ID {
			return fmt.Errorf("record event: %w", ErrEventExists)
		}
	}
	return m.recordEvent(WithEvent(ctx, e))
}

// recordEvent appends ctx's event, if any, dropping the oldest past the
// cap; the caller holds m.mu.
func (m *MemoryStore) recordEvent(ctx context.Context) error {
	e, ok, err := eventOf(ctx, m.now())
	if !ok || err != nil {
		return err
	}
	m.eventSeq++
	e.seq = m.eventSeq
	e.CreatedAt, e.NextAt = utc(e.CreatedAt), utc(e.NextAt)
	e.Data = append([]byte(nil), e.Data...)
	m.events = append(m.events, memEvent{Event: e})
	if over := len(m.events) - int(m.outboxBounds.limit()); over > 0 {
		m.events = append([]memEvent(nil), m.events[over:]...)
		m.outboxBounds.dropped.Add(int64(over))
	}
	return nil
}

type memEvent struct {
	Event
	lease time.Time
}

// ClaimEvents implements Outbox.
func (m *MemoryStore) ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	var out []Event
	for i := range m.events {
		e := &m.events[i]
		if seen[e.Sub] {
			continue
		}
		seen[e.Sub] = true
		if len(out) < n && !e.NextAt.After(now) && !e.lease.After(now) {
			e.lease = until
			c := e.Event
			c.Data = append([]byte(nil), c.Data...)
			out = append(out, c)
		}
	}
	return out, nil
}

// DeleteEvent implements Outbox.
func (m *MemoryStore) DeleteEvent(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.events {
		if m.events[i].ID == id {
			m.events = append(m.events[:i:i], m.events[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("delete event: %w", ErrEventNotFound)
}

// RetryEvent implements Outbox.
func (m *MemoryStore) RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.events {
		if e := &m.events[i]; e.ID == id {
			e.Attempts, e.NextAt, e.lease = attempts, utc(next), time.Time{}
			return nil
		}
	}
	return fmt.Errorf("retry event: %w", ErrEventNotFound)
}

// PendingEvents implements Outbox.
func (m *MemoryStore) PendingEvents(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events), nil
}

// sortEvents orders claimed events as recorded.
func sortEvents(es []Event) {
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
}
