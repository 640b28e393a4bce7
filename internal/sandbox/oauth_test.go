package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testRedirect = "http://127.0.0.1:9/api/connections/zoom/callback"

// A PKCE pair: the challenge is base64url(SHA-256(verifier)), computed with openssl.
const (
	testVerifier  = "dBjftJeZ4CVP-mJ92K1S6eYiD5xYpDRUGWGTlQG1cFk"
	testChallenge = "DjO8z9A-dec5Yzqi-jz0bf9mWQK36yMvCsoJPGqzPok"
)

// oauthSandbox is a started sandbox with a clock the test moves.
type oauthSandbox struct {
	*Sandbox
	t     *testing.T
	clock atomic.Int64 // unix nanos
	hc    *http.Client
}

func startOAuth(t *testing.T, opts Options) *oauthSandbox {
	t.Helper()
	o := &oauthSandbox{t: t, hc: &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	o.clock.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	opts.Now = func() time.Time { return time.Unix(0, o.clock.Load()) }
	if opts.OAuthRedirectURLs == nil {
		opts.OAuthRedirectURLs = []string{testRedirect}
	}
	o.Sandbox = New(opts)
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func (o *oauthSandbox) clientID() string { id, _ := o.GeneralApp(); return id }

func (o *oauthSandbox) advance(d time.Duration) { o.clock.Add(int64(d)) }

type answer struct {
	status int
	header http.Header
	text   string
	json   map[string]any
}

func (o *oauthSandbox) do(req *http.Request) answer {
	o.t.Helper()
	resp, err := o.hc.Do(req)
	if err != nil {
		o.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, text: string(b)}
	_ = json.Unmarshal(b, &a.json)
	return a
}

func (o *oauthSandbox) get(path, bearer string) answer {
	o.t.Helper()
	req, _ := http.NewRequest("GET", o.URL()+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return o.do(req)
}

func (o *oauthSandbox) postForm(path, id, secret string, form url.Values) answer {
	o.t.Helper()
	req, _ := http.NewRequest("POST", o.URL()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	return o.do(req)
}

// token posts to /oauth/token with the General app's credentials.
func (o *oauthSandbox) token(kv ...string) answer {
	o.t.Helper()
	id, secret := o.GeneralApp()
	return o.postForm("/oauth/token", id, secret, form(kv...))
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func authorizeQuery(kv ...string) string {
	return "/oauth/authorize?" + form(kv...).Encode()
}

var requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)

// consent opens the consent page and answers it; it returns the redirect.
func (o *oauthSandbox) consent(query, user, decision string) answer {
	o.t.Helper()
	page := o.get(query, "")
	m := requestField.FindStringSubmatch(page.text)
	if page.status != 200 || m == nil {
		o.t.Fatalf("consent page: %d %s", page.status, page.text)
	}
	return o.postForm("/oauth/authorize/decide", "", "", form("request", m[1], "user", user, "decision", decision))
}

// code runs the consent with PKCE for user and returns the code.
func (o *oauthSandbox) code(user string) string {
	o.t.Helper()
	a := o.consent(authorizeQuery("response_type", "code", "client_id", o.clientID(), "redirect_uri", testRedirect,
		"state", "st-1", "code_challenge", testChallenge, "code_challenge_method", "S256"), user, "allow")
	loc, err := url.Parse(a.header.Get("Location"))
	if a.status != http.StatusFound || err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
		o.t.Fatalf("allow: %d %q", a.status, a.header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// connect runs the consent and the code exchange for user.
func (o *oauthSandbox) connect(user string) (access, refresh string) {
	o.t.Helper()
	a := o.token("grant_type", "authorization_code", "code", o.code(user), "redirect_uri", testRedirect, "code_verifier", testVerifier)
	if a.status != 200 {
		o.t.Fatalf("exchange: %d %s", a.status, a.text)
	}
	return a.json["access_token"].(string), a.json["refresh_token"].(string)
}

func (o *oauthSandbox) s2sToken() string {
	o.t.Helper()
	acct, id, secret := o.Credentials()
	a := o.postForm("/oauth/token", id, secret, form("grant_type", "account_credentials", "account_id", acct))
	if a.status != 200 {
		o.t.Fatalf("S2S token: %d %s", a.status, a.text)
	}
	return a.json["access_token"].(string)
}

func wantOAuthErr(t *testing.T, what string, a answer, status int, code, reason string) {
	t.Helper()
	if a.status != status || a.json["error"] != code || (reason != "" && a.json["reason"] != reason) {
		t.Errorf("%s: %d %s, want %d %s %q", what, a.status, a.text, status, code, reason)
	}
}

func wantZoomErr(t *testing.T, what string, a answer, status int, code float64) {
	t.Helper()
	if a.status != status || a.json["code"] != code {
		t.Errorf("%s: %d %s, want %d code %v", what, a.status, a.text, status, code)
	}
}

func TestAuthorizeRefusesWhatZoomRefuses(t *testing.T) {
	sb := startOAuth(t, Options{OAuthClientID: "gen-app"})
	ok := []string{"response_type", "code", "client_id", "gen-app", "redirect_uri", testRedirect, "state", "s",
		"code_challenge", testChallenge, "code_challenge_method", "S256"}
	with := func(k, v string) string {
		kv := slices.Clone(ok)
		i := slices.Index(kv, k)
		if v == "" {
			return authorizeQuery(slices.Delete(kv, i, i+2)...)
		}
		kv[i+1] = v
		return authorizeQuery(kv...)
	}
	for _, c := range []struct{ name, query, says string }{
		{"unknown client", with("client_id", "other-app"), "Invalid client_id"},
		{"no client", with("client_id", ""), "Invalid client_id"},
		{"redirect not allowed", with("redirect_uri", "http://evil.example/cb"), "Invalid redirect"},
		{"redirect with a trailing slash", with("redirect_uri", testRedirect+"/"), "Invalid redirect"},
		{"redirect with another query", with("redirect_uri", testRedirect+"?x=1"), "Invalid redirect"},
		{"no redirect", with("redirect_uri", ""), "Invalid redirect"},
		{"response_type token", with("response_type", "token"), "Unsupported response_type"},
		{"no response_type", with("response_type", ""), "Unsupported response_type"},
		{"plain PKCE", with("code_challenge_method", "plain"), "Unsupported code_challenge_method"},
		{"challenge without a method", with("code_challenge_method", ""), "Unsupported code_challenge_method"},
		{"challenge not a SHA-256", with("code_challenge", "short"), "Invalid code_challenge"},
		{"method without a challenge", with("code_challenge", ""), "Invalid code_challenge"},
		{"repeated client_id", authorizeQuery(ok...) + "&client_id=gen-app", "Repeated parameter"},
	} {
		a := sb.get(c.query, "")
		if a.status != 400 || a.header.Get("Location") != "" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(a.text, c.says) {
			t.Errorf("%s: %d %q %s", c.name, a.status, a.header.Get("Location"), a.text)
		}
	}
	// Without PKCE, and without state: a consent page.
	if a := sb.get(authorizeQuery("response_type", "code", "client_id", "gen-app", "redirect_uri", testRedirect), ""); a.status != 200 {
		t.Errorf("no PKCE: %d %s", a.status, a.text)
	}
	// What is echoed is escaped.
	a := sb.get(with("client_id", `<script>alert(1)</script>"'`), "")
	if a.status != 400 || strings.Contains(a.text, "<script>alert") || !strings.Contains(a.text, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("escaping: %s", a.text)
	}
}

func TestConsentPage(t *testing.T) {
	odd := `http://127.0.0.1:9/cb?next=<b>"x"</b>&keep=1`
	sb := startOAuth(t, Options{})
	sb.AllowRedirect(odd)
	a := sb.get(authorizeQuery("response_type", "code", "client_id", sb.clientID(), "redirect_uri", odd, "state", `<i>"s"</i>`), "")
	if a.status != 200 {
		t.Fatalf("consent page: %d %s", a.status, a.text)
	}
	for _, want := range []string{`id="allow"`, `id="deny"`, `name="user"`, `value="` + DefaultConsentUser + `"`,
		`action="/oauth/authorize/decide"`, `method="post"`, "&lt;b&gt;&#34;x&#34;&lt;/b&gt;", ScopeReadToken, ScopeReadUser} {
		if !strings.Contains(a.text, want) {
			t.Errorf("consent page lacks %s:\n%s", want, a.text)
		}
	}
	for _, not := range []string{"<b>", "<i>", "<script"} {
		if strings.Contains(a.text, not) {
			t.Errorf("consent page echoes %s unescaped", not)
		}
	}
	if a.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(a.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("headers: %v", a.header)
	}
	id := requestField.FindStringSubmatch(a.text)[1]
	decide := func(user, decision string) answer {
		return sb.postForm("/oauth/authorize/decide", "", "", form("request", id, "user", user, "decision", decision))
	}
	// An unknown user is refused, escaped, and the page can be answered again.
	for _, bad := range []string{"x@evil.example", `<img src=x>@partner.example`, "a b@partner.example", "", "kate@example.com/.."} {
		r := decide(bad, "allow")
		if r.status != 400 || r.header.Get("Location") != "" || strings.Contains(r.text, "<img") {
			t.Errorf("user %q: %d %s", bad, r.status, r.text)
		}
	}
	if r := decide("user1@partner.example", "maybe"); r.status != 400 {
		t.Errorf("no decision: %d", r.status)
	}
	// Deny: redirect with error=access_denied and the state, the redirect's own query kept.
	r := decide("user1@partner.example", "deny")
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != `<i>"s"</i>` ||
		loc.Query().Get("keep") != "1" || loc.Query().Get("code") != "" || loc.Host != "127.0.0.1:9" || loc.Path != "/cb" {
		t.Fatalf("deny: %d %q", r.status, r.header.Get("Location"))
	}
	// A consent page is answered once.
	if r := decide("user1@partner.example", "allow"); r.status != 400 || r.header.Get("Location") != "" {
		t.Errorf("second answer: %d %q", r.status, r.header.Get("Location"))
	}
	if r := sb.postForm("/oauth/authorize/decide", "", "", form("request", "forged", "user", "u@partner.example", "decision", "allow")); r.status != 400 {
		t.Errorf("forged request id: %d", r.status)
	}
	// A consent page left open too long has expired.
	a = sb.get(authorizeQuery("response_type", "code", "client_id", sb.clientID(), "redirect_uri", testRedirect), "")
	id = requestField.FindStringSubmatch(a.text)[1]
	sb.advance(consentLife)
	if r := decide("user1@partner.example", "allow"); r.status != 400 {
		t.Errorf("expired consent page: %d", r.status)
	}
}

func TestCodeExchange(t *testing.T) {
	sb := startOAuth(t, Options{})
	exchange := func(code string, kv ...string) answer {
		return sb.token(append([]string{"grant_type", "authorization_code", "code", code}, kv...)...)
	}
	code := sb.code("User1@Partner.example")
	a := exchange(code, "redirect_uri", testRedirect, "code_verifier", testVerifier)
	if a.status != 200 || a.json["token_type"] != "bearer" || a.json["expires_in"] != float64(3599) || a.json["scope"] != DefaultOAuthScopes ||
		a.json["access_token"] == nil || a.json["refresh_token"] == nil || a.json["access_token"] == a.json["refresh_token"] {
		t.Fatalf("exchange: %d %s", a.status, a.text)
	}
	access := a.json["access_token"].(string)
	if s := sb.Stats(); s.CodeExchanges != 1 || s.TokensIssued != 0 {
		t.Errorf("stats: %+v", s)
	}
	// A code is good once; presenting it again revokes what it gave.
	wantOAuthErr(t, "code reused", exchange(code, "redirect_uri", testRedirect, "code_verifier", testVerifier), 400, "invalid_grant", "Invalid authorization code")
	wantZoomErr(t, "access token after the code's reuse", sb.get("/v2/users/me", access), 401, 124)

	for _, c := range []struct {
		name string
		kv   []string
	}{
		{"no verifier", []string{"redirect_uri", testRedirect}},
		{"wrong verifier", []string{"redirect_uri", testRedirect, "code_verifier", strings.Repeat("a", 43)}},
		{"the challenge as verifier", []string{"redirect_uri", testRedirect, "code_verifier", testChallenge}},
		{"other redirect_uri", []string{"redirect_uri", testRedirect + "/", "code_verifier", testVerifier}},
		{"no redirect_uri", []string{"code_verifier", testVerifier}},
	} {
		code := sb.code("user1@partner.example")
		wantOAuthErr(t, c.name, exchange(code, c.kv...), 400, "invalid_grant", "")
		// A failed attempt spends the code.
		wantOAuthErr(t, c.name+", then right", exchange(code, "redirect_uri", testRedirect, "code_verifier", testVerifier), 400, "invalid_grant", "")
	}
	wantOAuthErr(t, "unknown code", exchange("sbx_code_nope", "redirect_uri", testRedirect), 400, "invalid_grant", "Invalid authorization code")
	wantOAuthErr(t, "no code", exchange("", "redirect_uri", testRedirect), 400, "invalid_request", "")

	code = sb.code("user1@partner.example")
	sb.advance(codeLife)
	wantOAuthErr(t, "expired code", exchange(code, "redirect_uri", testRedirect, "code_verifier", testVerifier), 400, "invalid_grant", "")

	// Without PKCE at authorize, a verifier at the exchange is refused; none is fine.
	noPKCE := func() string {
		r := sb.consent(authorizeQuery("response_type", "code", "client_id", sb.clientID(), "redirect_uri", testRedirect), "u2@example.com", "allow")
		loc, _ := url.Parse(r.header.Get("Location"))
		if loc.Query().Has("state") {
			t.Errorf("state added: %s", loc)
		}
		return loc.Query().Get("code")
	}
	wantOAuthErr(t, "verifier without a challenge", exchange(noPKCE(), "redirect_uri", testRedirect, "code_verifier", testVerifier), 400, "invalid_grant", "")
	if a := exchange(noPKCE(), "redirect_uri", testRedirect); a.status != 200 {
		t.Errorf("no PKCE: %d %s", a.status, a.text)
	}

	// Credentials: the S2S app's have no authorization_code grant; the
	// General app's have no account_credentials grant; a wrong secret is invalid_client.
	code = sb.code("user1@partner.example")
	acct, s2sID, s2sSecret := sb.Credentials()
	genID, _ := sb.GeneralApp()
	wantOAuthErr(t, "S2S credentials, authorization_code", sb.postForm("/oauth/token", s2sID, s2sSecret,
		form("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", testVerifier)),
		400, "unsupported_grant_type", "unsupported grant type")
	wantOAuthErr(t, "S2S credentials, refresh_token", sb.postForm("/oauth/token", s2sID, s2sSecret,
		form("grant_type", "refresh_token", "refresh_token", "x")), 400, "unsupported_grant_type", "")
	wantOAuthErr(t, "General app, account_credentials", sb.token("grant_type", "account_credentials", "account_id", acct),
		400, "unsupported_grant_type", "unsupported grant type")
	wantOAuthErr(t, "General app, wrong secret", sb.postForm("/oauth/token", genID, "wrong",
		form("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", testVerifier)),
		400, "invalid_client", "Invalid client_id or client_secret")
	wantOAuthErr(t, "no credentials", sb.postForm("/oauth/token", "", "", form("grant_type", "authorization_code", "code", code)),
		400, "invalid_client", "")
	// S2S keeps working beside the General app.
	_ = sb.s2sToken()
	if s := sb.Stats(); s.CodeExchanges != 2 || s.TokensIssued != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestRefreshRotates(t *testing.T) {
	sb := startOAuth(t, Options{})
	access, rt := sb.connect("user1@partner.example")
	refresh := func(tok string) answer { return sb.token("grant_type", "refresh_token", "refresh_token", tok) }
	a := refresh(rt)
	if a.status != 200 || a.json["refresh_token"] == rt || a.json["access_token"] == access || a.json["token_type"] != "bearer" ||
		a.json["expires_in"] != float64(3599) || a.json["scope"] != DefaultOAuthScopes {
		t.Fatalf("refresh: %d %s", a.status, a.text)
	}
	rt2 := a.json["refresh_token"].(string)
	// The old refresh token died: reusing it is invalid_grant, and counted.
	wantOAuthErr(t, "old refresh token", refresh(rt), 400, "invalid_grant", "Invalid Token!")
	if s := sb.Stats(); s.Refreshes != 1 || s.RefreshTokenReuse != 1 {
		t.Errorf("stats: %+v", s)
	}
	// Not reuse: an unknown token, or none.
	wantOAuthErr(t, "unknown refresh token", refresh("sbx_rt_forged"), 400, "invalid_grant", "Invalid Token!")
	wantOAuthErr(t, "no refresh token", refresh(""), 400, "invalid_request", "")
	if s := sb.Stats(); s.RefreshTokenReuse != 1 {
		t.Errorf("reuse counted for a token never issued: %+v", s)
	}
	a = refresh(rt2)
	if a.status != 200 {
		t.Fatalf("second refresh: %d %s", a.status, a.text)
	}
	// Access tokens issued before a refresh live until they expire (whether
	// Zoom ends them early is not documented).
	if me := sb.get("/v2/users/me", access); me.status != 200 {
		t.Errorf("older access token: %d", me.status)
	}
	sb.SetUserAccessTokenExpiresIn(60)
	a = refresh(a.json["refresh_token"].(string))
	if a.json["expires_in"] != float64(60) {
		t.Errorf("expires_in: %s", a.text)
	}
	short := a.json["access_token"].(string)
	sb.advance(time.Minute)
	if me := sb.get("/v2/users/me", short); me.status != 401 || me.json["code"] != float64(124) || me.json["message"] != "Access token is expired." {
		t.Errorf("expired user token: %d %s", me.status, me.text)
	}
	if s := sb.Stats(); s.Refreshes != 3 || s.RefreshTokenReuse != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestLostRefreshResponse(t *testing.T) {
	sb := startOAuth(t, Options{})
	_, rt := sb.connect("user1@partner.example")
	before := len(sb.IssuedSecrets())
	sb.LoseNextRefreshResponse()
	id, secret := sb.GeneralApp()
	req, _ := http.NewRequest("POST", sb.OAuthURL(), strings.NewReader(form("grant_type", "refresh_token", "refresh_token", rt).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	if resp, err := sb.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the answer arrived: %d", resp.StatusCode)
	}
	// The refresh happened: the new tokens exist, the old refresh token is spent.
	if s := sb.Stats(); s.Refreshes != 1 {
		t.Errorf("stats: %+v", s)
	}
	if after := len(sb.IssuedSecrets()); after != before+2 {
		t.Errorf("IssuedSecrets grew by %d, want 2 (access and refresh)", after-before)
	}
	wantOAuthErr(t, "retry with the old refresh token", sb.token("grant_type", "refresh_token", "refresh_token", rt), 400, "invalid_grant", "Invalid Token!")
	if s := sb.Stats(); s.RefreshTokenReuse != 1 {
		t.Errorf("stats: %+v", s)
	}
	// Only the next one is lost.
	_, rt = sb.connect("user2@partner.example")
	if a := sb.token("grant_type", "refresh_token", "refresh_token", rt); a.status != 200 {
		t.Errorf("next refresh: %d %s", a.status, a.text)
	}
}

func TestRevoke(t *testing.T) {
	sb := startOAuth(t, Options{})
	id, secret := sb.GeneralApp()
	revoke := func(tok string) answer { return sb.postForm("/oauth/revoke", id, secret, form("token", tok)) }
	for _, by := range []string{"access", "refresh"} {
		access, rt := sb.connect("user1@partner.example")
		tok := access
		if by == "refresh" {
			tok = rt
		}
		if a := revoke(tok); a.status != 200 || a.json["status"] != "success" {
			t.Fatalf("revoke by %s token: %d %s", by, a.status, a.text)
		}
		wantZoomErr(t, by+": access token", sb.get("/v2/users/me/token?type=zak", access), 401, 124)
		wantOAuthErr(t, by+": refresh", sb.token("grant_type", "refresh_token", "refresh_token", rt), 400, "invalid_grant", "Invalid Token!")
		wantOAuthErr(t, by+": revoked again", revoke(tok), 400, "invalid_request", "Invalid Token!")
	}
	// Another user's grant is untouched.
	access, rt := sb.connect("user2@partner.example")
	wantOAuthErr(t, "wrong secret", sb.postForm("/oauth/revoke", id, "wrong", form("token", access)), 400, "invalid_client", "")
	_, s2sID, s2sSecret := sb.Credentials()
	wantOAuthErr(t, "S2S credentials", sb.postForm("/oauth/revoke", s2sID, s2sSecret, form("token", access)), 400, "invalid_client", "")
	wantOAuthErr(t, "an S2S token", revoke(sb.s2sToken()), 400, "invalid_request", "")
	wantOAuthErr(t, "no token", revoke(""), 400, "invalid_request", "")
	if a := sb.get("/v2/users/me", access); a.status != 200 {
		t.Errorf("other user's grant: %d", a.status)
	}
	if s := sb.Stats(); s.Revocations != 2 || s.RefreshTokenReuse != 0 {
		t.Errorf("stats: %+v", s)
	}
	// The knob: the user removed the app (the email compared without ASCII case).
	sb.RevokeGrant("USER2@partner.example")
	wantZoomErr(t, "knob: access token", sb.get("/v2/users/me", access), 401, 124)
	wantOAuthErr(t, "knob: refresh", sb.token("grant_type", "refresh_token", "refresh_token", rt), 400, "invalid_grant", "Invalid Token!")
	// A new consent is a new grant.
	access, _ = sb.connect("user2@partner.example")
	if a := sb.get("/v2/users/me", access); a.status != 200 {
		t.Errorf("after a new consent: %d", a.status)
	}
}

func TestMeAndMeToken(t *testing.T) {
	sb := startOAuth(t, Options{})
	access, _ := sb.connect("Kate@Partner.example")
	me := sb.get("/v2/users/me", access)
	id := UserID("kate@partner.example")
	if me.status != 200 || me.json["id"] != id || me.json["email"] != "kate@partner.example" || me.json["account_id"] != PartnerAccountID ||
		me.json["first_name"] == nil || me.json["last_name"] == nil || me.json["type"] == nil {
		t.Fatalf("me: %d %s", me.status, me.text)
	}
	if len(id) != 22 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" || id != UserID("KATE@partner.example") {
		t.Errorf("user id %q", id)
	}
	// me/token mints for the token's user, recorded and counted.
	a := sb.get("/v2/users/me/token?type=onbehalf&meeting_id=123456789&ttl=600", access)
	if a.status != 200 || !slices.Contains(sb.IssuedSecrets(), a.json["token"].(string)) || sb.Stats().Minted != 1 {
		t.Fatalf("me/token: %d %s", a.status, a.text)
	}
	if sub := jwtSub(t, a.json["token"].(string)); sub != id {
		t.Errorf("minted for %q, want %q", sub, id)
	}
	if a := sb.get("/v2/users/me/token?type=zak", access); a.status != 200 || jwtSub(t, a.json["token"].(string)) != id {
		t.Errorf("zak: %d %s", a.status, a.text)
	}
	wantZoomErr(t, "me/token, bad type", sb.get("/v2/users/me/token?type=nope", access), 400, 300)
	// The user's own id or email is the user; anyone else is refused.
	for _, p := range []string{id, "kate@partner.example"} {
		if a := sb.get("/v2/users/"+p+"/token?type=zak", access); a.status != 200 {
			t.Errorf("own %s: %d %s", p, a.status, a.text)
		}
	}
	for _, p := range []string{"user1@partner.example", "user1@example.com", "sandboxHostUser0000001", UserID("user1@partner.example"), "ME"} {
		wantZoomErr(t, "a user token for "+p, sb.get("/v2/users/"+p+"/token?type=zak", access), 400, 200)
	}
	// The limits count these calls too.
	sb.SetQPS(1)
	sb.advance(time.Second)
	if a, b := sb.get("/v2/users/me/token?type=zak", access), sb.get("/v2/users/me/token?type=zak", access); a.status != 200 || b.status != 429 {
		t.Errorf("QPS: %d then %d", a.status, b.status)
	}
	sb.SetQPS(0)

	// Scopes: without user:read:token, no me/token; without user:read:user, no me.
	sb.SetGeneralAppScopes(ScopeReadUser)
	noToken, _ := sb.connect("kate@partner.example")
	if a := sb.get("/v2/users/me/token?type=zak", noToken); a.status != 400 || a.json["code"] != float64(4711) || !strings.Contains(a.json["message"].(string), "[user:read:token]") {
		t.Errorf("without user:read:token: %d %s", a.status, a.text)
	}
	if a := sb.get("/v2/users/me", noToken); a.status != 200 {
		t.Errorf("me with user:read:user: %d", a.status)
	}
	sb.SetGeneralAppScopes(ScopeReadToken)
	noUser, rt := sb.connect("kate@partner.example")
	wantZoomErr(t, "me without user:read:user", sb.get("/v2/users/me", noUser), 400, 4711)
	// A refresh keeps the grant's scopes.
	if a := sb.token("grant_type", "refresh_token", "refresh_token", rt); a.json["scope"] != ScopeReadToken {
		t.Errorf("refresh scope: %s", a.text)
	}
	// An S2S user-token scope does not count for a user token, nor the reverse.
	sb.SetGeneralAppScopes(ScopeUserToken + " " + ScopeReadUser)
	admin, _ := sb.connect("kate@partner.example")
	wantZoomErr(t, "user token with the admin scope only", sb.get("/v2/users/me/token?type=zak", admin), 400, 4711)
	sb.SetScopes(ScopeReadToken)
	wantZoomErr(t, "S2S token with the user scope only", sb.get("/v2/users/user1@example.com/token?type=zak", sb.s2sToken()), 400, 4711)
	sb.SetScopes(ScopeUserToken)

	// With an S2S token, "me" is the app's owner, and counted.
	s2s := sb.s2sToken()
	if a := sb.get("/v2/users/me", s2s); a.status != 200 || a.json["id"] != OwnerID || a.json["email"] != OwnerEmail || a.json["account_id"] != "sandbox-account" {
		t.Errorf("S2S me: %d %s", a.status, a.text)
	}
	if a := sb.get("/v2/users/me/token?type=zak", s2s); a.status != 200 || jwtSub(t, a.json["token"].(string)) != OwnerID {
		t.Errorf("S2S me/token: %d %s", a.status, a.text)
	}
	if s := sb.Stats(); s.OwnerCalls != 2 || s.MeCalls != 4 {
		t.Errorf("stats: %+v", s)
	}
	wantZoomErr(t, "me without a token", sb.get("/v2/users/me", ""), 401, 124)
	sb.SetOutage(OutageAPI)
	wantZoomErr(t, "me in an outage", sb.get("/v2/users/me", access), 503, 503)
}

func TestPartnerUsersOnlyThroughAConnection(t *testing.T) {
	sb := startOAuth(t, Options{})
	s2s := sb.s2sToken()
	partner := "user1@partner.example"
	access, _ := sb.connect(partner)
	own := "user9@example.com"
	sb.connect(own)
	for _, c := range []struct {
		path   string
		status int
		code   float64
	}{
		{partner, 404, 1001},
		{"USER1@PARTNER.EXAMPLE", 404, 1001},
		{UserID(partner), 404, 1001}, // a connected partner user's id: still not in the account
		{own, 200, 0},
		{UserID(own), 200, 0}, // a user of the account, known by id once seen
		{UserID("never-seen@example.com"), 404, 1001},
		{OwnerID, 200, 0},
		{OwnerEmail, 200, 0},
	} {
		a := sb.get("/v2/users/"+c.path+"/token?type=zak", s2s)
		if a.status != c.status || (c.code != 0 && a.json["code"] != c.code) {
			t.Errorf("S2S for %s: %d %s, want %d", c.path, a.status, a.text, c.status)
		}
	}
	if a := sb.get("/v2/users/me/token?type=zak", access); a.status != 200 {
		t.Errorf("the partner's connection: %d %s", a.status, a.text)
	}
	if a := sb.get("/v2/users/me", sb.connectAccess(own)); a.json["account_id"] != "sandbox-account" {
		t.Errorf("own account user: %s", a.text)
	}
}

func (o *oauthSandbox) connectAccess(user string) string { a, _ := o.connect(user); return a }

func TestIssuedSecretsListUserOAuth(t *testing.T) {
	sb := startOAuth(t, Options{})
	code := sb.code("user1@partner.example")
	a := sb.token("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirect, "code_verifier", testVerifier)
	access, rt := a.json["access_token"].(string), a.json["refresh_token"].(string)
	r := sb.token("grant_type", "refresh_token", "refresh_token", rt)
	minted := sb.get("/v2/users/me/token?type=zak", access).json["token"].(string)
	_, genSecret := sb.GeneralApp()
	secrets := sb.IssuedSecrets()
	for _, s := range []string{code, access, rt, r.json["access_token"].(string), r.json["refresh_token"].(string), minted, genSecret} {
		if !slices.Contains(secrets, s) {
			t.Errorf("IssuedSecrets lacks %.12s…", s)
		}
	}
	if id, _ := sb.GeneralApp(); id != "sandbox-general-app" {
		t.Errorf("default client id %q", id)
	}
}

func jwtSub(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var claims struct{ Sub string }
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(b, &claims)
	return claims.Sub
}

// Many refreshes with one refresh token at once: exactly one wins, every
// other is a reuse, counted.
func TestConcurrentRefreshesOneWins(t *testing.T) {
	sb := startOAuth(t, Options{})
	_, rt := sb.connect("user1@partner.example")
	const n = 50
	statuses := make(chan int, n)
	for range n {
		go func() {
			id, secret := sb.GeneralApp()
			req, _ := http.NewRequest("POST", sb.OAuthURL(), strings.NewReader(form("grant_type", "refresh_token", "refresh_token", rt).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := sb.hc.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	won := 0
	for range n {
		switch <-statuses {
		case 200:
			won++
		case 400:
		default:
			t.Error("a refresh neither won nor lost")
		}
	}
	if s := sb.Stats(); won != 1 || s.Refreshes != 1 || s.RefreshTokenReuse != n-1 {
		t.Errorf("%d won; stats %+v", won, s)
	}
}

// The knob: every user access token given so far expires at once; the S2S
// token and tokens given afterwards are not touched.
func TestExpireUserAccessTokens(t *testing.T) {
	sb := startOAuth(t, Options{})
	old, rt := sb.connect("user1@partner.example")
	sb.ExpireUserAccessTokens()
	if me := sb.get("/v2/users/me", old); me.status != 401 || me.json["code"] != float64(124) || me.json["message"] != "Access token is expired." {
		t.Errorf("expired user token: %d %s", me.status, me.text)
	}
	if me := sb.get("/v2/users/me", sb.s2sToken()); me.status != 200 {
		t.Errorf("S2S token: %d %s", me.status, me.text)
	}
	a := sb.token("grant_type", "refresh_token", "refresh_token", rt)
	if a.status != 200 {
		t.Fatalf("refresh: %d %s", a.status, a.text)
	}
	if me := sb.get("/v2/users/me", a.json["access_token"].(string)); me.status != 200 {
		t.Errorf("a token given afterwards: %d %s", me.status, me.text)
	}
}
