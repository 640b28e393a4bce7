package main

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// onServer is u's path and query on the server at base: a callback URL made by an
// earlier process (on another port) as the platform would call it now.
func onServer(t *testing.T, base, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return base + pu.Path + "?" + pu.RawQuery
}

// A restart of the real server process, with DATABASE_URL=sqlite:FILE and
// no Redis, forgets nothing that guards a token: a revoked 30-day URL stays
// revoked, a spent single-use URL stays spent, a webhook answered
// duplicate is still a duplicate; and a URL made with an API key removed
// from API_KEYS at the restart mints no more. A URL nobody revoked still
// answers (the same key signs it), so the refusals are the state's.
func TestGuardStateSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	sb := newSandbox(t, sandbox.Options{})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	const secondKey = "second-api-key-0123456789abcdef"
	env := zoomEnv(sb)
	env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "state", "tokenserver.db")
	env["CALLBACK_URL_KEY"] = testCallbackKey
	env["PUBLIC_URL"] = "http://127.0.0.1:9"
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	env["API_KEYS"] = testAPIKey + "," + secondKey
	env["LOG_LEVEL"] = "info"

	a := startProcess(t, sb, env)
	host := bearer(t, "host@example.com", "host")
	revoked := a.callbackURL(t, host, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 30 * 24 * 3600})
	kept := a.callbackURL(t, host, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 30 * 24 * 3600})
	once := a.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userId": "pat@example.com", "meetingId": meeting, "expiresInSeconds": 3600, "singleUse": true})
	byKey := a.callbackURL(t, map[string]string{"X-API-Key": secondKey}, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 3600})
	for name, u := range map[string]string{"revoked": revoked, "kept": kept, "single-use": once, "second key's": byKey} {
		s, h, b := recallGet(t, onServer(t, a.URL, u))
		wantToken(t, a, name+" URL before the restart", s, h, b)
	}
	if r := a.do("POST", "/api/callback-urls/revoke", map[string]any{"url": revoked}, host); r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke = %d %s", r.Status, r.Raw)
	}
	s, _, b := recallGet(t, onServer(t, a.URL, revoked))
	wantRefused(t, "revoked URL before the restart", s, b, 403, "forbidden", "revoked")
	s, _, b = recallGet(t, onServer(t, a.URL, once))
	wantRefused(t, "spent URL before the restart", s, b, 403, "forbidden", "already used")

	stamp := time.Now()
	body := joinedBody(meeting, "pat@example.com", 7, stamp)
	if r := a.hook(body, webhookSecret, stamp); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook = %d %s", r.Status, r.Raw)
	}
	if r := a.hook(body, webhookSecret, stamp); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("webhook again = %d %s", r.Status, r.Raw)
	}
	a.stop()

	// The restart: the same database and keys, but the second API key
	// withdrawn.
	env["API_KEYS"] = testAPIKey
	b2 := startProcess(t, sb, env)
	// Each check on its own (Errorf): every one of them failed before.
	for _, c := range []struct{ what, url, words string }{
		{"revoked URL after the restart", revoked, "revoked"},
		{"spent URL after the restart", once, "already used"},
		{"URL of a withdrawn API key", byKey, "no longer accepted"},
	} {
		if s, _, b := recallGet(t, onServer(t, b2.URL, c.url)); s != 403 || !strings.Contains(b, `"code":"forbidden"`) || !strings.Contains(b, c.words) {
			t.Errorf("%s = %d %s; want 403 forbidden mentioning %q", c.what, s, b, c.words)
		}
	}
	if r := b2.hook(body, webhookSecret, stamp); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Errorf("webhook replayed after the restart = %d %s; want 200 duplicate", r.Status, r.Raw)
	}
	s, h, b := recallGet(t, onServer(t, b2.URL, kept))
	wantToken(t, b2, "unrevoked URL after the restart", s, h, b)

	// Only ids and hashes are stored: no URL, signature or token in the file.
	for _, proc := range []*testServer{a, b2} {
		proc.assertNoSecretsLogged(testCallbackKey, secondKey)
	}
	if strings.Contains(a.Logs.String()+b2.Logs.String(), "a restart forgets them") {
		t.Fatal("a server with a database warned that the guard state is in memory")
	}
}

// DATABASE_URL=memory (and no Redis): the server says at start that a
// restart forgets revocations, single uses and webhooks seen.
func TestGuardStateInMemoryWarns(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb) // DATABASE_URL=memory
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	ts := startServer(t, sb, env)
	logs := ts.Logs.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"callback URLs' revocations and single uses, and webhook events seen, are kept in this process's memory`) ||
		!strings.Contains(logs, "a restart forgets them") {
		t.Fatalf("no warning that the guard state is lost on restart:\n%s", tail(logs, 4000))
	}

	env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	ts2 := startServer(t, sb, env)
	if l := ts2.Logs.String(); strings.Contains(l, "a restart forgets them") || !strings.Contains(l, "kept in the database") {
		t.Fatalf("with SQLite: %s", l)
	}
}

// The database's guard state fails closed for callback URLs: a database
// that cannot be used is 503 store_unavailable (never "go ahead"), as
// Redis down is; for webhooks this process's memory decides meanwhile.
func TestGuardStateDatabaseDownFailsClosed(t *testing.T) {
	ctx := context.Background()
	down := store.NewDeferred() // no database reached yet
	st := callbacks.NewStoreState(down)
	until := time.Now().Add(time.Hour)
	if u, err := st.Use(ctx, "id", false, until); apperr.Code(err) != apperr.CodeStoreUnavailable || u != callbacks.UseOK {
		t.Fatalf("Use with the database down = %v, %v; want store_unavailable", u, err)
	}
	if err := st.Revoke(ctx, "id", until); apperr.Code(err) != apperr.CodeStoreUnavailable {
		t.Fatalf("Revoke with the database down = %v", err)
	}
	d := dbDedupe{local: webhooks.NewDedupe(webhooks.DedupeConfig{}), m: down, log: slog.New(slog.DiscardHandler), now: time.Now}
	if v := d.Admit("k", time.Now()); v != webhooks.Fresh {
		t.Fatalf("first Admit = %v", v)
	}
	if v := d.Admit("k", time.Now()); v != webhooks.Duplicate {
		t.Fatalf("second Admit (memory decides) = %v", v)
	}
}

// With DATABASE_URL=postgres://… and no Redis, two instances on one
// database (as a restarted one is) agree: a URL revoked on one is refused by
// the other, a single use spent on one is spent on the other, a webhook
// taken by one is a duplicate at the other.
func TestGuardStateSharedThroughPostgres(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	env := zoomEnv(sb)
	env["DATABASE_URL"] = sharedPostgresDB(t)
	env["CALLBACK_URL_KEY"] = testCallbackKey
	env["PUBLIC_URL"] = "http://127.0.0.1:9"
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	a, b := startServer(t, sb, env), startServer(t, sb, env)

	host := bearer(t, "host@example.com", "host")
	revoked := a.callbackURL(t, host, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 3600})
	once := a.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userId": "pat@example.com", "meetingId": meeting, "expiresInSeconds": 3600, "singleUse": true})
	if r := a.do("POST", "/api/callback-urls/revoke", map[string]any{"url": revoked}, host); r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke = %d %s", r.Status, r.Raw)
	}
	s, h, body := recallGet(t, onServer(t, a.URL, once))
	wantToken(t, a, "single-use URL on the first instance", s, h, body)
	s, _, body = recallGet(t, onServer(t, b.URL, revoked))
	wantRefused(t, "URL revoked on the other instance", s, body, 403, "forbidden", "revoked")
	s, _, body = recallGet(t, onServer(t, b.URL, once))
	wantRefused(t, "URL spent on the other instance", s, body, 403, "forbidden", "already used")

	stamp := time.Now()
	hook := joinedBody(meeting, "pat@example.com", 3, stamp)
	if r := a.hook(hook, webhookSecret, stamp); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook = %d %s", r.Status, r.Raw)
	}
	if r := b.hook(hook, webhookSecret, stamp); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("webhook at the other instance = %d %s; want duplicate", r.Status, r.Raw)
	}
}
