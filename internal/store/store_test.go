package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func fixedClock() func() time.Time { return func() time.Time { return t0 } }

// storeKinds opens a fresh store of each kind.
var storeKinds = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return NewMemoryStore(fixedClock()) }},
	{"sqlite", func(t *testing.T) Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "db", "connections.db"))
	}},
	{"postgres", func(t *testing.T) Store { return openPostgres(t, newPostgresDB(t), fixedClock()) }},
	{"deferred", func(t *testing.T) Store {
		d := NewDeferred()
		if !d.Set(NewMemoryStore(fixedClock())) {
			t.Fatal("Set refused")
		}
		return d
	}},
}

func openSQLite(t *testing.T, path string) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, fixedClock())
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func eachStore(t *testing.T, f func(t *testing.T, s Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.open(t)) })
	}
}

func sealFor(t *testing.T, k *Keyring, sub, tok string) Sealed {
	t.Helper()
	s, err := k.Seal(sub, NewToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func connected(t *testing.T, k *Keyring, sub, tok string) Connection {
	return Connection{
		Sub: sub, ZoomUserID: "zu-" + sub, Email: sub + "@example.com", AccountID: "acc1",
		Status: StatusConnected, ConnectedAt: t0.Add(-time.Hour).In(time.FixedZone("x", 3600)),
		Scopes: []string{"user:read:token", "user:read:user"}, Refresh: sealFor(t, k, sub, tok),
	}
}

func TestStorePutGetListDelete(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		if _, err := s.Get(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v", err)
		}
		c := connected(t, k, "alice", "rt-a1")
		v1, err := s.Put(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := c
		want.Version = v1
		want.ConnectedAt = c.ConnectedAt.UTC()
		want.RefreshedAt = want.ConnectedAt // defaults to the connect time
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Get:\n got %#v %v %v\nwant %#v %v %v", got, got.ConnectedAt, got.RefreshedAt, want, want.ConnectedAt, want.RefreshedAt)
		}
		if tok, err := k.Open("alice", got.Refresh); err != nil || tok.Reveal() != "rt-a1" {
			t.Fatalf("stored token does not open: %v", err)
		}

		// Put replaces, with a new version.
		c2 := connected(t, k, "alice", "rt-a2")
		c2.Email = "new@example.com"
		v2, err := s.Put(ctx, c2)
		if err != nil || v2 <= v1 {
			t.Fatalf("replace: v%d -> v%d, %v", v1, v2, err)
		}
		got, _ = s.Get(ctx, "alice")
		if got.Email != "new@example.com" || got.Version != v2 {
			t.Fatalf("after replace: %v", got)
		}

		if _, err := s.Put(ctx, connected(t, k, "bob", "rt-b1")); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 2 || list[0].Sub != "alice" || list[1].Sub != "bob" {
			t.Fatalf("List = %v, %v", list, err)
		}

		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := s.Get(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		// The caller's copy is not aliased by the store.
		list[1].Scopes[0] = "mutated"
		got, _ = s.Get(ctx, "bob")
		if got.Scopes[0] != "user:read:token" {
			t.Fatal("List returned memory shared with the store")
		}
	})
}

func TestStorePutRefusesInvalid(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		ok := connected(t, k, "alice", "rt")
		bad := map[string]func(c *Connection){
			"empty sub":         func(c *Connection) { c.Sub = "" },
			"no status":         func(c *Connection) { c.Status = "" },
			"odd status":        func(c *Connection) { c.Status = "maybe" },
			"connected, no tok": func(c *Connection) { c.Refresh = Sealed{} },
			"scope with space":  func(c *Connection) { c.Scopes = []string{"a b"} },
			"disconnected, no reason": func(c *Connection) {
				c.Status = StatusDisconnected
			},
		}
		for name, mutate := range bad {
			c := ok.clone()
			mutate(&c)
			if _, err := s.Put(ctx, c); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Fatalf("refused puts stored %v", list)
		}
	})
}

func TestStoreSwapRefresh(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		if _, err := s.SwapRefresh(ctx, "alice", 1, sealFor(t, k, "alice", "x"), t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("swap on missing: %v", err)
		}
		v1, _ := s.Put(ctx, connected(t, k, "alice", "rt-1"))
		at := t0.Add(time.Minute)
		v2, err := s.SwapRefresh(ctx, "alice", v1, sealFor(t, k, "alice", "rt-2"), at)
		if err != nil || v2 <= v1 {
			t.Fatalf("swap: v%d -> v%d, %v", v1, v2, err)
		}
		got, _ := s.Get(ctx, "alice")
		if tok, _ := k.Open("alice", got.Refresh); tok.Reveal() != "rt-2" || !got.RefreshedAt.Equal(at) || got.Version != v2 {
			t.Fatalf("after swap: %v refreshed %v", got, got.RefreshedAt)
		}
		// The version read before the swap is stale now.
		if _, err := s.SwapRefresh(ctx, "alice", v1, sealFor(t, k, "alice", "rt-3"), at); !errors.Is(err, ErrConflict) {
			t.Fatalf("stale swap: %v", err)
		}
		got, _ = s.Get(ctx, "alice")
		if tok, _ := k.Open("alice", got.Refresh); tok.Reveal() != "rt-2" || got.Version != v2 {
			t.Fatal("a refused swap changed the row")
		}
		if _, err := s.SwapRefresh(ctx, "alice", v2, Sealed{}, at); !errors.Is(err, ErrInvalid) {
			t.Fatalf("swap with nothing sealed: %v", err)
		}
		// A reconnect (Put) also makes an earlier version stale.
		v3, _ := s.Put(ctx, connected(t, k, "alice", "rt-new-grant"))
		if _, err := s.SwapRefresh(ctx, "alice", v2, sealFor(t, k, "alice", "rt-old-grant"), at); !errors.Is(err, ErrConflict) {
			t.Fatalf("swap across a reconnect: %v", err)
		}
		// Disconnected: even the current version cannot swap.
		v4, err := s.MarkDisconnected(ctx, "alice", v3, "invalid_grant", at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SwapRefresh(ctx, "alice", v4, sealFor(t, k, "alice", "rt-z"), at); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("swap on disconnected: %v", err)
		}
	})
}

func TestStoreMarkDisconnected(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		if _, err := s.MarkDisconnected(ctx, "alice", AnyVersion, "invalid_grant", t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		v1, _ := s.Put(ctx, connected(t, k, "alice", "rt-1"))
		if _, err := s.MarkDisconnected(ctx, "alice", v1+1000, "invalid_grant", t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("wrong version: %v", err)
		}
		if _, err := s.MarkDisconnected(ctx, "alice", v1, "", t0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty reason: %v", err)
		}
		at := t0.Add(2 * time.Minute)
		v2, err := s.MarkDisconnected(ctx, "alice", v1, "invalid_grant", at)
		if err != nil || v2 <= v1 {
			t.Fatalf("v%d -> v%d, %v", v1, v2, err)
		}
		got, _ := s.Get(ctx, "alice")
		if got.Status != StatusDisconnected || got.Reason != "invalid_grant" || !got.DisconnectedAt.Equal(at) || !got.Refresh.IsZero() {
			t.Fatalf("after disconnect: %v at %v sealed %v", got, got.DisconnectedAt, got.Refresh)
		}
		v3, err := s.MarkDisconnected(ctx, "alice", AnyVersion, "app_deauthorized", at)
		if err != nil || v3 <= v2 {
			t.Fatalf("AnyVersion: %v", err)
		}
		// Reconnecting clears the reason and the time.
		if _, err := s.Put(ctx, connected(t, k, "alice", "rt-2")); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, "alice")
		if got.Status != StatusConnected || got.Reason != "" || !got.DisconnectedAt.IsZero() {
			t.Fatalf("after reconnect: %v", got)
		}
	})
}

// A connection deleted and made again must not take a version a refresher
// may still hold from before.
func TestStoreVersionsNeverReused(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		v1, _ := s.Put(ctx, connected(t, k, "alice", "rt-1"))
		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		v2, _ := s.Put(ctx, connected(t, k, "alice", "rt-2"))
		if v2 == v1 {
			t.Fatalf("version %d reused after delete", v1)
		}
		if _, err := s.SwapRefresh(ctx, "alice", v1, sealFor(t, k, "alice", "rt-stale"), t0); !errors.Is(err, ErrConflict) {
			t.Fatalf("stale version from a deleted row: %v", err)
		}
	})
}

// raceSwap has n goroutines each try to replace the token of sub at
// version v, spread over stores; it returns how many won and the errors of
// those that lost.
func raceSwap(t *testing.T, stores []Store, k *Keyring, sub string, v int64, n int) (int, []error) {
	t.Helper()
	var (
		wins  atomic.Int64
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := range n {
		sealed := sealFor(t, k, sub, fmt.Sprintf("rt-racer-%d", i))
		wg.Go(func() {
			<-start
			_, err := stores[i%len(stores)].SwapRefresh(context.Background(), sub, v, sealed, t0)
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

func TestStoreSwapRaceOneWinner(t *testing.T) {
	k := GenerateKeyring()
	eachStore(t, func(t *testing.T, s Store) {
		v, _ := s.Put(context.Background(), connected(t, k, "alice", "rt-0"))
		wins, errs := raceSwap(t, []Store{s}, k, "alice", v, 50)
		checkOneWinner(t, wins, errs, 50)
	})
}

// Two stores on one SQLite file stand for two server processes.
func TestSQLiteTwoStoresSwapRaceOneWinner(t *testing.T) {
	k := GenerateKeyring()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, b := openSQLite(t, path), openSQLite(t, path)
	v, err := a.Put(context.Background(), connected(t, k, "alice", "rt-0"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		wins, errs := raceSwap(t, []Store{a, b}, k, "alice", v, 50)
		checkOneWinner(t, wins, errs, 50)
		got, err := b.Get(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version == v {
			t.Fatalf("round %d: version did not move", round)
		}
		v = got.Version
	}
}

func checkOneWinner(t *testing.T, wins int, errs []error, n int) {
	t.Helper()
	if wins != 1 {
		t.Fatalf("%d of %d racers won, want exactly 1", wins, n)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("a loser got %v, want ErrConflict", err)
		}
	}
	if len(errs) != n-1 {
		t.Fatalf("%d losers, want %d", len(errs), n-1)
	}
}

// TestSQLiteRefreshChainAcrossStores runs refreshers on two stores sharing
// a file, each looping read, refresh, compare-and-swap, as the refresh path
// will. Every token must be spent (read and replaced) exactly once.
func TestSQLiteRefreshChainAcrossStores(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []Store{openSQLite(t, path), openSQLite(t, path)}
	if _, err := stores[0].Put(ctx, connected(t, k, "alice", "rt-0")); err != nil {
		t.Fatal(err)
	}
	const workers, refreshesEach = 8, 10
	var (
		mu    sync.Mutex
		spent = map[string]int{}
		wg    sync.WaitGroup
		next  atomic.Int64
	)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for done := 0; done < refreshesEach; {
				c, err := s.Get(ctx, "alice")
				if err != nil {
					t.Error(err)
					return
				}
				old, err := k.Open("alice", c.Refresh)
				if err != nil {
					t.Error(err)
					return
				}
				fresh := sealFor(t, k, "alice", fmt.Sprintf("rt-%d", next.Add(1)))
				_, err = s.SwapRefresh(ctx, "alice", c.Version, fresh, t0)
				if errors.Is(err, ErrConflict) {
					continue // someone else refreshed first: read again
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				spent[old.Reveal()]++
				mu.Unlock()
				done++
			}
		})
	}
	wg.Wait()
	if len(spent) != workers*refreshesEach {
		t.Fatalf("%d distinct tokens spent, want %d", len(spent), workers*refreshesEach)
	}
	for tok, n := range spent {
		if n != 1 {
			t.Fatalf("token %s spent %d times", tok, n)
		}
	}
}

func TestOpenDatabaseURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "memory", fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*MemoryStore); !ok {
		t.Fatalf("memory gave %T", s)
	}
	path := filepath.Join(dir, "a", "b", "c.db")
	s, err = Open(ctx, "sqlite:"+path, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*SQLiteStore); !ok {
		t.Fatalf("sqlite gave %T", s)
	}
	s.Close()

	refused := []struct{ in, want string }{
		{"", "empty"},
		{"postgres://u:hunter22@db:notaport/x", "malformed"},
		{"postgresql://u:hunter22@db/x?sslmode=maybe", "malformed"},
		{"mysql://u:hunter22@db/x", `scheme "mysql"`},
		{"sqlite:", "needs a path"},
		{"sqlite://" + path, "write sqlite:PATH"},
		{"sqlite:" + path + "?mode=ro", "may not contain"},
		{"Memory", "use memory, sqlite:PATH or postgres://"},
		{"/tmp/x.db", "use memory, sqlite:PATH or postgres://"},
	}
	for _, c := range refused {
		_, err := Open(ctx, c.in, fixedClock())
		if !errors.Is(err, ErrUnsupportedDatabase) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want ErrUnsupportedDatabase saying %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter22") {
			t.Errorf("Open(%q) echoes a password: %v", c.in, err)
		}
	}
}

// A nil clock means the wall clock, for both stores.
func TestOpenWithoutClock(t *testing.T) {
	for _, url := range []string{"memory", "sqlite:" + t.TempDir() + "/c.db"} {
		s, err := Open(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(context.Background(), Connection{Sub: "a@example.com", ZoomUserID: "zu1", Email: "a@example.com",
			AccountID: "acct", Status: StatusConnected, Refresh: Sealed{KeyID: "k1", Ciphertext: []byte("x")}}); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		_ = s.Close()
	}
}
