package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
	"github.com/zoomtoken/tokenserver/sandbox"
)

// Several instances against real PostgreSQL and Redis servers
// (internal/testinfra starts them; CI installs them).

// pgPassword is put in DATABASE_URL (the test server trusts every local
// connection, so it is never asked for) to check it reaches no log line.
const pgPassword = "pg-password-must-not-be-logged-1234"

// pgConnEnv is connEnv with connections in the PostgreSQL database url.
func pgConnEnv(t *testing.T, sb *sandbox.Sandbox, url, keys string) map[string]string {
	env := connEnv(t, sb, t.TempDir()+"/unused.db", keys)
	env["DATABASE_URL"] = strings.Replace(url, "postgres://postgres@", "postgres://postgres:"+pgPassword+"@", 1)
	return env
}

// Two instances share one PostgreSQL database and refresh one user's grant
// at once, round after round, against the sandbox's rotating refresh tokens
// (a reused one is refused and counted): no refresh token is spent twice.
func TestClusterTwoInstancesRefreshOneGrantOnce(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	sb := newSandbox(t, sandbox.Options{})
	url, key := pg.NewDatabase(t), newKey(t, "k1")
	a := startServer(t, sb, pgConnEnv(t, sb, url, key))
	b := startServer(t, sb, pgConnEnv(t, sb, url, key))
	const ann = "ann@partner.example"

	connectExpired(t, a, ann)
	sb.SetUserAccessTokenExpiresIn(2)
	wantJoin(t, b.join(t, ann), "connection") // b sees a's connection
	sb.SetLatency(30 * time.Millisecond)      // the instances' refreshes overlap
	for round := range 2 {
		time.Sleep(2100 * time.Millisecond)
		before := sb.Stats().Refreshes
		var wg sync.WaitGroup
		replies := make([]reply, 60)
		start := make(chan struct{})
		for i := range replies {
			ts := a
			if i%2 == 1 {
				ts = b
			}
			wg.Go(func() { <-start; replies[i] = ts.join(t, ann) })
		}
		close(start)
		wg.Wait()
		for _, r := range replies {
			wantJoin(t, r, "connection")
		}
		if got := sb.Stats().Refreshes - before; got < 2 {
			t.Errorf("round %d: %d refreshes; both instances' access tokens should have expired", round, got)
		}
	}
	if n := sb.Stats().RefreshTokenReuse; n != 0 {
		t.Errorf("refresh tokens spent twice: %d", n)
	}
	a.assertNoSecretsLogged(pgPassword)
	b.assertNoSecretsLogged(pgPassword)
}

// PostgreSQL down: minting through a connection answers 503
// store_unavailable at once, the account's S2S app keeps minting for its own
// users, and when the database is back everything works again by itself.
func TestClusterPostgresDown(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, pgConnEnv(t, sb, pg.NewDatabase(t), newKey(t, "k1")))
	const ann = "ann@partner.example" // outside the account: only her connection mints for her
	ts.mustConnect(t, ann)
	wantJoin(t, ts.join(t, ann), "connection")

	pg.Stop()
	r := ts.join(t, ann)
	if r.Status != 503 || r.Body["code"] != "store_unavailable" || r.Header.Get("Retry-After") == "" ||
		!strings.Contains(r.Body["error"].(string), "database") {
		t.Fatalf("join through a connection with the database down = %d %s", r.Status, r.Raw)
	}
	wantJoin(t, ts.join(t, "bob@example.com"), "account") // S2S: the account's own user
	if r := ts.do("GET", "/api/connections", nil, bearer(t, "admin", "admin")); r.Status != 503 || r.Body["code"] != "store_unavailable" {
		t.Fatalf("list connections with the database down = %d %s", r.Status, r.Raw)
	}
	if h := ts.do("GET", "/api/health", nil, nil); h.Status != 200 {
		t.Fatalf("health with the database down = %d %s (S2S still works)", h.Status, h.Raw)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	var last reply
	for range 5 { // the pool may meet a connection the restart closed
		if last = ts.join(t, ann); last.Status == 200 {
			break
		}
	}
	wantJoin(t, last, "connection")
	ts.assertNoSecretsLogged(pgPassword)
}
