package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
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
	wantJoin(t, b.join(t, ann), "connection") // b sees a's connection
	sb.SetLatency(30 * time.Millisecond)      // the instances' refreshes overlap
	raceRefreshes(t, sb, a, b, ann, 2, 60)
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
	waitUntil(t, "health names the database unavailable (S2S still works)", func() bool {
		h := ts.do("GET", "/api/health", nil, nil)
		return h.Status == 200 && field(h.Body, "cluster", "database") == "unavailable"
	})

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
	waitUntil(t, "health says the database is back", func() bool {
		h := ts.do("GET", "/api/health", nil, nil)
		return h.Status == 200 && field(h.Body, "cluster", "database") == "ok"
	})
	ts.assertNoSecretsLogged(pgPassword)
}

// PostgreSQL's state is watched in the background: with no request to a
// connections route, cluster_backend_up{backend="postgres"} and health's
// cluster.database follow the database down and back up.
func TestClusterPostgresStateWatched(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, pgConnEnv(t, sb, pg.NewDatabase(t), newKey(t, "k1")))
	state := func() (string, float64) {
		h := ts.do("GET", "/api/health", nil, nil)
		if h.Status != 200 {
			t.Fatalf("health = %d %s", h.Status, h.Raw)
		}
		db, _ := field(h.Body, "cluster", "database").(string)
		return db, backendUp(t, ts, "postgres")
	}
	if db, up := state(); db != "ok" || up != 1 {
		t.Fatalf("at start: database %q, cluster_backend_up %v", db, up)
	}
	pg.Stop()
	waitUntil(t, "health and metric say the database is down", func() bool {
		db, up := state()
		return db == "unavailable" && up == 0
	})
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "health and metric say the database is back", func() bool {
		db, up := state()
		return db == "ok" && up == 1
	})
	ts.assertNoSecretsLogged(pgPassword)
}

// backendUp is the cluster_backend_up sample of backend at ts, -1 when absent.
func backendUp(t *testing.T, ts *testServer, backend string) float64 {
	t.Helper()
	body := ts.do("GET", "/metrics", nil, nil).Raw
	if !strings.Contains(body, `cluster_backend_up{backend="`+backend+`"}`) {
		return -1
	}
	return metricValue(body, "cluster_backend_up", `backend="`+backend+`"`)
}

// redisEnv is a zoom-mode environment against sb in a cluster of size
// instances sharing the Redis at url and the Zoom quota qps.
func redisEnv(sb *sandbox.Sandbox, url string, qps string, size int) map[string]string {
	env := zoomEnv(sb)
	env["REDIS_URL"], env["ZOOM_QPS"], env["CLUSTER_SIZE"] = url, qps, strconv.Itoa(size)
	return env
}

// startMany has each server mint n ZAKs at once, all together, and
// answers every reply.
func startMany(t *testing.T, servers []*testServer, n int) []reply {
	var wg sync.WaitGroup
	replies := make([]reply, n*len(servers))
	start := make(chan struct{})
	for i := range replies {
		ts := servers[i%len(servers)]
		wg.Go(func() {
			<-start
			replies[i] = ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting,
				"hostUserId": fmt.Sprintf("host%d@example.com", i)}, map[string]string{"X-API-Key": testAPIKey})
		})
	}
	close(start)
	wg.Wait()
	return replies
}

// redisUp is the cluster_backend_up sample of redis at ts, -1 when absent.
func redisUp(t *testing.T, ts *testServer) float64 {
	t.Helper()
	body := ts.do("GET", "/metrics", nil, nil).Raw
	if !strings.Contains(body, "cluster_backend_up{") {
		return -1
	}
	return metricValue(body, "cluster_backend_up", `backend="redis"`)
}

// Two instances share one Zoom quota: together they stay within ZOOM_QPS,
// so a Zoom (the sandbox) that allows a little more than that answers no
// 429. Alone, each would spend ZOOM_QPS, twice what Zoom allows.
func TestClusterTwoInstancesShareTheZoomQuota(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{QPS: 6})
	a := startServer(t, sb, redisEnv(sb, rs.URL(), "4", 2))
	b := startServer(t, sb, redisEnv(sb, rs.URL(), "4", 2))
	for _, r := range startMany(t, []*testServer{a, b}, 10) {
		if r.Status != 200 || r.Body["zakToken"] == nil {
			t.Fatalf("start = %d %s", r.Status, r.Raw)
		}
	}
	if n := sb.Stats().Throttled; n != 0 {
		t.Fatalf("Zoom answered %d 429s: the instances spent more than the account's quota together", n)
	}
	if h := a.do("GET", "/api/health", nil, nil); h.Status != 200 || field(h.Body, "cluster", "redis") != "ok" {
		t.Fatalf("health = %d %s", h.Status, h.Raw)
	}
	if v := redisUp(t, a); v != 1 {
		t.Fatalf("cluster_backend_up = %v", v)
	}
}

// Redis stopped under load: no request hangs (every mint is answered, by
// this instance's own share of the quota), health and metrics say
// degraded; Redis back: the instances use it again by themselves.
func TestClusterRedisDownAndBack(t *testing.T) {
	rs := testinfra.StartRedisWithPassword(t, redisPassword)
	sb := newSandbox(t, sandbox.Options{})
	a := startServer(t, sb, redisEnv(sb, rs.URL(), "50", 2))
	b := startServer(t, sb, redisEnv(sb, rs.URL(), "50", 2))
	servers := []*testServer{a, b}

	var wg sync.WaitGroup
	var load []reply
	var mu sync.Mutex
	wg.Go(func() { // load across the stop
		for range 4 {
			rs := startMany(t, servers, 10)
			mu.Lock()
			load = append(load, rs...)
			mu.Unlock()
		}
	})
	rs.Stop()
	wg.Wait()
	for _, r := range load {
		if r.Status != 200 {
			t.Fatalf("start while Redis went down = %d %s", r.Status, r.Raw)
		}
	}
	for _, ts := range servers {
		waitUntil(t, "health says degraded", func() bool {
			h := ts.do("GET", "/api/health", nil, nil)
			return h.Status == 200 && field(h.Body, "cluster", "redis") == "degraded"
		})
		if v := redisUp(t, ts); v != 0 {
			t.Fatalf("cluster_backend_up while degraded = %v", v)
		}
	}
	for _, r := range startMany(t, servers, 5) {
		if r.Status != 200 {
			t.Fatalf("start with Redis down = %d %s", r.Status, r.Raw)
		}
	}

	rs.Restart()
	for _, ts := range servers {
		waitUntil(t, "health says ok", func() bool {
			h := ts.do("GET", "/api/health", nil, nil)
			return field(h.Body, "cluster", "redis") == "ok"
		})
		if v := redisUp(t, ts); v != 1 {
			t.Fatalf("cluster_backend_up after recovery = %v", v)
		}
	}
	for _, r := range startMany(t, servers, 5) {
		if r.Status != 200 {
			t.Fatalf("start after Redis came back = %d %s", r.Status, r.Raw)
		}
	}
	for _, ts := range servers {
		ts.assertNoSecretsLogged(redisPassword)
	}
}

// redisPassword is the test Redis's requirepass, to check it reaches no log line.
const redisPassword = "redis-password-must-not-be-logged-5678"

// waitUntil polls cond, failing after a generous while.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
