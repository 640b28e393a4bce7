package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, h http.Handler, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, rec.Header(), body
}

func tokenReq(id, secret, form, query string) *http.Request {
	r := httptest.NewRequest("POST", "/oauth/token?"+query, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		r.SetBasicAuth(id, secret)
	}
	return r
}

func TestOAuthToken(t *testing.T) {
	sb := New(Options{AccountID: "acct", ClientID: "id", ClientSecret: "secret"})
	h := sb.Handler()
	cases := []struct {
		name   string
		req    *http.Request
		status int
		errStr string
		reason string
	}{
		{"form body", tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", ""), 200, "", ""},
		{"query parameters", tokenReq("id", "secret", "", "grant_type=account_credentials&account_id=acct"), 200, "", ""},
		{"no basic auth", tokenReq("", "", "grant_type=account_credentials&account_id=acct", ""), 400, "invalid_client", "Invalid client_id or client_secret"},
		{"wrong secret", tokenReq("id", "nope", "grant_type=account_credentials&account_id=acct", ""), 400, "invalid_client", "Invalid client_id or client_secret"},
		{"wrong grant", tokenReq("id", "secret", "grant_type=client_credentials&account_id=acct", ""), 400, "unsupported_grant_type", "unsupported grant type"},
		{"wrong account", tokenReq("id", "secret", "grant_type=account_credentials&account_id=other", ""), 400, "invalid_request", "Bad Request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := call(t, h, c.req)
			if status != c.status || (c.errStr != "" && (body["error"] != c.errStr || body["reason"] != c.reason)) {
				t.Fatalf("got %d %v", status, body)
			}
			if status == 200 && (body["access_token"] == "" || body["expires_in"] != float64(3600) || body["token_type"] != "bearer" || body["scope"] != ScopeUserToken) {
				t.Fatalf("token body = %v", body)
			}
		})
	}
	sb.SetNotActivated(true)
	if status, _, body := call(t, h, tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", "")); status != 400 || body["reason"] != "The app is not activated" {
		t.Fatalf("not activated: %d %v", status, body)
	}
}

func TestUserToken(t *testing.T) {
	now := time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC)
	sb := New(Options{AccountID: "acct", ClientID: "id", ClientSecret: "secret", QPS: 2, DailyLimit: 100, Now: func() time.Time { return now }})
	h := sb.Handler()
	_, _, tok := call(t, h, tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", ""))
	access := tok["access_token"].(string)
	get := func(path, bearer string) (int, http.Header, map[string]any) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+bearer)
		return call(t, h, r)
	}
	if s, _, b := get("/v2/users/a@example.com/token?type=zak", access); s != 200 || !strings.Contains(b["token"].(string), ".") {
		t.Fatalf("zak: %d %v", s, b)
	}
	if s, _, b := get("/v2/users/a@example.com/token?type=onbehalf", access); s != 400 || b["code"] != float64(300) {
		t.Fatalf("onbehalf without meeting_id: %d %v", s, b)
	}
	// The per-second limit (2) is now spent.
	s, hdr, b := get("/v2/users/"+url.PathEscape("sandboxHostUser0000001")+"/token?type=zak", access)
	if s != 429 || hdr.Get("X-RateLimit-Type") != "QPS" || hdr.Get("X-RateLimit-Category") != "Light" || b["code"] != float64(429) {
		t.Fatalf("over QPS: %d %v %v", s, hdr, b)
	}
	now = now.Add(time.Second) // a new second, and a new UTC day
	if s, _, b := get("/v2/users/nobody/token?type=zak", access); s != 404 || b["code"] != float64(1001) || b["message"] != "User does not exist: nobody." {
		t.Fatalf("unknown user: %d %v", s, b)
	}
	if s, _, b := get("/v2/users/a@example.com/token?type=zak", "forged"); s != 401 || b["code"] != float64(124) || b["message"] != "Invalid access token." {
		t.Fatalf("forged token: %d %v", s, b)
	}
	sb.SetDailyLimit(1) // one call today already: the next is over
	now = now.Add(time.Second)
	s, hdr, _ = get("/v2/users/a@example.com/token?type=zak", access)
	if s != 429 || hdr.Get("X-RateLimit-Type") != "Daily-limit" || hdr.Get("Retry-After") != "2026-11-24T00:00:00Z" {
		t.Fatalf("daily: %d %v", s, hdr)
	}
	sb.SetScopes("meeting:read:admin")
	_, _, tok2 := call(t, h, tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", ""))
	if s, _, b := get("/v2/users/a@example.com/token?type=zak", tok2["access_token"].(string)); s != 400 || b["code"] != float64(4711) {
		t.Fatalf("missing scope: %d %v", s, b)
	}
	now = now.Add(2 * time.Hour)
	if s, _, b := get("/v2/users/a@example.com/token?type=zak", access); s != 401 || b["message"] != "Access token is expired." {
		t.Fatalf("expired: %d %v", s, b)
	}
	if _, _, _ = get("/v2/accounts/x", access); len(sb.UnexpectedPaths()) != 1 {
		t.Fatalf("unexpected paths = %v", sb.UnexpectedPaths())
	}
}

// The sandbox routes as Zoom's gateway does: escapes are decoded before
// routing, so an escaped '/' or '..' in a user id reaches another route.
func TestGatewayRoutesDecodedPaths(t *testing.T) {
	sb := New(Options{AccountID: "acct", ClientID: "id", ClientSecret: "secret"})
	h := sb.Handler()
	_, _, tok := call(t, h, tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", ""))
	access := tok["access_token"].(string)
	get := func(path string) (int, map[string]any) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+access)
		s, _, b := call(t, h, r)
		return s, b
	}
	for _, c := range []struct {
		path   string
		status int
		code   float64
	}{
		{"/v2/users/user1@example.com/token?type=zak", 200, 0},
		{"/v2/users/user1%40example.com/token?type=zak", 200, 0},
		{"/v2/users/sandboxHostUser0000001/token?type=zak", 200, 0},
		// Escaped unreserved characters are not normalised for the lookup.
		{"/v2/users/user1@example%2Ecom/token?type=zak", 404, 1001},
		{"/v2/users/user1@example%2ecom/token?type=zak", 404, 1001},
		{"/v2/users/sandbox%48ostUser0000001/token?type=zak", 404, 1001},
		// A decoded '/' or '\' splits the path; dot segments climb, however spelled.
		{"/v2/users/a%2Fb/token?type=zak", 404, 404},
		{"/v2/users/a%5Cb/token?type=zak", 404, 404},
		{"/v2/users/..%2F..%2Faccounts%2Fx/token?type=zak", 404, 404},
		{"/v2/users/%2E%2E/token?type=zak", 404, 404},
		{"/v2/users/./token?type=zak", 404, 404},
		{"/v2/users//token?type=zak", 404, 404},
		{"/v2/users/nobody/..%2FsandboxHostUser0000001/token?type=zak", 200, 0},
	} {
		s, b := get(c.path)
		if s != c.status || (c.code != 0 && b["code"] != c.code) {
			t.Errorf("%s: %d %v, want %d code %v", c.path, s, b, c.status, c.code)
		}
	}
	want := []string{
		"GET /v2/users/a%2Fb/token", "GET /v2/users/a%5Cb/token", "GET /v2/users/..%2F..%2Faccounts%2Fx/token",
		"GET /v2/users/%2E%2E/token", "GET /v2/users/./token", "GET /v2/users//token",
	}
	if got := sb.UnexpectedPaths(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("unexpected paths:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s, _, _ := call(t, h, httptest.NewRequest("GET", "/", nil)); s != 200 {
		t.Fatalf("GET /: %d", s)
	}
	if s, _, _ := call(t, h, tokenReq("id", "secret", "grant_type=account_credentials&account_id=acct", "")); s != 200 {
		t.Fatalf("POST /oauth/token: %d", s)
	}
}
