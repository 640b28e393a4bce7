package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// The app's own OAuth flow: the app sends users to Zoom's consent with its
// own redirect URL and PKCE, gets the code there, and hands it to the server
// (POST /api/connections). Real HTTP against the sandbox's General app.

const appRedirect = "https://app.example/oauth/zoom"

// appServer is a zoom-mode server whose ZOOM_OAUTH_REDIRECT_URLS lists
// appRedirect (registered on the sandbox's General app too), with env's
// extra variables.
func appServer(t *testing.T, sb *sandbox.Sandbox, db string, extra map[string]string) *testServer {
	t.Helper()
	env := connEnv(t, sb, db, newKey(t, "k1"))
	sb.AllowRedirect(appRedirect)
	env["ZOOM_OAUTH_REDIRECT_URLS"] = appRedirect
	for k, v := range extra {
		env[k] = v
	}
	return startServer(t, sb, env)
}

// appCode runs the consent as the app would, for email, with redirect and
// (when verifier is not empty) its S256 challenge; it answers the code.
func appCode(t *testing.T, sb *sandbox.Sandbox, redirect, verifier, email string) string {
	t.Helper()
	id, _ := sb.GeneralApp()
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "state": {"app-state"}}
	if verifier != "" {
		sum := sha256.Sum256([]byte(verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	loc := consent(t, sb.AuthorizeURL()+"?"+q.Encode(), email, "allow")
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, redirect+"?") || u.Query().Get("code") == "" {
		t.Fatalf("consent redirected to %s, not to %s with a code", loc, redirect)
	}
	return u.Query().Get("code")
}

func newVerifier(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestConnectionFromAppCode(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := appServer(t, sb, filepath.Join(t.TempDir(), "c.db"), nil)
	const ann, bob = "ann@partner.example", "bob@partner.example"
	post := func(body map[string]any, h map[string]string) reply {
		return ts.do("POST", "/api/connections", body, h)
	}

	t.Run("the app's code becomes a connection that mints", func(t *testing.T) {
		sock := authedSocket(t, ts, ann, "") // the console's socket sees the change live
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, ann)
		r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v}, bearer(t, ann, ""))
		if r.Status != 201 || field(r.Body, "connection", "email") != ann || field(r.Body, "connection", "status") != "connected" {
			t.Fatalf("POST /api/connections = %d %s", r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "refresh") && strings.Contains(strings.ToLower(r.Raw), "token\"") {
			t.Errorf("the answer names a token: %s", r.Raw)
		}
		wantJoin(t, ts.join(t, ann), "connection")
		if ev, ok := sock.waitEvent("connection:changed", 10*time.Second); !ok || ev["status"] != "connected" {
			t.Errorf("connection:changed = %v (received %v)", ev, ok)
		}
	})

	t.Run("a replayed code is a 400 naming the cause", func(t *testing.T) {
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, bob)
		if r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v}, bearer(t, bob, "")); r.Status != 201 {
			t.Fatalf("first use = %d %s", r.Status, r.Raw)
		}
		r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v}, bearer(t, bob, ""))
		if r.Status != 400 || !strings.Contains(str(r.Body["error"]), "already used") {
			t.Fatalf("replay = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("a wrong verifier is a 400 naming PKCE", func(t *testing.T) {
		code := appCode(t, sb, appRedirect, newVerifier(t), ann)
		r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": newVerifier(t)}, bearer(t, ann, ""))
		if r.Status != 400 || !strings.Contains(str(r.Body["error"]), "PKCE") {
			t.Fatalf("wrong verifier = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("another redirect: refused here, or by Zoom", func(t *testing.T) {
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, ann)
		r := post(map[string]any{"authorizationCode": code, "redirectUri": "https://evil.example/cb", "codeVerifier": v}, bearer(t, ann, ""))
		if r.Status != 400 || !strings.Contains(r.Raw, "ZOOM_OAUTH_REDIRECT_URLS") {
			t.Fatalf("unlisted redirect = %d %s", r.Status, r.Raw)
		}
		// The server's own redirect is allowed, but the code was issued for the app's: Zoom refuses.
		r = post(map[string]any{"authorizationCode": code, "redirectUri": ts.URL + callbackRoute, "codeVerifier": v}, bearer(t, ann, ""))
		if r.Status != 400 || !strings.Contains(str(r.Body["error"]), "redirect URL does not match") {
			t.Fatalf("the code for another redirect = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("sub set by a non-admin is 403; by an admin, it connects that sub", func(t *testing.T) {
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, ann)
		r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v, "sub": ann}, bearer(t, bob, ""))
		if r.Status != 403 {
			t.Fatalf("bob setting ann's sub = %d %s", r.Status, r.Raw)
		}
		before := sb.Stats().Revocations
		code = appCode(t, sb, appRedirect, v, ann)
		r = post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v, "sub": ann}, adminKey)
		if r.Status != 201 || field(r.Body, "connection", "sub") != ann {
			t.Fatalf("admin for ann = %d %s", r.Status, r.Raw)
		}
		if got := sb.Stats().Revocations - before; got != 1 {
			t.Errorf("revocations = %d; the replaced grant must be revoked at Zoom", got)
		}
		wantJoin(t, ts.join(t, ann), "connection")
	})

	t.Run("a code without PKCE, and a 10 MB body", func(t *testing.T) {
		code := appCode(t, sb, appRedirect, "", bob)
		if r := post(map[string]any{"authorizationCode": code, "redirectUri": appRedirect}, bearer(t, bob, "")); r.Status != 201 {
			t.Fatalf("without PKCE = %d %s", r.Status, r.Raw)
		}
		r := post(map[string]any{"authorizationCode": strings.Repeat("a", 10<<20), "redirectUri": appRedirect}, bearer(t, bob, ""))
		if r.Status != 413 {
			t.Fatalf("10 MB body = %d %.300s", r.Status, r.Raw)
		}
	})
	ts.assertNoSecretsLogged()
}
