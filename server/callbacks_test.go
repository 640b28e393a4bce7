package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Bot platforms, over real HTTP: a Recall.ai-style client that GETs a
// signed URL with no headers of its own and reads the token as plain text,
// and an Attendee-style client that POSTs its signed zoom_tokens callback.

const testCallbackKey = "callback-url-key-0123456789abcdef0123456789"

// recallGet calls u as Recall.ai does: GET, no Authorization, no cookies,
// nothing but the URL.
func recallGet(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// callbackURL asks the server for a signed URL and returns it.
func (ts *testServer) callbackURL(t *testing.T, headers map[string]string, body map[string]any) string {
	t.Helper()
	r := ts.do("POST", "/api/callback-urls", body, headers)
	u, _ := r.Body["url"].(string)
	if r.Status != 200 || u == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /api/callback-urls %v = %d %s", body, r.Status, r.Raw)
	}
	return u
}

// wantToken checks a 200 text/plain answer that Zoom (the sandbox) issued.
func wantToken(t *testing.T, ts *testServer, what string, status int, h http.Header, body string) string {
	t.Helper()
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s = %d %q %q: %s", what, status, h.Get("Content-Type"), h.Get("Cache-Control"), body)
	}
	if body == "" || strings.ContainsAny(body, "{}\" \n") || !slices.Contains(ts.SB.IssuedSecrets(), body) {
		t.Fatalf("%s answered %q, which is not a token Zoom issued", what, body)
	}
	ts.mu.Lock()
	ts.tokens = append(ts.tokens, body)
	ts.mu.Unlock()
	return body
}

func wantRefused(t *testing.T, what string, status int, body string, wantStatus int, wantCode, wantWords string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, `"code":"`+wantCode+`"`) || !strings.Contains(body, wantWords) {
		t.Fatalf("%s = %d %s; want %d %s mentioning %q", what, status, body, wantStatus, wantCode, wantWords)
	}
}

func callbackServer(t *testing.T) (*testServer, *sandbox.Sandbox) {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{Scopes: sandbox.ServerScopes, OAuthScopes: sandbox.UserScopes})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	env := connEnv(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	env["CALLBACK_URL_KEY"] = testCallbackKey // PUBLIC_URL: the redirect URL's origin
	return startServer(t, sb, env), sb
}

func TestCallbackURLsRecallStyle(t *testing.T) {
	ts, sb := callbackServer(t)
	host := bearer(t, "host@example.com", "host")
	var urls []string

	// ZAK and OBF, each kind once as Recall calls it.
	zak := ts.callbackURL(t, host, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 600})
	obf := ts.callbackURL(t, host, map[string]any{"kind": "obf", "userId": "host@example.com", "meetingId": meeting, "expiresInSeconds": 600})
	urls = append(urls, zak, obf)
	if !strings.HasPrefix(zak, ts.URL+"/api/callbacks/zak?") || !strings.HasPrefix(obf, ts.URL+"/api/callbacks/obf?") {
		t.Fatalf("URLs do not start with the public URL %s: %s, %s", ts.URL, zak, obf)
	}
	s, h, b := recallGet(t, zak)
	wantToken(t, ts, "zak URL", s, h, b)
	s, h, b = recallGet(t, zak) // not single use: answers again, a fresh token
	wantToken(t, ts, "zak URL, again", s, h, b)
	s, h, b = recallGet(t, obf)
	wantToken(t, ts, "obf URL", s, h, b)

	// Single use: the replay is refused.
	once := ts.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userId": "pat@example.com", "meetingId": meeting, "expiresInSeconds": 60, "singleUse": true})
	urls = append(urls, once)
	s, h, b = recallGet(t, once)
	wantToken(t, ts, "single-use URL", s, h, b)
	s, _, b = recallGet(t, once)
	wantRefused(t, "replayed single-use URL", s, b, 403, "forbidden", "already used")

	// Altered: each signed parameter changed.
	for name, change := range map[string]func(q url.Values){
		"user":    func(q url.Values) { q.Set("user", "victim@example.com") },
		"meeting": func(q url.Values) { q.Set("meeting", "85746065433") },
		"exp":     func(q url.Values) { q.Set("exp", "4102444800") },
		"once":    func(q url.Values) { q.Del("once") },
		"sig":     func(q url.Values) { q.Set("sig", strings.Repeat("A", 43)) },
	} {
		u, _ := url.Parse(once)
		q := u.Query()
		change(q)
		u.RawQuery = q.Encode()
		s, _, b = recallGet(t, u.String())
		wantRefused(t, "URL with its "+name+" altered", s, b, 401, "invalid_signature", "not valid")
	}
	// Another kind's path.
	s, _, b = recallGet(t, strings.Replace(zak, "/callbacks/zak?", "/callbacks/access_token?", 1))
	wantRefused(t, "zak URL on the access_token path", s, b, 401, "invalid_signature", "does not match")

	// Expired: signed with the server's key, its expiry passed.
	signer, err := callbacks.NewSigner(secret.New(testCallbackKey), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := zoom.ParseUserID("host@example.com")
	expired := signer.URL(callbacks.Claims{Kind: callbacks.KindZAK, User: user, Expires: time.Now().Add(-time.Second), ID: callbacks.NewID()})
	urls = append(urls, expired)
	s, _, b = recallGet(t, expired)
	wantRefused(t, "expired URL", s, b, 401, "invalid_signature", "expired")

	// Revoked: by its host, with the URL; another host may not.
	wantRefused(t, "revoke by another host", ts.do("POST", "/api/callback-urls/revoke", map[string]any{"url": zak},
		bearer(t, "other@example.com", "host")).Status, ts.do("POST", "/api/callback-urls/revoke", map[string]any{"url": zak},
		bearer(t, "other@example.com", "host")).Raw, 403, "forbidden", "own user")
	r := ts.do("POST", "/api/callback-urls/revoke", map[string]any{"url": zak}, host)
	if r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke = %d %s", r.Status, r.Raw)
	}
	s, _, b = recallGet(t, zak)
	wantRefused(t, "revoked URL", s, b, 403, "forbidden", "revoked")
	// An admin revokes by id.
	u, _ := url.Parse(obf)
	r = ts.do("POST", "/api/callback-urls/revoke", map[string]any{"id": u.Query().Get("id")}, adminKey)
	if r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke by id = %d %s", r.Status, r.Raw)
	}
	s, _, b = recallGet(t, obf)
	wantRefused(t, "URL revoked by id", s, b, 403, "forbidden", "revoked")

	// join_token: the meeting's local-recording join token, minted as its
	// host (the same path as POST /api/meetings/recording-token).
	jt := ts.callbackURL(t, host, map[string]any{"kind": "join_token", "userId": "host@example.com", "meetingId": meeting, "expiresInSeconds": 60})
	urls = append(urls, jt)
	s, h, b = recallGet(t, jt)
	if s != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get("Cache-Control") != "no-store" || b == "" || strings.ContainsAny(b, "{}\" \n") {
		t.Fatalf("join_token URL = %d %q: %s", s, h.Get("Content-Type"), b)
	}
	ts.mu.Lock()
	ts.tokens = append(ts.tokens, b)
	ts.mu.Unlock()
	// Not the meeting's host: no join token can be had, so a 404 with the
	// reason, never a 200 with a bad body (Recall's rule).
	notHost := ts.callbackURL(t, adminKey, map[string]any{"kind": "join_token", "userId": "pat@example.com", "meetingId": meeting, "expiresInSeconds": 60})
	s, _, b = recallGet(t, notHost)
	wantRefused(t, "join_token URL of a user who is not the host", s, b, 404, "not_found", "not the host")

	// access_token: the user's own connection's access token, valid for at
	// least 120 s more. A token in memory with 100 s left is refreshed first.
	sb.SetUserAccessTokenExpiresIn(100)
	ts.mustConnect(t, "pat@example.com")
	sb.SetUserAccessTokenExpiresIn(3600)
	before := sb.IssuedSecrets()
	at := ts.callbackURL(t, adminKey, map[string]any{"kind": "access_token", "userId": "pat@example.com", "expiresInSeconds": 60})
	urls = append(urls, at)
	s, h, b = recallGet(t, at)
	tok := wantToken(t, ts, "access_token URL", s, h, b)
	if slices.Contains(before, tok) {
		t.Fatal("an access token with 100 s left was answered: Recall refuses under 120 s")
	}
	// One with an hour left is answered as it is, no refresh.
	before = sb.IssuedSecrets()
	s, h, b = recallGet(t, at)
	if wantToken(t, ts, "access_token URL, again", s, h, b) != tok || len(sb.IssuedSecrets()) != len(before) {
		t.Fatal("a lasting access token was not reused")
	}
	// A user with no connection: 404 with the reason (never the account's S2S token).
	none := ts.callbackURL(t, adminKey, map[string]any{"kind": "access_token", "userId": "host@example.com", "expiresInSeconds": 60})
	s, _, b = recallGet(t, none)
	wantRefused(t, "access_token URL of an unconnected user", s, b, 404, "not_found", "has not connected")

	// Nothing about a URL reaches the logs but its kind and id.
	var sigs []string
	for _, raw := range urls {
		pu, _ := url.Parse(raw)
		sigs = append(sigs, pu.Query().Get("sig"), raw)
	}
	ts.assertNoSecretsLogged(append(sigs, testCallbackKey)...)
	if !strings.Contains(ts.Logs.String(), "callback_id") {
		t.Fatal("answered callbacks were not logged by id")
	}
}

// Who may make a URL: a host for its own user, an admin for any; a
// participant never. Bad bodies name their fields.
func TestCallbackURLsWhoMayMake(t *testing.T) {
	ts, _ := callbackServer(t)
	zak := func(user string) map[string]any {
		return map[string]any{"kind": "zak", "userId": user, "expiresInSeconds": 60}
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		body    map[string]any
		status  int
		words   string
	}{
		{"host, own", bearer(t, "host@example.com", "host"), zak("HOST@example.com"), 200, "url"},
		{"host, other", bearer(t, "host@example.com", "host"), zak("pat@example.com"), 403, "own user"},
		{"participant, own", bearer(t, "pat@example.com", ""), zak("pat@example.com"), 403, "host"},
		{"admin, any", adminKey, zak("pat@example.com"), 200, "url"},
		{"no credentials", nil, zak("pat@example.com"), 401, "unauthorized"},
		{"meeting missing", adminKey, map[string]any{"kind": "obf", "userId": "pat@example.com", "expiresInSeconds": 60}, 400, "meetingId"},
		{"meeting on zak", adminKey, map[string]any{"kind": "zak", "userId": "pat@example.com", "meetingId": meeting, "expiresInSeconds": 60}, 400, "does not apply"},
		{"unknown kind", adminKey, map[string]any{"kind": "password", "userId": "pat@example.com", "expiresInSeconds": 60}, 400, "kind"},
		{"too long", adminKey, map[string]any{"kind": "zak", "userId": "pat@example.com", "expiresInSeconds": 31 * 24 * 3600}, 400, "expiresInSeconds"},
		{"hostile user", adminKey, map[string]any{"kind": "zak", "userId": "../me", "expiresInSeconds": 60}, 400, "userId"},
	} {
		r := ts.do("POST", "/api/callback-urls", c.body, c.headers)
		if r.Status != c.status || !strings.Contains(r.Raw, c.words) {
			t.Errorf("%s: %d %s; want %d mentioning %q", c.name, r.Status, r.Raw, c.status, c.words)
		}
	}
}

// attendeeSecretB64 is an Attendee webhook secret as Attendee's dashboard
// shows it: base64 of 32 bytes. The vectors were written by Python 3's json
// module, as Attendee writes them: sent is json.dumps(payload) (requests'
// json=: insertion order, spaces, \u escapes), canonical is
// json.dumps(payload, sort_keys=True, ensure_ascii=False,
// separators=(",", ":")), sig is base64(HMAC-SHA256(decoded secret,
// canonical as UTF-8)).
const attendeeSecretB64 = "c2VydmVyLXRlc3QtYXR0ZW5kZWUtc2VjcmV0LTMyYnk="

var attendeeCases = []struct {
	name, sent, canonical, sig string
	zak, recording             bool
}{
	{name: "onbehalf, non-ASCII metadata",
		sent:      `{"meeting_url": "https://us05web.zoom.us/j/85746065432?pwd=xyz", "callback_type": "zoom_tokens", "bot_metadata": {"zoom_user_id": "host@example.com", "customer": "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale \u2013 \u5317\u4eac", "seats": 3}, "bot_id": "bot_abc123"}`,
		canonical: `{"bot_id":"bot_abc123","bot_metadata":{"customer":"Société Générale – 北京","seats":3,"zoom_user_id":"host@example.com"},"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/85746065432?pwd=xyz"}`,
		sig:       "YlAzoxBw9XaX0w3RUI/1oSfjbmYUD0Yskr3hSXi29LE="},
	{name: "zak", zak: true,
		sent:      `{"meeting_url": "https://us05web.zoom.us/j/85746065432?pwd=xyz", "callback_type": "zoom_tokens", "bot_metadata": {"zoom_user_id": "host@example.com", "zoom_token_type": "zak", "note": "na\u00efve"}, "bot_id": "bot_abc123"}`,
		canonical: `{"bot_id":"bot_abc123","bot_metadata":{"note":"naïve","zoom_token_type":"zak","zoom_user_id":"host@example.com"},"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/85746065432?pwd=xyz"}`,
		sig:       "MBL09tnN7m6a9hsa8U9OxDZ1jkJkUK47QdJ7BBQTM7s="},
	{name: "onbehalf and the recording token, a non-ASCII key sorted last", recording: true,
		sent:      `{"meeting_url": "https://us05web.zoom.us/j/85746065432", "callback_type": "zoom_tokens", "bot_metadata": {"zoom_user_id": "host@example.com", "zoom_recording_token": "true", "\u00e9quipe": "\u00dcn\u00efcode"}, "bot_id": "bot_rec1"}`,
		canonical: `{"bot_id":"bot_rec1","bot_metadata":{"zoom_recording_token":"true","zoom_user_id":"host@example.com","équipe":"Ünïcode"},"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/85746065432"}`,
		sig:       "t8RBjN0AAtMTwMElWi0jzWZEWhEteR5+Dd70ljUofiI="},
}

// attendeeSign signs as Attendee does: HMAC-SHA256 keyed with the decoded
// secret, over the canonical JSON, base64.
func attendeeSign(t *testing.T, canonical string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(attendeeSecretB64)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(canonical))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestAttendeeZoomTokensCallback(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Scopes: sandbox.ServerScopes, OAuthScopes: sandbox.UserScopes})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	env := zoomEnv(sb)
	env["ATTENDEE_WEBHOOK_SECRET"] = attendeeSecretB64
	ts := startServer(t, sb, env)
	post := func(body, sig string) reply {
		h := map[string]string{"User-Agent": "Attendee-Callback/1.0"}
		if sig != "" {
			h[callbacks.AttendeeSignatureHeader] = sig
		}
		return ts.do("POST", "/api/callbacks/attendee/zoom-tokens", body, h)
	}
	for _, c := range attendeeCases {
		sig := attendeeSign(t, c.canonical)
		if sig != c.sig {
			t.Fatalf("%s: the test's signature %s is not Python's %s", c.name, sig, c.sig)
		}
		r := post(c.sent, sig)
		if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Raw)
		}
		for _, k := range []string{"zak_token", "join_token", "app_privilege_token", "onbehalf_token"} {
			if _, ok := r.Body[k]; !ok {
				t.Fatalf("%s: %s missing from %s", c.name, k, r.Raw)
			}
		}
		got, other := "onbehalf_token", "zak_token"
		if c.zak {
			got, other = other, got
		}
		tok, _ := r.Body[got].(string)
		rec, _ := r.Body["app_privilege_token"].(string)
		if !slices.Contains(sb.IssuedSecrets(), tok) || r.Body[other] != nil || r.Body["join_token"] != nil || (rec != "") != c.recording {
			t.Fatalf("%s: answer %s; want %s minted, the recording token only when asked, the others null", c.name, r.Raw, got)
		}
		if rec != "" {
			ts.mu.Lock()
			ts.tokens = append(ts.tokens, rec)
			ts.mu.Unlock()
		}
		ts.mu.Lock()
		ts.tokens = append(ts.tokens, tok)
		ts.mu.Unlock()
	}

	c := attendeeCases[0]
	for name, sig := range map[string]string{
		"wrong signature":         attendeeSign(t, strings.Replace(c.canonical, "bot_abc123", "bot_abc124", 1)),
		"raw body signed":         attendeeSign(t, c.sent),
		"no signature":            "",
		"signature of wrong size": base64.StdEncoding.EncodeToString([]byte("short")),
	} {
		r := post(c.sent, sig)
		wantRefused(t, name, r.Status, r.Raw, 401, "invalid_signature", "signature")
	}
	// Signed, but without the user: a 400 naming the metadata key.
	noUser := `{"bot_id":"bot_abc123","bot_metadata":null,"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/85746065432"}`
	r := post(noUser, attendeeSign(t, noUser))
	wantRefused(t, "no zoom_user_id", r.Status, r.Raw, 400, "invalid_request", "zoom_user_id")
	ts.assertNoSecretsLogged(attendeeSecretB64)
}

// The bot platforms' variables are checked at start, each error naming its
// variable and never echoing a secret.
func TestBotPlatformConfig(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": "secret", "API_KEYS": "key-0123456789abcdef"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const shortKey = "short-callback-key-material"
	for _, c := range []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(c Config) bool
	}{
		{"off by default", base(), "", func(c Config) bool { return c.CallbackURLKey.Empty() && c.AttendeeSecret.Empty() }},
		{"short key", base("CALLBACK_URL_KEY", shortKey, "PUBLIC_URL", "https://t.example.com"), "CALLBACK_URL_KEY: must be at least 32 bytes", nil},
		{"key without a public URL", base("CALLBACK_URL_KEY", testCallbackKey), "PUBLIC_URL: is required with CALLBACK_URL_KEY", nil},
		{"public URL over plain http", base("CALLBACK_URL_KEY", testCallbackKey, "PUBLIC_URL", "http://t.example.com"), "PUBLIC_URL: must use https", nil},
		{"public URL with a query", base("CALLBACK_URL_KEY", testCallbackKey, "PUBLIC_URL", "https://t.example.com/?a=b"), "PUBLIC_URL: must be scheme://host", nil},
		{"public URL with a prefix", base("CALLBACK_URL_KEY", testCallbackKey, "PUBLIC_URL", "https://t.example.com/tokens/"), "",
			func(c Config) bool { return c.PublicURL == "https://t.example.com/tokens" }},
		{"public URL from the redirect URL", base("CALLBACK_URL_KEY", testCallbackKey, "ZOOM_OAUTH_CLIENT_ID", "gid", "ZOOM_OAUTH_CLIENT_SECRET", "s",
			"ZOOM_OAUTH_REDIRECT_URL", "https://t.example.com/zt/api/connections/zoom/callback", "CONNECTIONS_KEY", "k1:AAAA"), "",
			func(c Config) bool { return c.PublicURL == "https://t.example.com/zt" }},
		{"Attendee secret not base64", base("ATTENDEE_WEBHOOK_SECRET", "not base64 at all!"), "ATTENDEE_WEBHOOK_SECRET: must be the secret exactly as Attendee shows it", nil},
		{"Attendee secret too short", base("ATTENDEE_WEBHOOK_SECRET", "c2hvcnQ="), "ATTENDEE_WEBHOOK_SECRET: decodes to 5 bytes", nil},
		{"Attendee secret decoded", base("ATTENDEE_WEBHOOK_SECRET", attendeeSecretB64), "",
			func(c Config) bool { return c.AttendeeSecret.Reveal() == "server-test-attendee-secret-32by" }},
	} {
		cfg, err := loadConfig(func(k string) string { return c.env[k] })
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v; want %q", c.name, err, c.wantErr)
		case err != nil && strings.Contains(err.Error(), shortKey):
			t.Errorf("%s: the error echoes the key", c.name)
		case c.check != nil && !c.check(cfg):
			t.Errorf("%s: config %+v", c.name, cfg)
		}
	}
}

// In sandbox mode the feature is on with a generated key; a URL called too
// often is limited per URL, and an address sending forged signatures is
// throttled, though a URL whose signature verifies is still answered from it
// (TestForgedCallbacksSharedAddress).
func TestCallbackURLsSandboxModeAndLimits(t *testing.T) {
	ts := startServer(t, nil, map[string]string{"PORT": "0", "HOST": "127.0.0.1",
		"CALLER_RPS": "0.1", "CALLER_BURST": "2", "AUTH_FAILURES_PER_MINUTE": "3"})
	r := ts.do("POST", "/sandbox/tokens", map[string]any{"sub": "host@example.com", "role": "host"}, nil)
	jwt, _ := r.Body["token"].(string)
	if r.Status != 200 || jwt == "" {
		t.Fatalf("sandbox token = %d %s", r.Status, r.Raw)
	}
	u := ts.callbackURL(t, map[string]string{"Authorization": "Bearer " + jwt},
		map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 60})
	if !strings.HasPrefix(u, ts.URL+"/api/callbacks/zak?") {
		t.Fatalf("sandbox URL %s does not start with %s", u, ts.URL)
	}
	for i := range 2 {
		if s, h, b := recallGet(t, u); s != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || b == "" {
			t.Fatalf("call %d = %d %s", i+1, s, b)
		}
	}
	s, h, b := recallGet(t, u)
	wantRefused(t, "third call within the burst", s, b, 429, "rate_limited", "Retry-After")
	if h.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if r := ts.do("GET", "/", nil, nil); !strings.Contains(r.Raw, "POST /api/callback-urls") || strings.Contains(r.Raw, "attendee") {
		t.Fatalf("GET / does not list the callback routes as configured: %s", r.Raw)
	}

	fresh := ts.callbackURL(t, map[string]string{"Authorization": "Bearer " + jwt},
		map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 60})
	forged := strings.Replace(u, "user=host%40example.com", "user=pat%40example.com", 1)
	for range 3 {
		s, _, b = recallGet(t, forged)
		wantRefused(t, "forged URL", s, b, 401, "invalid_signature", "not valid")
	}
	s, _, b = recallGet(t, forged)
	wantRefused(t, "a forged URL over the address's budget", s, b, 429, "rate_limited", "failed")
	if s, _, b = recallGet(t, fresh); s != 200 || b == "" {
		t.Fatalf("a good URL from an address that sent forged ones = %d %s", s, b)
	}
	ts.assertNoSecretsLogged()
}

// Bot platforms fetch from shared egress addresses: one tenant sending
// forged callbacks must not lock every other tenant's bot out. From one
// address, forged signatures beyond the guard's budget are refused (401,
// then 429), while a URL or an Attendee callback whose signature verifies
// is still answered with its token. Bearer credentials from that address
// stay guarded as before: the forgeries spent its budget for them too.
func TestForgedCallbacksSharedAddress(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Scopes: sandbox.ServerScopes, OAuthScopes: sandbox.UserScopes})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	env := connEnv(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	env["CALLBACK_URL_KEY"] = testCallbackKey
	env["ATTENDEE_WEBHOOK_SECRET"] = attendeeSecretB64
	env["AUTH_FAILURES_PER_MINUTE"] = "1" // a budget of one, back after a minute: longer than the test
	ts := startServer(t, sb, env)
	good := ts.callbackURL(t, adminKey, map[string]any{"kind": "zak", "userId": "host@example.com", "expiresInSeconds": 600})
	forged := strings.Replace(good, "user=host%40example.com", "user=pat%40example.com", 1)
	c := attendeeCases[0]
	attendee := func(sig string) reply {
		return ts.do("POST", "/api/callbacks/attendee/zoom-tokens", c.sent, map[string]string{callbacks.AttendeeSignatureHeader: sig})
	}
	forgedSig := attendeeSign(t, strings.Replace(c.canonical, "bot_abc123", "bot_abc124", 1))

	s, _, b := recallGet(t, forged)
	wantRefused(t, "forged URL within the budget", s, b, 401, "invalid_signature", "not valid")
	for i := range 12 {
		s, _, b := recallGet(t, forged)
		wantRefused(t, "forged URL over the budget", s, b, 429, "rate_limited", "failed")
		r := attendee(forgedSig)
		wantRefused(t, "forged Attendee callback over the budget", r.Status, r.Raw, 429, "rate_limited", "failed")
		if i%4 == 3 {
			s, h, b := recallGet(t, good)
			wantToken(t, ts, "a good URL from the forging address", s, h, b)
			r := attendee(attendeeSign(t, c.canonical))
			tok, _ := r.Body["onbehalf_token"].(string)
			if r.Status != 200 || !slices.Contains(sb.IssuedSecrets(), tok) {
				t.Fatalf("a good Attendee callback from the forging address = %d %s", r.Status, r.Raw)
			}
			ts.mu.Lock()
			ts.tokens = append(ts.tokens, tok)
			ts.mu.Unlock()
		}
	}
	r := ts.do("GET", "/api/connections", nil, adminKey)
	wantRefused(t, "an API key from the forging address", r.Status, r.Raw, 429, "rate_limited", "failed")
	ts.assertNoSecretsLogged(attendeeSecretB64)
}
