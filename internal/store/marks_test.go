package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// markStores opens, for each kind of store, a fresh one and a function that
// opens it again (a restart, or another instance on the same database); the
// memory store's "again" is itself.
var markStores = []struct {
	name string
	open func(t *testing.T, now func() time.Time) (Marks, func() Marks)
}{
	{"memory", func(t *testing.T, now func() time.Time) (Marks, func() Marks) {
		m := NewMemoryStore(now)
		return m, func() Marks { return m }
	}},
	{"sqlite", func(t *testing.T, now func() time.Time) (Marks, func() Marks) {
		path := filepath.Join(t.TempDir(), "guard.db")
		reopen := func() Marks {
			s, err := OpenSQLite(context.Background(), path, now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return reopen(), reopen
	}},
	{"postgres", func(t *testing.T, now func() time.Time) (Marks, func() Marks) {
		url := newPostgresDB(t)
		reopen := func() Marks { return openPostgres(t, url, now) }
		return reopen(), reopen
	}},
	{"deferred", func(t *testing.T, now func() time.Time) (Marks, func() Marks) {
		d := NewDeferred()
		d.Set(NewMemoryStore(now))
		return d, func() Marks { return d }
	}},
}

// Marks: set once, seen until they expire, extended, dropped; kept by the
// database across a reopen (a restart, another instance).
func TestMarks(t *testing.T) {
	ctx := context.Background()
	for _, k := range markStores {
		t.Run(k.name, func(t *testing.T) {
			c := newClock(t0)
			m, reopen := k.open(t, c.now)
			until := c.now().Add(time.Hour)
			if ok, err := m.AddMark(ctx, MarkSpent, "id-1", until); err != nil || !ok {
				t.Fatalf("first AddMark = %v, %v", ok, err)
			}
			if ok, err := m.AddMark(ctx, MarkSpent, "id-1", until); err != nil || ok {
				t.Fatalf("second AddMark = %v, %v; want false", ok, err)
			}
			if has, err := m.HasMark(ctx, MarkRevoked, "id-1"); err != nil || has {
				t.Fatalf("another kind's mark is seen: %v, %v", has, err)
			}
			if err := m.PutMark(ctx, MarkRevoked, "id-1", until); err != nil {
				t.Fatal(err)
			}
			// A restart (or another instance) sees both.
			m2 := reopen()
			for _, kind := range []MarkKind{MarkSpent, MarkRevoked} {
				if has, err := m2.HasMark(ctx, kind, "id-1"); err != nil || !has {
					t.Fatalf("after reopen, %s mark = %v, %v", kind, has, err)
				}
			}
			if ok, err := m2.AddMark(ctx, MarkSpent, "id-1", until); err != nil || ok {
				t.Fatalf("after reopen, AddMark = %v, %v; want false", ok, err)
			}
			// PutMark extends, never shortens.
			if err := m2.PutMark(ctx, MarkRevoked, "id-1", c.now().Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := m2.PutMark(ctx, MarkRevoked, "id-1", c.now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := m2.DropMark(ctx, MarkSpent, "id-1"); err != nil {
				t.Fatal(err)
			}
			if ok, err := m2.AddMark(ctx, MarkSpent, "id-1", until); err != nil || !ok {
				t.Fatalf("AddMark after DropMark = %v, %v", ok, err)
			}
			c.add(2 * time.Hour)
			if has, _ := m2.HasMark(ctx, MarkSpent, "id-1"); has {
				t.Fatal("an expired mark is seen")
			}
			if has, _ := m2.HasMark(ctx, MarkRevoked, "id-1"); !has {
				t.Fatal("PutMark did not extend the revocation (or a shorter one cut it)")
			}
			if ok, err := m2.AddMark(ctx, MarkSpent, "id-1", c.now().Add(time.Hour)); err != nil || !ok {
				t.Fatalf("AddMark over an expired mark = %v, %v", ok, err)
			}
			if _, err := m2.AddMark(ctx, "nonsense", "id-1", until); !errors.Is(err, ErrInvalid) {
				t.Fatalf("unknown kind: %v", err)
			}
			if err := m2.PutMark(ctx, MarkSeen, "", until); !errors.Is(err, ErrInvalid) {
				t.Fatalf("empty key: %v", err)
			}
		})
	}
}

// Of many racing to set one mark, through several handles on one database,
// exactly one is told it set it.
func TestMarksRace(t *testing.T) {
	ctx := context.Background()
	for _, k := range markStores {
		t.Run(k.name, func(t *testing.T) {
			c := newClock(t0)
			_, reopen := k.open(t, c.now)
			handles := []Marks{reopen(), reopen(), reopen()}
			var won atomic.Int32
			var wg sync.WaitGroup
			for i := range 12 {
				wg.Go(func() {
					ok, err := handles[i%len(handles)].AddMark(ctx, MarkSeen, "event-key", c.now().Add(time.Hour))
					if err != nil {
						t.Error(err)
					}
					if ok {
						won.Add(1)
					}
				})
			}
			wg.Wait()
			if n := won.Load(); n != 1 {
				t.Fatalf("%d callers set the mark; want 1", n)
			}
		})
	}
}

// Expired marks are deleted by a later write, at most once a minute.
func TestMarksPruned(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "guard.db"), c.now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, key := range []string{"a", "b", "c"} {
		if _, err := s.AddMark(ctx, MarkSeen, key, c.now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	rows := func() int {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM guard_marks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != 3 {
		t.Fatalf("%d rows; want 3", n)
	}
	c.add(2 * time.Minute)
	if _, err := s.AddMark(ctx, MarkSeen, "d", c.now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 1 {
		t.Fatalf("%d rows after the expired were pruned; want 1", n)
	}

	pg := openPostgres(t, newPostgresDB(t), c.now)
	for _, key := range []string{"a", "b"} {
		if _, err := pg.AddMark(ctx, MarkSeen, key, c.now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	c.add(2 * time.Minute)
	if err := pg.PutMark(ctx, MarkRevoked, "z", c.now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pg.pool.QueryRow(ctx, `SELECT count(*) FROM guard_marks`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("postgres: %d rows after pruning (%v); want 1", n, err)
	}
}

// A Deferred with no database yet answers ErrUnavailable.
func TestMarksDeferredUnavailable(t *testing.T) {
	d := NewDeferred()
	if _, err := d.AddMark(context.Background(), MarkSpent, "x", time.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AddMark = %v; want ErrUnavailable", err)
	}
	if _, err := d.HasMark(context.Background(), MarkRevoked, "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("HasMark = %v; want ErrUnavailable", err)
	}
}
