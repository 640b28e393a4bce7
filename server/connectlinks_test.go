package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/store"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Pending connect links (GET /api/connections/zoom/authorize) over real
// HTTP, in this process's memory and in Redis: many identities behind one
// address are refused beyond the address's cap (429 rate_limited with
// Retry-After) and cannot fill the table that everyone's links share; one
// identity keeps only its last few links, whatever its addresses. Another
// caller, from another address, connects all the while. The addresses come
// from X-Forwarded-For behind TRUSTED_PROXIES, as behind a load balancer.
func TestConnectLinksCannotBeHoarded(t *testing.T) {
	for _, twin := range []string{"memory", "redis"} {
		t.Run(twin, func(t *testing.T) {
			sb := newSandbox(t, sandbox.Options{})
			env := connEnv(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
			env["TRUSTED_PROXIES"] = "127.0.0.1"
			if twin == "redis" {
				env["REDIS_URL"] = testinfra.StartRedis(t).URL()
			}
			ts := startServer(t, sb, env)
			from := func(sub, addr string) map[string]string {
				h := bearer(t, sub, "")
				h["X-Forwarded-For"] = addr
				return h
			}

			// One address, many identities (5 links each): links until the
			// first refusal, at most one more than the whole table holds.
			const attacker = "203.0.113.7"
			var made, refusedAt atomic.Int64
			var refusal reply
			var once sync.Once
			work := make(chan int)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range work {
						r := ts.do("GET", "/api/connections/zoom/authorize", nil, from(fmt.Sprintf("m%d@example.com", i/5), attacker))
						if r.Status == 200 {
							made.Add(1)
							continue
						}
						once.Do(func() { refusal = r; refusedAt.Store(int64(i + 1)) })
					}
				})
			}
			for i := 0; i <= store.DefaultMaxPending && refusedAt.Load() == 0; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
			if refusal.Status != 429 || refusal.Body["code"] != "rate_limited" || refusal.Header.Get("Retry-After") == "" {
				t.Fatalf("one address's links: %d made, first refusal at %d: %d %s; want 429 rate_limited with Retry-After after %d",
					made.Load(), refusedAt.Load(), refusal.Status, refusal.Raw, store.MaxPendingPerAddr)
			}
			if s, _ := strconv.Atoi(refusal.Header.Get("Retry-After")); s < 1 || s > 600 {
				t.Errorf("Retry-After %q; want at most the 10 minutes a link lives", refusal.Header.Get("Retry-After"))
			}
			if made.Load() != store.MaxPendingPerAddr {
				t.Errorf("one address made %d links; want its cap, %d", made.Load(), store.MaxPendingPerAddr)
			}

			// One identity, many addresses: only its last links live.
			for i := range 3 * store.MaxPendingPerSub {
				if r := ts.do("GET", "/api/connections/zoom/authorize", nil, from("mallory@example.com", fmt.Sprintf("10.9.0.%d", i+1))); r.Status != 200 {
					t.Fatalf("one identity from address %d: %d %s", i+1, r.Status, r.Raw)
				}
			}

			// Another caller from another address connects, start to end.
			const ann = "ann@partner.example"
			r := ts.do("GET", "/api/connections/zoom/authorize", nil, from(ann, "198.51.100.2"))
			u, _ := r.Body["authorizeUrl"].(string)
			if r.Status != 200 || u == "" {
				t.Fatalf("another address's connect = %d %s", r.Status, r.Raw)
			}
			if p := getPage(t, consent(t, u, ann, "allow")); p.Status != 200 || p.Title != "Zoom account connected" {
				t.Fatalf("another address's connect: callback page %d %q %q", p.Status, p.Title, p.Message)
			}
			// The attacker's own identities from another address still may.
			if r := ts.do("GET", "/api/connections/zoom/authorize", nil, from("m0@example.com", "198.51.100.3")); r.Status != 200 {
				t.Fatalf("an identity of the crowded address, from elsewhere: %d %s", r.Status, r.Raw)
			}
			ts.assertNoSecretsLogged()
		})
	}
}

// The operator rotated CONNECTIONS_KEY and dropped the old key: a
// connection sealed with it cannot be used. Minting for that user answers
// 409 connection_lost with a sentence saying to connect again (and the
// link, when the caller is that user), not 500; the connection shows as
// disconnected with its reason; a warning names the missing key's id,
// never a key. Connecting again works with the new key.
func TestConnectionSealedWithADroppedKey(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	db := filepath.Join(t.TempDir(), "c.db")
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	const ann = "ann@partner.example"
	ts := connServer(t, sb, db, k1)
	ts.mustConnect(t, ann)
	ts.stop()

	ts = connServer(t, sb, db, k2)
	r := ts.join(t, ann)
	if r.Status != 409 || r.Body["code"] != "connection_lost" || !strings.Contains(str(r.Body["error"]), "connect your Zoom account again") ||
		!strings.Contains(str(r.Body["error"]), "CONNECTIONS_KEY") || !strings.HasPrefix(str(r.Body["authorizeUrl"]), sb.AuthorizeURL()) {
		t.Fatalf("join with the key dropped = %d %s", r.Status, r.Raw)
	}
	g := ts.do("GET", "/api/connections/"+ann, nil, bearer(t, ann, ""))
	if g.Status != 200 || field(g.Body, "connection", "status") != "disconnected" || field(g.Body, "connection", "reason") != "key_missing" {
		t.Fatalf("the connection after its key was dropped = %d %s", g.Status, g.Raw)
	}
	// Another caller (an admin) gets the same answer, without the link.
	r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": ann}, adminKey)
	if r.Status != 409 || r.Body["code"] != "connection_lost" || r.Body["authorizeUrl"] != nil {
		t.Fatalf("an admin's join = %d %s", r.Status, r.Raw)
	}
	logs := ts.Logs.String()
	var warned bool
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "no longer in CONNECTIONS_KEY") && strings.Contains(line, `"key_id":"k1"`) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning names the missing key id k1; logs:\n%s", tail(logs, 4000))
	}
	for _, k := range []string{k1, k2} {
		if _, material, _ := strings.Cut(k, ":"); strings.Contains(logs, material) {
			t.Fatal("a key is in the logs")
		}
	}
	ts.mustConnect(t, ann)
	wantJoin(t, ts.join(t, ann), "connection")
	ts.assertNoSecretsLogged()
}

// Sandbox mode honours a set CONNECTIONS_KEY: with DATABASE_URL=sqlite:, a
// connection made in one process opens in the next one started with the
// same key. (The second process runs a new sandbox, which never issued
// that grant: its refresh token, opened and presented, is refused with
// invalid_grant. With a throwaway key it would not open at all.)
func TestSandboxModeHonoursConnectionsKey(t *testing.T) {
	k1 := newKey(t, "k1")
	env := sandboxEnv()
	env["AUTH_JWT_SECRET"], env["API_KEYS"] = testJWTSecret, testAPIKey
	env["CONNECTIONS_KEY"], env["DATABASE_URL"] = k1, "sqlite:"+filepath.Join(t.TempDir(), "c.db")
	const ann = "ann@partner.example"

	a := startServer(t, nil, env)
	a.mustConnect(t, ann)
	wantJoin(t, a.join(t, ann), "connection")
	a.stop()
	keyringLogged := func(ts *testServer) {
		t.Helper()
		if logs := ts.Logs.String(); !strings.Contains(logs, `"keyring":"CONNECTIONS_KEY","sealing_key":"k1"`) {
			t.Errorf("the process does not say it seals with CONNECTIONS_KEY's k1; logs:\n%s", tail(logs, 3000))
		}
	}
	keyringLogged(a)

	b := startServer(t, nil, env)
	keyringLogged(b)
	g := b.do("GET", "/api/connections/"+ann, nil, bearer(t, ann, ""))
	if g.Status != 200 || field(g.Body, "connection", "status") != "connected" {
		t.Fatalf("the first process's connection, in the second = %d %s", g.Status, g.Raw)
	}
	r := b.join(t, ann)
	if r.Status != 409 || r.Body["code"] != "connection_lost" {
		t.Fatalf("join in the second process = %d %s", r.Status, r.Raw)
	}
	g = b.do("GET", "/api/connections/"+ann, nil, bearer(t, ann, ""))
	if reason := field(g.Body, "connection", "reason"); reason != "invalid_grant" {
		t.Fatalf("the refresh token did not open in the second process (reason %v, want invalid_grant from its sandbox): %s", reason, g.Raw)
	}
	for _, ts := range []*testServer{a, b} {
		if _, material, _ := strings.Cut(k1, ":"); strings.Contains(ts.Logs.String(), material) {
			t.Fatal("the key is in the logs")
		}
		ts.assertNoSecretsLogged()
	}
}
