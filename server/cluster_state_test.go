package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// publicURL is the load balancer's address in the callback tests: the URLs
// are made for it, and each is sent to the instance the test picks.
const publicURL = "http://127.0.0.1:9"

// callbackCluster starts n instances sharing Redis and one CALLBACK_URL_KEY.
func callbackCluster(t *testing.T, rs *testinfra.Redis, n int) []*testServer {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	var out []*testServer
	for range n {
		env := redisEnv(sb, rs.URL(), "10000", n)
		env["CALLBACK_URL_KEY"], env["PUBLIC_URL"] = testCallbackKey, publicURL
		out = append(out, startServer(t, sb, env))
	}
	return out
}

// at is u's path and query, for ts.do: the URL as the load balancer would
// pass it to one instance.
func at(t *testing.T, u string) string {
	t.Helper()
	if !strings.HasPrefix(u, publicURL+"/api/callbacks/") {
		t.Fatalf("callback URL %s is not under the public URL", u)
	}
	return strings.TrimPrefix(u, publicURL)
}

// Behind a load balancer, callback URLs' revocations and single uses hold
// across the instances: a URL revoked on A is refused on B; a single-use
// URL is answered once when both race on it. Redis down: refused with 503
// store_unavailable and Retry-After (fail closed), never answered unchecked.
func TestClusterCallbackURLsShareState(t *testing.T) {
	rs := testinfra.StartRedis(t)
	servers := callbackCluster(t, rs, 2)
	a, b := servers[0], servers[1]

	// Single use, raced: 12 calls on the two instances at once.
	once := a.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userId": "pat@example.com", "meetingId": meeting,
		"expiresInSeconds": 600, "singleUse": true})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	start := make(chan struct{})
	for i := range 12 {
		ts := servers[i%2]
		wg.Go(func() {
			<-start
			r := ts.do("GET", at(t, once), nil, nil)
			if r.Status == 403 && !strings.Contains(r.Raw, "already used") {
				t.Errorf("refused use = %s", r.Raw)
			}
			if r.Status == 200 {
				ts.mu.Lock()
				ts.tokens = append(ts.tokens, r.Raw)
				ts.mu.Unlock()
			}
			mu.Lock()
			got[r.Status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if got[200] != 1 || got[403] != 11 {
		t.Fatalf("12 racing calls of a single-use URL on two instances: %v; want one 200 and eleven 403", got)
	}

	// Revoked on A, refused on B.
	zak := b.callbackURL(t, bearer(t, "host@example.com", "host"), map[string]any{"kind": "zak", "userId": "host@example.com",
		"expiresInSeconds": 600})
	if r := b.do("GET", at(t, zak), nil, nil); r.Status != 200 {
		t.Fatalf("zak URL on B = %d %s", r.Status, r.Raw)
	}
	if r := a.do("POST", "/api/callback-urls/revoke", map[string]any{"url": zak}, adminKey); r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke on A = %d %s", r.Status, r.Raw)
	}
	if r := b.do("GET", at(t, zak), nil, nil); r.Status != 403 || !strings.Contains(r.Raw, "revoked") {
		t.Fatalf("URL revoked on A, called on B = %d %s", r.Status, r.Raw)
	}

	// Redis down: fail closed, on both paths.
	other := a.callbackURL(t, adminKey, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 600})
	rs.Stop()
	for _, ts := range servers {
		r := ts.do("GET", at(t, other), nil, nil)
		if r.Status != 503 || r.Body["code"] != "store_unavailable" || r.Header.Get("Retry-After") == "" ||
			!strings.Contains(r.Raw, "Redis") {
			t.Fatalf("callback URL with Redis down = %d %v %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}
	if r := a.do("POST", "/api/callback-urls/revoke", map[string]any{"url": other}, adminKey); r.Status != 503 || r.Body["code"] != "store_unavailable" {
		t.Fatalf("revoke with Redis down = %d %s", r.Status, r.Raw)
	}
	rs.Restart()
	waitUntil(t, "B uses Redis again", func() bool { return b.do("GET", at(t, other), nil, nil).Status == 200 })

	// Only a URL's id is logged (and stored): never the URL or its signature.
	var secrets []string
	for _, raw := range []string{once, zak, other} {
		pu, _ := url.Parse(raw)
		secrets = append(secrets, raw, pu.RawQuery, pu.Query().Get("sig"))
	}
	for _, ts := range servers {
		ts.assertNoSecretsLogged(append(secrets, testCallbackKey)...)
	}
}

// Behind a load balancer Zoom's redirect may reach another instance than
// the one that made the connect link: with Redis the link works there,
// once; the PKCE verifier is in Redis only sealed. Redis down: links are
// kept by the instance that made them, so a redirect back to it (a sticky
// load balancer) still connects, and one that reaches another is refused.
func TestClusterConnectLinkCompletesOnAnotherInstance(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	db, key := filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1")
	envA := connEnv(t, sb, db, key)
	envB := connEnv(t, sb, db, key)
	envB["ZOOM_OAUTH_REDIRECT_URL"] = envA["ZOOM_OAUTH_REDIRECT_URL"] // one public redirect URL, the load balancer's
	for _, env := range []map[string]string{envA, envB} {
		env["REDIS_URL"], env["CLUSTER_SIZE"] = rs.URL(), "2"
	}
	a, b := startServer(t, sb, envA), startServer(t, sb, envB)

	const cy = "cy@partner.example"
	link := a.authorizeURL(t, cy)
	lu, _ := url.Parse(link)
	state := lu.Query().Get("state")
	assertRedisHolds(t, rs, state, lu.Query().Get("code_challenge"))
	cb := consent(t, link, cy, "allow")
	if p := getPage(t, strings.Replace(cb, a.URL, b.URL, 1)); p.Status != 200 || p.Title != "Zoom account connected" {
		t.Fatalf("A's link completed on B = %d %q %q\nlogs:\n%s", p.Status, p.Title, p.Message, b.Logs)
	}
	if p := getPage(t, cb); p.Status != 400 || !strings.Contains(p.Message, "already used") {
		t.Fatalf("the same link replayed on A = %d %q %q", p.Status, p.Title, p.Message)
	}
	wantJoin(t, a.join(t, cy), "connection")

	// Redis down: A keeps its links; the redirect back to A connects, to B not.
	rs.Stop()
	const dee = "dee@partner.example"
	cb = consent(t, a.authorizeURL(t, dee), dee, "allow")
	if p := getPage(t, strings.Replace(cb, a.URL, b.URL, 1)); p.Status != 400 || !strings.Contains(p.Message, "link is unknown") {
		t.Fatalf("with Redis down, A's link on B = %d %q %q", p.Status, p.Title, p.Message)
	}
	// The state was only tried on B: A still holds it.
	if p := getPage(t, cb); p.Status != 200 || p.Title != "Zoom account connected" {
		t.Fatalf("with Redis down, A's link on A = %d %q %q\nlogs:\n%s", p.Status, p.Title, p.Message, a.Logs)
	}
	for _, ts := range []*testServer{a, b} {
		ts.assertNoSecretsLogged(state)
	}
}

// assertRedisHolds checks that Redis holds one pending link, that no key
// names its state or sub, and that neither the state nor the PKCE verifier
// (whose challenge is given) is in a value.
func assertRedisHolds(t *testing.T, rs *testinfra.Redis, state, challenge string) {
	t.Helper()
	ctx := context.Background()
	opts, _ := redis.ParseURL(rs.URL())
	c := redis.NewClient(opts)
	defer c.Close()
	keys, err := c.Keys(ctx, "tokenserver:oauth:*").Result()
	kinds := map[string]int{}
	for _, k := range keys {
		kind, _, _ := strings.Cut(strings.TrimPrefix(k, "tokenserver:oauth:"), ":")
		kinds[kind]++
	}
	if err != nil || len(keys) != 4 || kinds["state"] != 1 || kinds["sub"] != 1 || kinds["addr"] != 1 || kinds["all"] != 1 {
		t.Fatalf("Redis holds %v (%v); want a state's key, its sub's set, its address's set and the set of all", keys, err)
	}
	for _, k := range keys {
		v := c.Get(ctx, k).Val() + strings.Join(c.ZRange(ctx, k, 0, -1).Val(), ",")
		if strings.Contains(k+v, state) || strings.Contains(k, "cy@partner.example") {
			t.Fatalf("Redis key %s names the state or the sub, or its value the state", k)
		}
		for i := 0; i+43 <= len(v); i++ {
			sum := sha256.Sum256([]byte(v[i : i+43]))
			if base64.RawURLEncoding.EncodeToString(sum[:]) == challenge {
				t.Fatalf("Redis holds the PKCE verifier in the clear under %s", k)
			}
		}
	}
}
