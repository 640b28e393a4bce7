package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// A caller whose sub is a Unicode look-alike of another user's email (a
// Kelvin sign for the K, a long s for an s) gets nothing of that user's: its
// JWT is refused, and no id may be spelled that way either.
func TestLookAlikeIdentitiesAreRefused(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	for _, sub := range []string{"\u212Aate@example.com", "\u017Fam@example.com", "\xffkate@example.com"} {
		h := bearer(t, sub, "host")
		for _, c := range []struct {
			path string
			body map[string]any
		}{
			{"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "kate@example.com"}},
			{"/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "kate@example.com"}},
		} {
			if r := ts.do("POST", c.path, c.body, h); r.Status != 401 || !strings.Contains(str(r.Body["error"]), "sub") {
				t.Errorf("sub %q on %s: %d %s", sub, c.path, r.Status, r.Raw)
			}
		}
		if c, ok, _ := connectSocket(t, ts.URL, map[string]any{"token": h["Authorization"][len("Bearer "):]}, nil); ok {
			c.close()
			t.Errorf("sub %q: a socket authenticated", sub)
		}
	}
	// An admin may not mint for a look-alike id either.
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "\u212Aate@example.com"}, adminKey)
	if r.Status != 400 || !strings.Contains(r.Raw, "ASCII") {
		t.Fatalf("look-alike participant: %d %s", r.Status, r.Raw)
	}
	// The real Kate, in any ASCII case, is still herself.
	if r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "kate@example.com"}, bearer(t, "KATE@example.com", "")); r.Status != 200 {
		t.Fatalf("kate: %d %s", r.Status, r.Raw)
	}
	if n := sb.Stats().APICalls; n != 1 {
		t.Fatalf("%d calls reached the sandbox, want 1 (Kate's own)", n)
	}
}

// A body of 195,000 wrong items gets a short answer: a caller who may not
// batch at all is refused before the body is read; one who may is told the
// list is over BATCH_MAX; a list within it gets at most MaxDetails problems.
func TestHugeInvalidBodiesGetShortAnswers(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	ints := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"meetingId":"` + meeting + `","hostUserId":"host@example.com","participantUserIds":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('1')
		}
		b.WriteString("]}")
		return b.String()
	}
	huge, within := ints(195000), ints(400)
	if len(huge) < 380_000 {
		t.Fatalf("body is only %d bytes", len(huge))
	}
	for _, c := range []struct {
		path    string
		body    string
		headers map[string]string
		status  int
	}{
		{"/api/meetings/batch-join", huge, bearer(t, "pat@example.com", "participant"), 403},
		{"/api/meetings/setup", huge, bearer(t, "pat@example.com", "participant"), 403},
		{"/api/meetings/batch-join", huge, adminKey, 413},
		{"/api/meetings/setup", huge, adminKey, 413},
		{"/api/meetings/batch-join", within, adminKey, 400},
		{"/api/meetings/setup", within, adminKey, 400},
	} {
		r := ts.do("POST", c.path, c.body, c.headers)
		if r.Status != c.status {
			t.Errorf("%s: %d %.300s", c.path, r.Status, r.Raw)
		}
		if len(r.Raw) > 4096 {
			t.Errorf("%s: a %d-byte answer to a %d-byte body", c.path, len(r.Raw), len(c.body))
		}
		if c.status == 400 {
			if d, _ := r.Body["details"].([]any); len(d) == 0 || len(d) > 20 {
				t.Errorf("%s: %d details", c.path, len(d))
			}
			if !strings.Contains(str(r.Body["error"]), "400 fields") {
				t.Errorf("%s: the error does not count the problems: %s", c.path, r.Body["error"])
			}
		}
	}
}

// An address that keeps sending wrong credentials is refused for a while,
// even with a right one, before its credential is checked.
func TestFailedAuthenticationIsThrottledByAddress(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["AUTH_FAILURES_PER_MINUTE"] = "5"
	ts := startServer(t, sb, env)
	join := map[string]any{"meetingId": meeting, "participantUserId": "a@example.com"}
	for i := 0; i < 5; i++ {
		r := ts.do("POST", "/api/meetings/join", join, map[string]string{"X-API-Key": fmt.Sprintf("guess-%032d", i)})
		if r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := ts.do("POST", "/api/meetings/join", join, adminKey)
	if r.Status != 429 || r.Body["code"] != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures a right key got %d %s", r.Status, r.Raw)
	}
	// Requests without credentials are not guesses and do not count.
	if r := ts.do("GET", "/api/health", nil, nil); r.Status != 200 {
		t.Fatalf("health: %d", r.Status)
	}
	// Expired and forged JWTs count as failures too.
	ts2 := startServer(t, sb, env)
	forged := "Bearer " + signJWT(t, "another-secret-0123456789abcdef0123456789", jwt.MapClaims{"sub": "a@example.com", "exp": time.Now().Add(time.Hour).Unix()})
	for i := 0; i < 5; i++ {
		ts2.do("POST", "/api/meetings/join", join, map[string]string{"Authorization": forged})
	}
	if r := ts2.do("POST", "/api/meetings/join", join, bearer(t, "a@example.com", "")); r.Status != 429 {
		t.Fatalf("after 5 forged JWTs: %d %s", r.Status, r.Raw)
	}
}

// Caller JWTs that live too long are refused over HTTP with the reason.
func TestLongLivedCallerJWTIsRefused(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["AUTH_JWT_MAX_TTL"] = "1h"
	ts := startServer(t, sb, env)
	tok := signJWT(t, testJWTSecret, jwt.MapClaims{"sub": "a@example.com", "exp": time.Now().Add(3 * 365 * 24 * time.Hour).Unix()})
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "a@example.com"}, map[string]string{"Authorization": "Bearer " + tok})
	if r.Status != 401 || !strings.Contains(str(r.Body["error"]), "AUTH_JWT_MAX_TTL") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
}
