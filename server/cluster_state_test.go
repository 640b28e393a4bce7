package main

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
	"github.com/zoomtoken/tokenserver/sandbox"
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
