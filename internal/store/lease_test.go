package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock for lease expiry.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

func eachStoreClock(t *testing.T, f func(t *testing.T, s Store, clk *clock)) {
	t.Run("memory", func(t *testing.T) {
		clk := newClock(t0)
		f(t, NewMemoryStore(clk.now), clk)
	})
	t.Run("sqlite", func(t *testing.T) {
		clk := newClock(t0)
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "c.db"), clk.now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f(t, s, clk)
	})
	t.Run("postgres", func(t *testing.T) {
		clk := newClock(t0)
		f(t, openPostgres(t, newPostgresDB(t), clk.now), clk)
	})
}

func TestStoreClaim(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStoreClock(t, func(t *testing.T, s Store, clk *clock) {
		if _, err := s.Claim(ctx, "alice", 1, clk.now().Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("claim on missing: %v", err)
		}
		v1, _ := s.Put(ctx, connected(t, k, "alice", "rt-1"))
		if _, err := s.Claim(ctx, "alice", v1+100, clk.now().Add(time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("claim at a wrong version: %v", err)
		}
		until := clk.now().Add(30 * time.Second)
		v2, err := s.Claim(ctx, "alice", v1, until)
		if err != nil || v2 <= v1 {
			t.Fatalf("claim: v%d -> v%d, %v", v1, v2, err)
		}
		got, _ := s.Get(ctx, "alice")
		if got.Version != v2 || !got.LeaseUntil.Equal(until) {
			t.Fatalf("after claim: %v lease %v", got, got.LeaseUntil)
		}
		// Held: a claim at the current version is refused as leased; one at
		// the version read before the claim as a conflict.
		if _, err := s.Claim(ctx, "alice", v2, clk.now().Add(time.Minute)); !errors.Is(err, ErrLeased) {
			t.Fatalf("claim while leased: %v", err)
		}
		if _, err := s.Claim(ctx, "alice", v1, clk.now().Add(time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("claim at the pre-claim version: %v", err)
		}
		// SwapRefresh at the claimed version clears the lease.
		v3, err := s.SwapRefresh(ctx, "alice", v2, sealFor(t, k, "alice", "rt-2"), clk.now())
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, "alice")
		if !got.LeaseUntil.IsZero() {
			t.Fatalf("lease survives the swap: %v", got.LeaseUntil)
		}
		// A lease that ran out may be claimed again.
		v4, err := s.Claim(ctx, "alice", v3, clk.now().Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		clk.add(10 * time.Second)
		v5, err := s.Claim(ctx, "alice", v4, clk.now().Add(10*time.Second))
		if err != nil {
			t.Fatalf("claim after the lease ran out: %v", err)
		}
		// Release gives it up at the claimed version only.
		if err := s.Release(ctx, "alice", v4); !errors.Is(err, ErrConflict) {
			t.Fatalf("release at an old version: %v", err)
		}
		if err := s.Release(ctx, "alice", v5); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, "alice")
		if !got.LeaseUntil.IsZero() || got.Version == v5 {
			t.Fatalf("after release: %v lease %v", got, got.LeaseUntil)
		}
		if _, err := s.Claim(ctx, "alice", got.Version, clk.now().Add(time.Minute)); err != nil {
			t.Fatalf("claim after release: %v", err)
		}
		// Put (a reconnect) and MarkDisconnected drop the lease.
		v6, _ := s.Put(ctx, connected(t, k, "alice", "rt-new"))
		got, _ = s.Get(ctx, "alice")
		if !got.LeaseUntil.IsZero() {
			t.Fatal("lease survives a reconnect")
		}
		v7, _ := s.Claim(ctx, "alice", v6, clk.now().Add(time.Minute))
		v8, err := s.MarkDisconnected(ctx, "alice", v7, "invalid_grant", clk.now())
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, "alice")
		if !got.LeaseUntil.IsZero() {
			t.Fatal("lease survives a disconnect")
		}
		if _, err := s.Claim(ctx, "alice", v8, clk.now().Add(time.Minute)); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("claim on disconnected: %v", err)
		}
		if _, err := s.Claim(ctx, "alice", v8, time.Time{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("claim without an end: %v", err)
		}
	})
}

// raceClaim has n goroutines, spread over stores, each try to claim sub at
// version v; it returns how many won and the losers' errors.
func raceClaim(stores []Store, sub string, v int64, until time.Time, n int) (int, []error) {
	var (
		wins  atomic.Int64
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := stores[i%len(stores)].Claim(context.Background(), sub, v, until)
			if err == nil {
				wins.Add(1)
				return
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return int(wins.Load()), errs
}

// Two stores on one SQLite file stand for two server processes: of many
// claims at once, one wins; the rest learn it (conflict or leased).
func TestSQLiteTwoStoresClaimRaceOneWinner(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, b := openSQLite(t, path), openSQLite(t, path)
	v, err := a.Put(ctx, connected(t, k, "alice", "rt-0"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		wins, errs := raceClaim([]Store{a, b}, "alice", v, t0.Add(time.Minute), 40)
		if wins != 1 {
			t.Fatalf("round %d: %d claims won, want 1", round, wins)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrLeased) {
				t.Fatalf("round %d: a loser got %v", round, err)
			}
		}
		got, _ := b.Get(ctx, "alice")
		// The winner swaps, which frees the token for the next round.
		v, err = b.SwapRefresh(ctx, "alice", got.Version, sealFor(t, k, "alice", fmt.Sprintf("rt-%d", round+1)), t0)
		if err != nil {
			t.Fatalf("round %d: swap by the winner: %v", round, err)
		}
	}
}

// TestSQLiteClaimChainAcrossStores: workers on two stores each loop read,
// claim, "spend", swap; every token is spent exactly once, and no worker
// ever spends one while another holds it.
func TestSQLiteClaimChainAcrossStores(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []Store{openSQLite(t, path), openSQLite(t, path)}
	if _, err := stores[0].Put(ctx, connected(t, k, "alice", "rt-0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 8
	var (
		mu    sync.Mutex
		spent = map[string]int{}
		wg    sync.WaitGroup
		next  atomic.Int64
	)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for done := 0; done < each; {
				c, err := s.Get(ctx, "alice")
				if err != nil {
					t.Error(err)
					return
				}
				claimed, err := s.Claim(ctx, "alice", c.Version, t0.Add(time.Hour))
				if errors.Is(err, ErrConflict) || errors.Is(err, ErrLeased) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				old, err := k.Open("alice", c.Refresh)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				spent[old.Reveal()]++
				mu.Unlock()
				fresh := sealFor(t, k, "alice", fmt.Sprintf("rt-%d", next.Add(1)))
				if _, err := s.SwapRefresh(ctx, "alice", claimed, fresh, t0); err != nil {
					t.Errorf("swap after a claim: %v", err)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	if len(spent) != workers*each {
		t.Fatalf("%d distinct tokens spent, want %d", len(spent), workers*each)
	}
	for tok, n := range spent {
		if n != 1 {
			t.Fatalf("token %s spent %d times", tok, n)
		}
	}
}

func TestStoreFindByUser(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStoreClock(t, func(t *testing.T, s Store, clk *clock) {
		put := func(sub, zoomUser, email string, at time.Time) {
			t.Helper()
			c := connected(t, k, sub, "rt-"+sub)
			c.ZoomUserID, c.Email, c.ConnectedAt = zoomUser, email, at
			if _, err := s.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		put("alice@example.com", "ZU_alice", "Alice@Example.com", t0)
		put("bob@example.com", "ZU_bob", "bob@partner.example", t0)
		put("kelvin@example.com", "ZU_kelvin", "\u212aate@example.com", t0) // Kelvin sign, not K
		put("carol", "alice@example.com", "carol@example.com", t0)          // a Zoom id that looks like another's sub
		for _, c := range []struct{ key, want string }{
			{"alice@example.com", "alice@example.com"}, // by sub, before carol's odd Zoom id
			{"ZU_alice", "alice@example.com"},
			{"ALICE@EXAMPLE.COM", "alice@example.com"}, // by email, ASCII case folded
			{"BOB@partner.EXAMPLE", "bob@example.com"},
			{"ZU_bob", "bob@example.com"},
			{"carol", "carol"},
			{"kate@example.com", ""}, // the Kelvin sign does not fold to k
			{"zu_alice", ""},         // ids compare exactly
			{"nobody@example.com", ""},
			{"", ""},
		} {
			got, err := s.FindByUser(ctx, c.key)
			if c.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("FindByUser(%q) = %v, %v; want ErrNotFound", c.key, got.Sub, err)
				}
				continue
			}
			if err != nil || got.Sub != c.want {
				t.Errorf("FindByUser(%q) = %q, %v; want %q", c.key, got.Sub, err, c.want)
			}
		}
		// Two grants for one email: the connected one, then the latest.
		put("dave-old", "ZU_d1", "dave@example.com", t0.Add(-2*time.Hour))
		put("dave-new", "ZU_d2", "dave@example.com", t0.Add(-time.Hour))
		if got, _ := s.FindByUser(ctx, "dave@example.com"); got.Sub != "dave-new" {
			t.Fatalf("latest first: got %q", got.Sub)
		}
		c, _ := s.Get(ctx, "dave-new")
		if _, err := s.MarkDisconnected(ctx, "dave-new", c.Version, "invalid_grant", clk.now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.FindByUser(ctx, "dave@example.com"); got.Sub != "dave-old" {
			t.Fatalf("connected first: got %q", got.Sub)
		}
	})
}

// A file made by the first schema gains the lease column, keeps its rows,
// and opens again unchanged.
func TestSQLiteMigratesFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append([]string{
		`CREATE TABLE schema_version (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_version (id, version) VALUES (1, 1)`,
	}, migrations[0]...)
	stmts = append(stmts, `UPDATE version_seq SET n = 7`,
		`INSERT INTO connections (sub, zoom_user_id, email, account_id, status, reason, connected_at, scopes,
			refresh_key_id, refresh_sealed, version, updated_at)
		VALUES ('alice', 'ZU_a', 'a@example.com', 'acc', 'connected', '', '2026-03-01T12:00:00Z', 'user:read:token',
			'k1', X'0102', 7, '2026-03-01T12:00:00Z')`)
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	db.Close()

	for range 2 {
		s := openSQLite(t, path)
		if n, err := s.SchemaVersion(ctx); err != nil || n != 4 || n != len(migrations) {
			t.Fatalf("schema version %d, %v", n, err)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil || got.Version != 7 || !got.LeaseUntil.IsZero() || got.Refresh.KeyID != "k1" {
			t.Fatalf("migrated row: %v, %v", got, err)
		}
		if _, err := s.FindByUser(ctx, "A@EXAMPLE.COM"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	s := openSQLite(t, path)
	if v, err := s.Claim(ctx, "alice", 7, t0.Add(time.Minute)); err != nil || v != 8 {
		t.Fatalf("claim on a migrated row: v%d, %v", v, err)
	}
}
