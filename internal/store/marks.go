package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MarkKind says what a mark records. A mark is a key (an id or a hash,
// never a token) with an expiry, kept beside the connections so that a
// restart, or another instance sharing the database, honours it.
type MarkKind string

// The kinds of marks.
const (
	MarkRevoked MarkKind = "revoked" // a callback URL's id: the URL was revoked
	MarkSpent   MarkKind = "spent"   // a single-use callback URL's id: the URL was used
	MarkSeen    MarkKind = "seen"    // a webhook event's key (a hash): the event was admitted
)

// MaxMarkKey is the longest key a mark may have.
const MaxMarkKey = 128

// Marks keeps expiring marks. An expired mark is as good as none, and is
// pruned (at most once per markPruneEvery, by a write). The memory, SQLite
// and PostgreSQL stores and Deferred implement it.
type Marks interface {
	// PutMark sets the mark (kind, key) until until, or keeps it until
	// later when it is set already.
	PutMark(ctx context.Context, kind MarkKind, key string, until time.Time) error
	// AddMark sets the mark (kind, key) until until only if it is not set
	// (or has expired), and answers whether it set it: of two callers racing
	// on one key, in one process or several, one only is answered true.
	AddMark(ctx context.Context, kind MarkKind, key string, until time.Time) (bool, error)
	// HasMark reports whether the mark (kind, key) is set and unexpired.
	HasMark(ctx context.Context, kind MarkKind, key string) (bool, error)
	// DropMark removes the mark (kind, key), if set.
	DropMark(ctx context.Context, kind MarkKind, key string) error
}

var (
	_ Marks = (*MemoryStore)(nil)
	_ Marks = (*SQLiteStore)(nil)
	_ Marks = (*PostgresStore)(nil)
	_ Marks = (*Deferred)(nil)
)

// markPruneEvery is how often at most a store deletes its expired marks.
const markPruneEvery = time.Minute

// maxMemoryMarks bounds the memory store's marks.
const maxMemoryMarks = 200_000

func checkMark(op string, kind MarkKind, key string) error {
	switch kind {
	case MarkRevoked, MarkSpent, MarkSeen:
	default:
		return fmt.Errorf("%s: %w: unknown mark kind %q", op, ErrInvalid, kind)
	}
	if key == "" || len(key) > MaxMarkKey {
		return fmt.Errorf("%s: %w: a mark's key must be 1 to %d bytes", op, ErrInvalid, MaxMarkKey)
	}
	return nil
}

// pruneGate lets one write in markPruneEvery prune.
type pruneGate struct{ last atomic.Int64 }

func (g *pruneGate) due(now time.Time) bool {
	last := g.last.Load()
	if now.UnixNano()-last < int64(markPruneEvery) {
		return false
	}
	return g.last.CompareAndSwap(last, now.UnixNano())
}

type markID struct {
	kind MarkKind
	key  string
}

// memMarks is the memory store's marks.
type memMarks struct {
	mu    sync.Mutex
	until map[markID]time.Time
}

func (m *MemoryStore) marksLocked(now time.Time) map[markID]time.Time {
	if m.marks.until == nil {
		m.marks.until = map[markID]time.Time{}
	}
	if len(m.marks.until) >= maxMemoryMarks {
		for id, u := range m.marks.until {
			if !now.Before(u) {
				delete(m.marks.until, id)
			}
		}
	}
	return m.marks.until
}

// PutMark implements Marks.
func (m *MemoryStore) PutMark(_ context.Context, kind MarkKind, key string, until time.Time) error {
	if err := checkMark("put mark", kind, key); err != nil {
		return err
	}
	m.marks.mu.Lock()
	defer m.marks.mu.Unlock()
	marks := m.marksLocked(m.now())
	id := markID{kind, key}
	if u, ok := marks[id]; ok && u.After(until) {
		return nil
	}
	if _, ok := marks[id]; !ok && len(marks) >= maxMemoryMarks {
		return fmt.Errorf("put mark: %w: %d marks held", ErrUnavailable, len(marks))
	}
	marks[id] = until
	return nil
}

// AddMark implements Marks.
func (m *MemoryStore) AddMark(_ context.Context, kind MarkKind, key string, until time.Time) (bool, error) {
	if err := checkMark("add mark", kind, key); err != nil {
		return false, err
	}
	now := m.now()
	m.marks.mu.Lock()
	defer m.marks.mu.Unlock()
	marks := m.marksLocked(now)
	id := markID{kind, key}
	if u, ok := marks[id]; ok && now.Before(u) {
		return false, nil
	}
	if _, ok := marks[id]; !ok && len(marks) >= maxMemoryMarks {
		return false, fmt.Errorf("add mark: %w: %d marks held", ErrUnavailable, len(marks))
	}
	marks[id] = until
	return true, nil
}

// HasMark implements Marks.
func (m *MemoryStore) HasMark(_ context.Context, kind MarkKind, key string) (bool, error) {
	if err := checkMark("has mark", kind, key); err != nil {
		return false, err
	}
	m.marks.mu.Lock()
	defer m.marks.mu.Unlock()
	u, ok := m.marks.until[markID{kind, key}]
	return ok && m.now().Before(u), nil
}

// DropMark implements Marks.
func (m *MemoryStore) DropMark(_ context.Context, kind MarkKind, key string) error {
	if err := checkMark("drop mark", kind, key); err != nil {
		return err
	}
	m.marks.mu.Lock()
	defer m.marks.mu.Unlock()
	delete(m.marks.until, markID{kind, key})
	return nil
}

// PutMark implements Marks.
func (s *SQLiteStore) PutMark(ctx context.Context, kind MarkKind, key string, until time.Time) error {
	if err := checkMark("put mark", kind, key); err != nil {
		return err
	}
	s.pruneMarks(ctx)
	_, err := s.db.ExecContext(ctx, `INSERT INTO guard_marks (kind, key, until) VALUES (?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET until = max(guard_marks.until, excluded.until)`,
		string(kind), key, until.UnixNano())
	if err != nil {
		return fmt.Errorf("put mark: %w", sqliteErr(err))
	}
	return nil
}

// AddMark implements Marks: one statement, so SQLite's write lock makes it
// atomic across the processes sharing the file.
func (s *SQLiteStore) AddMark(ctx context.Context, kind MarkKind, key string, until time.Time) (bool, error) {
	if err := checkMark("add mark", kind, key); err != nil {
		return false, err
	}
	s.pruneMarks(ctx)
	res, err := s.db.ExecContext(ctx, `INSERT INTO guard_marks (kind, key, until) VALUES (?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until WHERE guard_marks.until <= ?`,
		string(kind), key, until.UnixNano(), s.now().UnixNano())
	if err != nil {
		return false, fmt.Errorf("add mark: %w", sqliteErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add mark: %w", sqliteErr(err))
	}
	return n == 1, nil
}

// HasMark implements Marks.
func (s *SQLiteStore) HasMark(ctx context.Context, kind MarkKind, key string) (bool, error) {
	if err := checkMark("has mark", kind, key); err != nil {
		return false, err
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM guard_marks WHERE kind = ? AND key = ? AND until > ?`,
		string(kind), key, s.now().UnixNano()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("has mark: %w", sqliteErr(err))
	}
	return n > 0, nil
}

// DropMark implements Marks.
func (s *SQLiteStore) DropMark(ctx context.Context, kind MarkKind, key string) error {
	if err := checkMark("drop mark", kind, key); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM guard_marks WHERE kind = ? AND key = ?`, string(kind), key); err != nil {
		return fmt.Errorf("drop mark: %w", sqliteErr(err))
	}
	return nil
}

// pruneMarks deletes expired marks, at most once per markPruneEvery; a
// failure is left for the next time.
func (s *SQLiteStore) pruneMarks(ctx context.Context) {
	now := s.now()
	if s.prune.due(now) {
		_, _ = s.db.ExecContext(ctx, `DELETE FROM guard_marks WHERE until <= ?`, now.UnixNano())
	}
}

// sqliteErr marks a file that stayed locked past busyTimeout as
// ErrUnavailable.
func sqliteErr(err error) error {
	if isBusy(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// PutMark implements Marks.
func (s *PostgresStore) PutMark(ctx context.Context, kind MarkKind, key string, until time.Time) error {
	if err := checkMark("put mark", kind, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	s.pruneMarks(ctx)
	_, err := s.pool.Exec(ctx, `INSERT INTO guard_marks (kind, key, until) VALUES ($1, $2, $3)
		ON CONFLICT (kind, key) DO UPDATE SET until = GREATEST(guard_marks.until, excluded.until)`,
		string(kind), key, until.UnixNano())
	if err != nil {
		return fmt.Errorf("put mark: %w", pgErr(err))
	}
	return nil
}

// AddMark implements Marks: one statement; PostgreSQL's unique index makes
// one of two racing instances the one that sets it.
func (s *PostgresStore) AddMark(ctx context.Context, kind MarkKind, key string, until time.Time) (bool, error) {
	if err := checkMark("add mark", kind, key); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	s.pruneMarks(ctx)
	tag, err := s.pool.Exec(ctx, `INSERT INTO guard_marks (kind, key, until) VALUES ($1, $2, $3)
		ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until WHERE guard_marks.until <= $4`,
		string(kind), key, until.UnixNano(), s.now().UnixNano())
	if err != nil {
		return false, fmt.Errorf("add mark: %w", pgErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// HasMark implements Marks.
func (s *PostgresStore) HasMark(ctx context.Context, kind MarkKind, key string) (bool, error) {
	if err := checkMark("has mark", kind, key); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM guard_marks WHERE kind = $1 AND key = $2 AND until > $3`,
		string(kind), key, s.now().UnixNano()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("has mark: %w", pgErr(err))
	}
	return n > 0, nil
}

// DropMark implements Marks.
func (s *PostgresStore) DropMark(ctx context.Context, kind MarkKind, key string) error {
	if err := checkMark("drop mark", kind, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM guard_marks WHERE kind = $1 AND key = $2`, string(kind), key); err != nil {
		return fmt.Errorf("drop mark: %w", pgErr(err))
	}
	return nil
}

func (s *PostgresStore) pruneMarks(ctx context.Context) {
	now := s.now()
	if s.prune.due(now) {
		_, _ = s.pool.Exec(ctx, `DELETE FROM guard_marks WHERE until <= $1`, now.UnixNano())
	}
}

func (d *Deferred) marks(op string) (Marks, error) {
	s, err := d.store(op)
	if err != nil {
		return nil, err
	}
	m, ok := s.(Marks)
	if !ok {
		return nil, fmt.Errorf("%s: %w: this store keeps no marks", op, ErrUnavailable)
	}
	return m, nil
}

// PutMark implements Marks.
func (d *Deferred) PutMark(ctx context.Context, kind MarkKind, key string, until time.Time) error {
	m, err := d.marks("put mark")
	if err != nil {
		return err
	}
	return m.PutMark(ctx, kind, key, until)
}

// AddMark implements Marks.
func (d *Deferred) AddMark(ctx context.Context, kind MarkKind, key string, until time.Time) (bool, error) {
	m, err := d.marks("add mark")
	if err != nil {
		return false, err
	}
	return m.AddMark(ctx, kind, key, until)
}

// HasMark implements Marks.
func (d *Deferred) HasMark(ctx context.Context, kind MarkKind, key string) (bool, error) {
	m, err := d.marks("has mark")
	if err != nil {
		return false, err
	}
	return m.HasMark(ctx, kind, key)
}

// DropMark implements Marks.
func (d *Deferred) DropMark(ctx context.Context, kind MarkKind, key string) error {
	m, err := d.marks("drop mark")
	if err != nil {
		return err
	}
	return m.DropMark(ctx, kind, key)
}
