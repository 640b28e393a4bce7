package main

import (
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// joinFor mints an OBF for user by REST on ts, with the API key.
func joinFor(t *testing.T, ts *testServer, user string) reply {
	t.Helper()
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": user}, adminKey)
	if r.Status != 200 || r.Body["obfToken"] == nil {
		t.Fatalf("join for %s = %d %s", user, r.Status, r.Raw)
	}
	return r
}

// wantPushed checks that c received the OBF of r as meeting:credentials.
func wantPushed(t *testing.T, c *wsClient, r reply) {
	t.Helper()
	e, ok := c.waitEvent("meeting:credentials", 10*time.Second)
	if !ok || e["obfToken"] != r.Body["obfToken"] {
		t.Fatalf("meeting:credentials = %v, want the OBF minted (%v)", e, r.Body["obfToken"])
	}
}

// waitPushCrosses mints user's OBF on from until one is delivered and c
// receives it (the adapters subscribe again after Redis's probe, so the
// first tries may not cross).
func waitPushCrosses(t *testing.T, from *testServer, user string, c *wsClient) {
	t.Helper()
	waitUntil(t, "a push reaches "+user+" on another instance", func() bool {
		r := joinFor(t, from, user)
		if r.Body["delivered"] != true {
			return false
		}
		e, ok := c.waitEvent("meeting:credentials", 2*time.Second)
		for ok && e["obfToken"] != r.Body["obfToken"] { // an earlier push that arrived late
			e, ok = c.waitEvent("meeting:credentials", 2*time.Second)
		}
		return ok
	})
}

// Three instances share one Redis: a token minted by REST on one instance
// reaches its user's socket on another, with delivered true; a user with no
// socket anywhere is answered delivered false; no one else is sent it.
func TestClusterPushAcrossInstances(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	a := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 3))
	b := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 3))
	c := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 3))
	ann := authedSocket(t, b, "ann@example.com", "")
	bob := authedSocket(t, c, "bob@example.com", "")
	annHere := authedSocket(t, a, "ann@example.com", "") // a second tab, on the minting instance

	r := joinFor(t, a, "ann@example.com")
	if r.Body["delivered"] != true {
		t.Fatalf("join for a user with sockets on a and b: delivered = %v", r.Body["delivered"])
	}
	wantPushed(t, ann, r)
	wantPushed(t, annHere, r)

	annHere.close()
	waitUntil(t, "a sees ann's tab gone", func() bool { return joinFor(t, c, "nobody@example.com").Body["delivered"] == false })
	r = joinFor(t, a, "ann@example.com") // ann's only socket is on b now
	if r.Body["delivered"] != true {
		t.Fatalf("join on a for a user whose only socket is on b: delivered = %v", r.Body["delivered"])
	}
	wantPushed(t, ann, r)
	r = joinFor(t, b, "bob@example.com")
	if r.Body["delivered"] != true {
		t.Fatalf("join on b for a user whose socket is on c: delivered = %v", r.Body["delivered"])
	}
	wantPushed(t, bob, r)

	for _, ts := range []*testServer{a, b, c} {
		if r := joinFor(t, ts, "nobody@example.com"); r.Body["delivered"] != false {
			t.Fatalf("join for a user with no socket anywhere: delivered = %v", r.Body["delivered"])
		}
	}
	time.Sleep(200 * time.Millisecond) // let a stray push arrive, if there were one
	for name, s := range map[string]*wsClient{"ann": ann, "bob": bob} {
		for _, e := range s.received() {
			if e.Name == "meeting:credentials" || e.Name == "meeting:started" {
				t.Errorf("%s was sent a token not minted for her: %s", name, e.Args)
			}
		}
	}
}

// Redis down: each instance pushes to its own sockets (delivered true for
// them, false for a user whose socket is on another instance) and health
// says degraded; Redis back: pushes cross instances again by themselves.
func TestClusterPushRedisDownAndBack(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	a := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 2))
	b := startServer(t, sb, redisEnv(sb, rs.URL(), "10000", 2))
	ann := authedSocket(t, a, "ann@example.com", "")
	bob := authedSocket(t, b, "bob@example.com", "")
	wantPushed(t, bob, joinFor(t, a, "bob@example.com"))

	rs.Stop()
	for _, ts := range []*testServer{a, b} {
		waitUntil(t, "health says degraded", func() bool {
			return field(ts.do("GET", "/api/health", nil, nil).Body, "cluster", "redis") == "degraded"
		})
	}
	r := joinFor(t, a, "ann@example.com")
	if r.Body["delivered"] != true {
		t.Fatalf("local push with Redis down: delivered = %v", r.Body["delivered"])
	}
	wantPushed(t, ann, r)
	if r := joinFor(t, a, "bob@example.com"); r.Body["delivered"] != false {
		t.Fatalf("push to another instance with Redis down: delivered = %v (it cannot have reached bob)", r.Body["delivered"])
	}
	if _, ok := bob.waitEvent("meeting:credentials", 300*time.Millisecond); ok {
		t.Fatal("bob received a push with Redis down")
	}

	rs.Restart()
	for _, ts := range []*testServer{a, b} {
		waitUntil(t, "health says ok", func() bool {
			return field(ts.do("GET", "/api/health", nil, nil).Body, "cluster", "redis") == "ok"
		})
	}
	// The subscriptions come back after the probe: ask until bob is reached.
	waitPushCrosses(t, a, "bob@example.com", bob)
}
