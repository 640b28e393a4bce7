package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances on one PostgreSQL: each event is delivered by one of them,
// once; PostgreSQL stopping and starting again while events are pending
// loses none.
func TestEventsClusterOnPostgres(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	db := pg.NewDatabase(t)
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(_ string, n int) int {
		if n == 1 {
			return 500
		}
		return 200
	})
	extra := eventsEnv(rcv)
	extra["DATABASE_URL"] = db
	a := appServer(t, sb, filepath.Join(t.TempDir(), "unused.db"), extra)
	b := appServer(t, sb, filepath.Join(t.TempDir(), "unused.db"), extra)
	users := []string{"u1@partner.example", "u2@partner.example", "u3@partner.example", "u4@partner.example"}
	for i, who := range users {
		ts := []*testServer{a, b}[i%2]
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, who)
		if r := ts.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
			bearer(t, who, "")); r.Status != 201 {
			t.Fatalf("connect %s = %d %s", who, r.Status, r.Raw)
		}
	}
	for _, who := range users {
		rcv.waitFor(who, "connection.connected")
	}

	// The database goes away with events pending, and comes back.
	rcv.setAnswer(func(string, int) int { return 503 })
	for i, who := range users[:2] {
		ts := []*testServer{a, b}[i%2]
		if r := ts.do("DELETE", "/api/connections/"+who, nil, bearer(t, who, "")); r.Status != 200 {
			t.Fatalf("delete %s = %d %s", who, r.Status, r.Raw)
		}
	}
	waitUntil(t, "a delivery of the deletions was refused", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.attempts) >= 6
	})
	pg.Stop()
	rcv.setAnswer(func(string, int) int { return 200 })
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, who := range users[:2] {
		rcv.waitFor(who, "connection.connected", "connection.disconnected")
	}
	rcv.check(append(sb.IssuedSecrets(), eventsSecret)...)
	rcv.mu.Lock()
	if len(rcv.accepted) != len(users)+2 {
		t.Errorf("accepted %d events, want %d: %v", len(rcv.accepted), len(users)+2, fmt.Sprint(rcv.accepted))
	}
	rcv.mu.Unlock()
	for _, ts := range []*testServer{a, b} {
		ts.assertNoSecretsLogged(eventsSecret)
	}
}
