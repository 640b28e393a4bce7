package main

import (
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// With the failed-authentication guard shared in Redis, as with the local
// one: forged callback URLs sent to one instance spend the address's
// budget on both, so forged ones are refused 429 on the other too, while a
// URL whose signature verifies is answered on either.
func TestClusterForgedCallbacksSharedAddress(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	var servers []*testServer
	for range 2 {
		env := redisEnv(sb, rs.URL(), "10000", 2)
		env["CALLBACK_URL_KEY"], env["PUBLIC_URL"] = testCallbackKey, publicURL
		env["AUTH_FAILURES_PER_MINUTE"] = "1" // back after a minute: longer than the test
		servers = append(servers, startServer(t, sb, env))
	}
	a, b := servers[0], servers[1]
	good := a.callbackURL(t, adminKey, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 600})
	forged := strings.Replace(good, "user=host%40example.com", "user=pat%40example.com", 1)

	r := a.do("GET", at(t, forged), nil, nil)
	wantRefused(t, "forged URL on a, within the budget", r.Status, r.Raw, 401, "invalid_signature", "not valid")
	for i := range 6 {
		ts := servers[i%2]
		r := ts.do("GET", at(t, forged), nil, nil)
		wantRefused(t, "forged URL over the shared budget", r.Status, r.Raw, 429, "rate_limited", "failed")
		r = ts.do("GET", at(t, good), nil, nil)
		if r.Status != 200 || r.Raw == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("a good URL from the forging address, instance %d = %d %s", i%2, r.Status, r.Raw)
		}
		ts.mu.Lock()
		ts.tokens = append(ts.tokens, r.Raw)
		ts.mu.Unlock()
	}
	a.assertNoSecretsLogged()
	b.assertNoSecretsLogged()
}
