package main

import (
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// The server binary started while its PostgreSQL is down starts anyway: S2S
// mints, minting through a connection answers 503 store_unavailable, health
// and metrics say the database is unavailable. When PostgreSQL comes up the
// instance opens and migrates it by itself, and users' connections work.
func TestProcsStartWhilePostgresDown(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	url := pg.NewDatabase(t) // empty: the schema is made when the instance reaches it
	pg.Stop()
	sb := newSandbox(t, sandbox.Options{})
	ts := startProcess(t, sb, pgConnEnv(t, sb, url, newKey(t, "k1")))
	const ann = "ann@partner.example" // outside the account: only her connection mints for her

	wantJoin(t, ts.join(t, "bob@example.com"), "account") // S2S: the account's own user
	if r := ts.join(t, ann); r.Status != 503 || r.Body["code"] != "store_unavailable" {
		t.Fatalf("join through connections with the database never reached = %d %s", r.Status, r.Raw)
	}
	if h := ts.do("GET", "/api/health", nil, nil); h.Status != 200 || field(h.Body, "cluster", "database") != "unavailable" {
		t.Fatalf("health = %d %s", h.Status, h.Raw)
	}
	if v := backendUp(t, ts, "postgres"); v != 0 {
		t.Fatalf(`cluster_backend_up{backend="postgres"} = %v, want 0`, v)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the instance reaches the database by itself", func() bool {
		h := ts.do("GET", "/api/health", nil, nil)
		return h.Status == 200 && field(h.Body, "cluster", "database") == "ok"
	})
	if v := backendUp(t, ts, "postgres"); v != 1 {
		t.Fatalf(`cluster_backend_up{backend="postgres"} = %v, want 1`, v)
	}
	ts.mustConnect(t, ann)
	wantJoin(t, ts.join(t, ann), "connection")
	ts.assertNoSecretsLogged(pgPassword)
	if !strings.Contains(ts.Logs.String(), "PostgreSQL cannot be reached") {
		t.Fatalf("no warning that the database was not reached:\n%s", ts.Logs)
	}
}

// A database that answers but refuses still fails start, with an error
// that names DATABASE_URL: only "cannot be reached" is waited out.
func TestStartRefusedByPostgresFails(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	sb := newSandbox(t, sandbox.Options{})
	url := pg.URL("no_such_database")
	env := pgConnEnv(t, sb, url, newKey(t, "k1"))
	err := serve(t.Context(), func(k string) string { return env[k] }, &syncBuffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "no_such_database") ||
		strings.Contains(err.Error(), pgPassword) {
		t.Fatalf("start against a missing database: %v", err)
	}
}
