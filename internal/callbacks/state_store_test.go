package callbacks

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/store"
)

func TestStoreStateContract(t *testing.T) {
	t.Run("memory", func(t *testing.T) { stateContract(t, NewStoreState(store.NewMemoryStore(time.Now))) })
	t.Run("sqlite", func(t *testing.T) {
		db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "marks.db"), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stateContract(t, NewStoreState(db))
	})
}

// Two StoreStates on one database (two instances, or one and the same
// after a restart) agree: a revocation and a spent single use made by one
// hold for the other.
func TestStoreStateIsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "marks.db")
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	a, err := store.OpenSQLite(ctx, path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	first := NewStoreState(a)
	if err := first.Revoke(ctx, "rev", until); err != nil {
		t.Fatal(err)
	}
	if u, err := first.Use(ctx, "once", true, until); err != nil || u != UseOK {
		t.Fatalf("first use = %v, %v", u, err)
	}
	a.Close()
	b, err := store.OpenSQLite(ctx, path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	again := NewStoreState(b)
	for id, want := range map[string]Use{"rev": UseRevoked, "once": UseSpent} {
		if u, err := again.Use(ctx, id, true, until); err != nil || u != want {
			t.Fatalf("%s after a restart = %v, %v; want %v", id, u, err, want)
		}
	}
}

// A database that cannot be used fails closed: store_unavailable with
// Retry-After and the one sentence, never "go ahead".
func TestStoreStateFailsClosed(t *testing.T) {
	s := NewStoreState(store.NewDeferred()) // no database reached yet
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	u, useErr := s.Use(ctx, "id", true, until)
	if u != UseOK {
		t.Fatalf("Use with the database down = %v", u)
	}
	const says = "The database (DATABASE_URL) that keeps callback URLs' revocations and single uses cannot be used now, so callback URLs cannot be checked or revoked; try again in a few seconds."
	for op, err := range map[string]error{"answer callback URL": useErr, "revoke callback URL": s.Revoke(ctx, "id", until),
		"give back callback URL": s.Unspend(ctx, "id")} {
		e, ok := apperr.As(err)
		if !storeRefusal(err) || !ok || e.Op != op || e.Public() != says {
			t.Fatalf("%s with the database down = %v", op, err)
		}
	}
}
