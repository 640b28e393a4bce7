package services_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/internal/zoom/zoomtest"
	"github.com/zoomtoken/tokenserver/services"
)

const (
	gaID     = "general-app-id"
	gaSecret = "general-app-secret"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events records what the domain published.
type events struct {
	mu  sync.Mutex
	got []services.Event
}

func (e *events) Publish(_ context.Context, ev services.Event) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return true
}

func (e *events) list() []services.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]services.Event(nil), e.got...)
}

// countingStore counts reads and claims, to tell the single flight from
// the lease.
type countingStore struct {
	store.Store
	gets, claims atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, sub string) (store.Connection, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, sub)
}

func (s *countingStore) Claim(ctx context.Context, sub string, v int64, until time.Time) (int64, error) {
	s.claims.Add(1)
	return s.Store.Claim(ctx, sub, v, until)
}

func keyring(t *testing.T, spec ...string) *store.Keyring {
	t.Helper()
	var parts []string
	for _, id := range spec {
		parts = append(parts, id+":"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(id[:1]), 32)))
	}
	k, err := store.ParseKeyring(strings.Join(parts, ","))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type world struct {
	fz    *zoomtest.Server
	zc    *zoom.Client
	app   zoom.OAuthApp
	clk   *fakeClock
	ev    *events
	logs  *syncBuffer
	store store.Store
	keys  *store.Keyring
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newWorld(t *testing.T, store store.Store) *world {
	t.Helper()
	fz := zoomtest.New(gaID, gaSecret)
	t.Cleanup(fz.Close)
	fz.AddUser(zoomtest.User{ID: "ZU_alice", Email: "Alice@Partner.example", AccountID: "acc-partner"})
	fz.AddUser(zoomtest.User{ID: "ZU_bob", Email: "bob@example.com", AccountID: "acc-main"})
	w := &world{fz: fz, clk: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, ev: &events{}, logs: &syncBuffer{},
		store: store, keys: keyring(t, "k1")}
	zc, err := zoom.New(zoom.Config{OAuthURL: fz.TokenURL(), APIURL: fz.APIURL(), QPS: 1000, Now: w.clk.Now,
		Logger: slog.New(slog.NewTextHandler(w.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w.zc = zc
	w.app = zoom.OAuthApp{ClientID: gaID, ClientSecret: secret.New(gaSecret),
		RedirectURL:  "https://tokens.example/api/connections/zoom/callback",
		AuthorizeURL: fz.AuthorizeURL(), TokenURL: fz.TokenURL(), RevokeURL: fz.RevokeURL()}
	return w
}

func (w *world) conns(t *testing.T, store store.Store, keys *store.Keyring) *services.Connections {
	t.Helper()
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: store, Keyring: keys,
		Events: w.ev, Now: w.clk.Now, Logger: slog.New(slog.NewTextHandler(w.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func memWorld(t *testing.T) (*world, *services.Connections) {
	w := newWorld(t, store.NewMemoryStore(time.Now))
	w.store = store.NewMemoryStore(w.clk.Now)
	return w, w.conns(t, w.store, w.keys)
}

func sqliteStore(t *testing.T, path string, now func() time.Time) *store.SQLiteStore {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func caller(t *testing.T, sub string, role services.Role) services.Identity {
	t.Helper()
	u, bad := zoom.ParseUserID(sub)
	if bad != "" {
		t.Fatal(bad)
	}
	return services.Identity{Subject: sub, User: u, Role: role, Method: "jwt"}
}

// connect runs the whole flow for who, as Zoom user zoomUser.
func connect(t *testing.T, w *world, cs *services.Connections, who services.Identity, zoomUser string) (store.Connection, error) {
	t.Helper()
	u, ttl, err := cs.Authorize(context.Background(), who)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 10*time.Minute {
		t.Fatalf("state lives %v", ttl)
	}
	code, state := w.fz.Consent(u, zoomUser)
	return cs.Complete(context.Background(), state, code, "")
}

func TestConnectFlow(t *testing.T) {
	w, cs := memWorld(t)
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	u, _, err := cs.Authorize(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	code, state := w.fz.Consent(u, "ZU_alice")
	c, err := cs.Complete(ctx, state, code, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "alice@partner.example" || c.ZoomUserID != "ZU_alice" || c.AccountID != "acc-partner" ||
		c.Status != store.StatusConnected || c.Refresh.KeyID != "k1" {
		t.Fatalf("connection %v", c)
	}
	if ev := w.ev.list(); len(ev) != 1 || ev[0].Kind != services.ConnectionChanged || ev[0].Status != "connected" || ev[0].User.Key() != "alice@partner.example" {
		t.Fatalf("events %+v", ev)
	}
	// The state is single use.
	if _, err := cs.Complete(ctx, state, code, ""); !errors.Is(err, apperr.ErrInvalidInput) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replayed state: %v", err)
	}
	if _, err := cs.Complete(ctx, "made-up", code, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("unknown state: %v", err)
	}
	// Expired after 10 minutes.
	u, _, _ = cs.Authorize(ctx, alice)
	code, state = w.fz.Consent(u, "ZU_alice")
	w.clk.Add(10*time.Minute + time.Second)
	if _, err := cs.Complete(ctx, state, code, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("expired state: %v", err)
	}
	// Consent denied.
	u, _, _ = cs.Authorize(ctx, alice)
	_, state = w.fz.Consent(u, "ZU_alice")
	_, err = cs.Complete(ctx, state, "", "access_denied")
	if !errors.Is(err, apperr.ErrForbidden) || !strings.Contains(apperr.PublicMessage(err), "denied") {
		t.Fatalf("denied: %v", err)
	}
	// A state bound to alice, completed by Zoom user bob: refused, and bob's grant revoked.
	revokes := w.fz.Counts().Revokes
	if _, err := connect(t, w, cs, alice, "ZU_bob"); !errors.Is(err, apperr.ErrForbidden) || !strings.Contains(apperr.PublicMessage(err), "bob@example.com") {
		t.Fatalf("another Zoom user: %v", err)
	}
	if w.fz.Counts().Revokes != revokes+1 {
		t.Fatal("the foreign grant was not revoked")
	}
	// An API key is no user.
	if _, _, err := cs.Authorize(ctx, services.Identity{Subject: "api-key:x", Role: services.RoleAdmin, Method: "api_key"}); !errors.Is(err, apperr.ErrForbidden) {
		t.Fatalf("api key: %v", err)
	}
	got, _ := cs.Get(ctx, alice, "ALICE@partner.example")
	if got.ZoomUserID != "ZU_alice" {
		t.Fatalf("still connected as before: %v", got)
	}
}

func TestConnectNeedsTokenScope(t *testing.T) {
	w, cs := memWorld(t)
	w.fz.Lock(func(s *zoomtest.Server) { s.Scope = "user:read:user meeting:read:meeting" })
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	_, err := connect(t, w, cs, alice, "ZU_alice")
	msg := apperr.PublicMessage(err)
	if err == nil || !strings.Contains(msg, "user:read:token") || !strings.Contains(msg, "Scopes") {
		t.Fatalf("missing scope: %v", err)
	}
	if list, _ := w.store.List(context.Background()); len(list) != 0 {
		t.Fatalf("stored %v", list)
	}
	if w.fz.Counts().Revokes != 1 {
		t.Fatal("the useless grant was not revoked")
	}
}

func TestConnectionsWhoSeesWhat(t *testing.T) {
	w, cs := memWorld(t)
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	bob := caller(t, "bob@example.com", services.RoleHost)
	admin := caller(t, "admin@example.com", services.RoleAdmin)
	if _, err := connect(t, w, cs, alice, "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, w, cs, bob, "ZU_bob"); err != nil {
		t.Fatal(err)
	}
	if l, _ := cs.List(ctx, alice); len(l) != 1 || l[0].Sub != "alice@partner.example" {
		t.Fatalf("alice lists %v", l)
	}
	if l, _ := cs.List(ctx, admin); len(l) != 2 {
		t.Fatalf("admin lists %v", l)
	}
	if _, err := cs.Get(ctx, bob, "alice@partner.example"); !errors.Is(err, apperr.ErrForbidden) {
		t.Fatalf("bob gets alice's: %v", err)
	}
	if err := cs.Delete(ctx, bob, "alice@partner.example"); !errors.Is(err, apperr.ErrForbidden) {
		t.Fatalf("bob deletes alice's: %v", err)
	}
	if _, err := cs.Get(ctx, admin, "nobody@example.com"); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// Delete revokes at Zoom, then forgets.
	if err := cs.Delete(ctx, alice, "alice@partner.example"); err != nil {
		t.Fatal(err)
	}
	if w.fz.LiveRefreshTokens("ZU_alice") != 1 || len(w.fz.RevokedTokens()) != 1 {
		t.Fatal("the refresh token was not revoked")
	}
	if _, err := w.zc.Refresh(ctx, w.app, secret.New(w.fz.RevokedTokens()[0])); !errors.Is(err, apperr.ErrConnectionLost) {
		t.Fatalf("the revoked grant still refreshes: %v", err)
	}
	if l, _ := cs.List(ctx, alice); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
	if err := cs.Delete(ctx, admin, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sourceFor(t, cs, "bob@example.com"); ok {
		t.Fatal("a deleted connection still has a source")
	}
}

func sourceFor(t *testing.T, cs *services.Connections, user string) (zoom.TokenSource, bool) {
	t.Helper()
	u, _ := zoom.ParseUserID(user)
	src, _, ok, err := cs.SourceFor(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return src, ok
}

func TestSourceForMintsWithTheConnection(t *testing.T) {
	w, cs := memWorld(t)
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	if _, err := connect(t, w, cs, alice, "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"alice@partner.example", "ZU_alice", "ALICE@PARTNER.EXAMPLE"} {
		u, _ := zoom.ParseUserID(key)
		src, acct, ok, err := cs.SourceFor(ctx, u)
		if err != nil || !ok || acct != "acc-partner" {
			t.Fatalf("SourceFor(%s) = %v %v %v", key, acct, ok, err)
		}
		m, _ := zoom.MeetingIDFromString("85746065432")
		tok, err := w.zc.MintAs(ctx, src, acct, zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: u, MeetingID: m})
		if err != nil || tok.Value.Empty() {
			t.Fatalf("MintAs: %v", err)
		}
	}
	if _, ok := sourceFor(t, cs, "ZU_nobody"); ok {
		t.Fatal("a source for a user without a connection")
	}
	// The access token from the code exchange serves until near its expiry.
	if n := w.fz.Counts().Refreshes; n != 0 {
		t.Fatalf("%d refreshes with a fresh access token", n)
	}
	// A token Zoom refused (124) is dropped, and the next mint refreshes.
	w.fz.ExpireAccessTokens()
	src, _ := sourceFor(t, cs, "ZU_alice")
	u, _ := zoom.ParseUserID("ZU_alice")
	if _, err := w.zc.MintAs(ctx, src, "acc-partner", zoom.MintRequest{Type: zoom.TokenZAK, UserID: u}); err != nil {
		t.Fatalf("after Zoom dropped the access token: %v", err)
	}
	if n := w.fz.Counts().Refreshes; n != 1 {
		t.Fatalf("%d refreshes after a 124, want 1", n)
	}
}

// 100 callers at once for one user whose access token expired: one refresh
// at Zoom, and one claim of the refresh token (the single flight, not only
// the lease, held the others back).
func TestOneRefreshForManyCallers(t *testing.T) {
	w := newWorld(t, nil)
	store := &countingStore{Store: store.NewMemoryStore(w.clk.Now)}
	cs := w.conns(t, store, w.keys)
	if _, err := connect(t, w, cs, caller(t, "alice@partner.example", services.RoleParticipant), "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	w.fz.Lock(func(s *zoomtest.Server) { s.RefreshDelay = 30 * time.Millisecond })
	w.clk.Add(time.Hour)
	src, _ := sourceFor(t, cs, "ZU_alice")
	store.gets.Store(0)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		values = map[secret.Value]int{}
		start  = make(chan struct{})
	)
	for range 100 {
		wg.Go(func() {
			<-start
			v, err := src.Token(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			values[v]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if c := w.fz.Counts(); c.Refreshes != 1 || c.RefreshReused != 0 {
		t.Fatalf("100 callers: %+v, want exactly one refresh", c)
	}
	if g, c := store.gets.Load(), store.claims.Load(); g != 1 || c != 1 {
		t.Fatalf("%d reads and %d claims of the connection, want 1 and 1: the refreshes did not share one flight", g, c)
	}
	if len(values) != 1 {
		t.Fatalf("%d different access tokens handed out", len(values))
	}
}

// Two processes (two Connections, two stores on one SQLite file) refresh
// one user's grant under concurrent demand: no refresh token is ever sent
// twice, and the grant survives.
func TestTwoProcessesNeverSpendARefreshTokenTwice(t *testing.T) {
	w := newWorld(t, nil)
	path := filepath.Join(t.TempDir(), "connections.db")
	a := w.conns(t, sqliteStore(t, path, w.clk.Now), w.keys)
	b := w.conns(t, sqliteStore(t, path, w.clk.Now), w.keys)
	if _, err := connect(t, w, a, caller(t, "alice@partner.example", services.RoleParticipant), "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	w.fz.Lock(func(s *zoomtest.Server) { s.RefreshDelay = 10 * time.Millisecond })
	const rounds, each = 5, 20
	for round := range rounds {
		w.clk.Add(time.Hour) // both processes' access tokens expire
		var wg sync.WaitGroup
		for i := range 2 * each {
			cs := a
			if i%2 == 1 {
				cs = b
			}
			wg.Go(func() {
				src, ok := sourceFor(t, cs, "alice@partner.example")
				if !ok {
					t.Error("no source")
					return
				}
				if _, err := src.Token(context.Background()); err != nil {
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	c := w.fz.Counts()
	if c.RefreshReused != 0 || c.RefreshUnknown != 0 {
		t.Fatalf("a refresh token was spent twice: %+v", c)
	}
	if c.Refreshes != 2*rounds {
		t.Fatalf("%d refreshes, want one per process per round (%d)", c.Refreshes, 2*rounds)
	}
	if w.fz.LiveRefreshTokens("ZU_alice") != 1 {
		t.Fatal("want exactly one live refresh token")
	}
}

func TestInvalidGrantDisconnects(t *testing.T) {
	w, cs := memWorld(t)
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	if _, err := connect(t, w, cs, alice, "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	src, _ := sourceFor(t, cs, "ZU_alice")
	w.fz.RevokeUser("ZU_alice") // the user removed the app in Zoom
	w.clk.Add(time.Hour)
	_, err := src.Token(ctx)
	if !errors.Is(err, apperr.ErrConnectionLost) || apperr.Code(err) != "connection_lost" {
		t.Fatalf("Token after invalid_grant: %v", err)
	}
	c, _ := cs.Get(ctx, alice, "alice@partner.example")
	if c.Status != store.StatusDisconnected || c.Reason != "invalid_grant" || !c.Refresh.IsZero() {
		t.Fatalf("connection %v", c)
	}
	ev := w.ev.list()
	last := ev[len(ev)-1]
	if last.Kind != services.ConnectionChanged || last.Status != "disconnected" || last.Reason != "invalid_grant" || last.User.Key() != "alice@partner.example" {
		t.Fatalf("event %+v", last)
	}
	u, _ := zoom.ParseUserID("ZU_alice")
	if _, _, ok, err := cs.SourceFor(ctx, u); !ok || !errors.Is(err, apperr.ErrConnectionLost) {
		t.Fatalf("SourceFor a lost connection: %v %v", ok, err)
	}
	// Reconnecting makes it usable again.
	w.fz.Lock(func(s *zoomtest.Server) {})
	w.fz.AddUser(zoomtest.User{ID: "ZU_alice2", Email: "alice@partner.example", AccountID: "acc-partner"})
	if _, err := connect(t, w, cs, alice, "ZU_alice2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sourceFor(t, cs, "alice@partner.example"); !ok {
		t.Fatal("no source after reconnect")
	}
}

// The database file, its WAL and the logs hold none of the tokens Zoom
// issued, after connects, refreshes, mints and a deletion.
func TestNoTokenInTheDatabaseOrLogs(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "connections.db")
	store := sqliteStore(t, path, w.clk.Now)
	cs := w.conns(t, store, w.keys)
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	bob := caller(t, "bob@example.com", services.RoleHost)
	if _, err := connect(t, w, cs, alice, "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, w, cs, bob, "ZU_bob"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.clk.Add(time.Hour)
		for _, who := range []string{"ZU_alice", "ZU_bob"} {
			src, _ := sourceFor(t, cs, who)
			u, _ := zoom.ParseUserID(who)
			if _, err := w.zc.MintAs(ctx, src, "acc", zoom.MintRequest{Type: zoom.TokenZAK, UserID: u}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cs.Delete(ctx, bob, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	w.fz.RevokeUser("ZU_alice")
	w.clk.Add(time.Hour)
	src, _ := sourceFor(t, cs, "ZU_alice")
	if _, err := src.Token(ctx); !errors.Is(err, apperr.ErrConnectionLost) {
		t.Fatal(err)
	}
	issued := w.fz.Issued()
	if len(issued) < 12 {
		t.Fatalf("only %d tokens issued", len(issued))
	}
	var files []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	logs := w.logs.String()
	for _, tok := range issued {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(tok)) {
				t.Fatalf("%s holds a token Zoom issued", filepath.Base(f))
			}
		}
		if strings.Contains(logs, tok) {
			t.Fatal("the logs hold a token Zoom issued")
		}
	}
}

// After a key rotation, a record sealed with the old key opens, and the
// next refresh re-seals it with the new one.
func TestKeyRotationReseals(t *testing.T) {
	w := newWorld(t, nil)
	store := store.NewMemoryStore(w.clk.Now)
	old := w.conns(t, store, keyring(t, "k1"))
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	if _, err := connect(t, w, old, alice, "ZU_alice"); err != nil {
		t.Fatal(err)
	}
	rotated := w.conns(t, store, keyring(t, "k2", "k1")) // a restart with the new key first
	w.clk.Add(time.Hour)
	src, _ := sourceFor(t, rotated, "ZU_alice")
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatalf("refresh of a record sealed with the old key: %v", err)
	}
	c, _ := store.Get(context.Background(), "alice@partner.example")
	if c.Refresh.KeyID != "k2" {
		t.Fatalf("sealed with %q after the refresh, want k2", c.Refresh.KeyID)
	}
	if _, err := keyring(t, "k2").Open("alice@partner.example", c.Refresh); err != nil {
		t.Fatalf("the new key alone does not open it: %v", err)
	}
	if w.fz.Counts().Refreshes != 1 {
		t.Fatal(fmt.Sprint(w.fz.Counts()))
	}
}

// Authorize links are bounded: per caller (the oldest retires) and in all.
func TestAuthorizeLinksAreBounded(t *testing.T) {
	w := newWorld(t, nil)
	w.store = store.NewMemoryStore(w.clk.Now)
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: w.store, Keyring: w.keys,
		Now: w.clk.Now, MaxPending: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	var urls []string
	for range 6 {
		u, _, err := cs.Authorize(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, u)
	}
	code, state := w.fz.Consent(urls[0], "ZU_alice")
	if _, err := cs.Complete(ctx, state, code, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("the oldest of six links: %v", err)
	}
	code, state = w.fz.Consent(urls[5], "ZU_alice")
	if _, err := cs.Complete(ctx, state, code, ""); err != nil {
		t.Fatalf("the newest link: %v", err)
	}
	// Four links left for alice; four more callers fill the table of 8.
	for i := range 4 {
		if _, _, err := cs.Authorize(ctx, caller(t, fmt.Sprintf("u%d@example.com", i), services.RoleParticipant)); err != nil {
			t.Fatal(err)
		}
	}
	// A full table refuses no one: the oldest link of all (alice's second)
	// makes room.
	if _, _, err := cs.Authorize(ctx, caller(t, "late@example.com", services.RoleParticipant)); err != nil {
		t.Fatalf("a full table: %v", err)
	}
	code, state = w.fz.Consent(urls[1], "ZU_alice")
	if _, err := cs.Complete(ctx, state, code, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("the oldest link of a full table: %v", err)
	}
	code, state = w.fz.Consent(urls[2], "ZU_alice")
	if _, err := cs.Complete(ctx, state, code, ""); err != nil {
		t.Fatalf("the next link of a full table: %v", err)
	}
}

// Many identities behind one address cannot fill the table of links: the
// address is refused (rate_limited, Retry-After: until its oldest link
// expires) beyond its cap, while another address, and the same identities
// from elsewhere, still get links.
func TestAuthorizeLinksPerAddress(t *testing.T) {
	w := newWorld(t, nil)
	w.store = store.NewMemoryStore(w.clk.Now)
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: w.store, Keyring: w.keys,
		Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr string) context.Context { return services.WithClientAddr(context.Background(), addr) }
	for i := range store.MaxPendingPerAddr {
		if _, _, err := cs.Authorize(from("203.0.113.7"), caller(t, fmt.Sprintf("m%d@example.com", i), services.RoleParticipant)); err != nil {
			t.Fatalf("link %d: %v", i+1, err)
		}
		w.clk.Add(time.Second)
	}
	_, _, err = cs.Authorize(from("203.0.113.7"), caller(t, "one-more@example.com", services.RoleParticipant))
	e, ok := apperr.As(err)
	if !errors.Is(err, apperr.ErrRateLimited) || !ok || e.RetryAfter <= 0 || e.RetryAfter > 10*time.Minute-time.Duration(store.MaxPendingPerAddr-1)*time.Second {
		t.Fatalf("the address beyond its cap: %v", err)
	}
	if !strings.Contains(e.Message, "your address") {
		t.Errorf("message %q", e.Message)
	}
	// Another address, and one of the same identities from elsewhere.
	if _, _, err := cs.Authorize(from("198.51.100.2"), caller(t, "alice@partner.example", services.RoleParticipant)); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, _, err := cs.Authorize(from("198.51.100.3"), caller(t, "m0@example.com", services.RoleParticipant)); err != nil {
		t.Fatalf("the same identity from another address: %v", err)
	}
	// Once the address's oldest link expires, it has room again.
	w.clk.Add(e.RetryAfter)
	if _, _, err := cs.Authorize(from("203.0.113.7"), caller(t, "one-more@example.com", services.RoleParticipant)); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
}

// One identity making links from many addresses keeps only its last
// MaxPendingPerSub; the others' links stand.
func TestAuthorizeLinksPerSubFromManyAddresses(t *testing.T) {
	w := newWorld(t, nil)
	w.store = store.NewMemoryStore(w.clk.Now)
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: w.store, Keyring: w.keys,
		Now: w.clk.Now, MaxPending: 20})
	if err != nil {
		t.Fatal(err)
	}
	bob := caller(t, "bob@example.com", services.RoleParticipant)
	u, _, err := cs.Authorize(services.WithClientAddr(context.Background(), "192.0.2.1"), bob)
	if err != nil {
		t.Fatal(err)
	}
	mallory := caller(t, "mallory@example.com", services.RoleParticipant)
	for i := range 1000 {
		if _, _, err := cs.Authorize(services.WithClientAddr(context.Background(), fmt.Sprintf("10.0.%d.%d", i/250, i%250)), mallory); err != nil {
			t.Fatalf("link %d: %v", i+1, err)
		}
	}
	code, state := w.fz.Consent(u, "ZU_bob")
	if _, err := cs.Complete(context.Background(), state, code, ""); err != nil {
		t.Fatalf("bob's link after mallory's 1000: %v", err)
	}
}
