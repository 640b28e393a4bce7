package sandbox

// User-level OAuth: the sandbox's own General app, its consent page, the
// authorization_code and refresh_token grants, revocation, /v2/users/me and
// users of another account (docs/ZOOM.md, "User-level OAuth"). As everywhere
// in the sandbox, where Zoom's exact answer is not documented the stricter
// one is taken, and the comment says so.

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scopes of the General app's user tokens, and the accounts and users the
// sandbox knows.
const (
	ScopeReadToken     = "user:read:token" // mint the token's own user's ZAK and OBF
	ScopeReadUser      = "user:read:user"  // read /v2/users/me
	DefaultOAuthScopes = ScopeReadToken + " " + ScopeReadUser

	// PartnerDomain: any *@partner.example is a user of PartnerAccountID,
	// another account than the sandbox's: only a connection (the user's own
	// grant) can mint for them.
	PartnerDomain    = "partner.example"
	PartnerAccountID = "partner-account"
	// OwnerID and OwnerEmail are the app's owner, a user of the sandbox's
	// account: what "me" names with an S2S token.
	OwnerID    = "sandboxAppOwner0000001"
	OwnerEmail = "owner@example.com"
	// DefaultConsentUser is the address the consent page offers.
	DefaultConsentUser = "user1@partner.example"
)

const (
	codeLife    = 5 * time.Minute  // an authorization code
	consentLife = 10 * time.Minute // a consent page, from shown to clicked
	keepSeen    = 100000           // users remembered by id
	keepRefresh = 200000           // refresh tokens remembered, live and spent
)

// User is a Zoom user as /v2/users/me answers it.
type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	AccountID string `json:"account_id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Type      int    `json:"type"`
}

// UserID is the stable Zoom user id the sandbox gives an email: 22
// characters of base64url, as Zoom's ids look. Emails are compared without
// regard to ASCII case.
func UserID(email string) string {
	sum := sha256.Sum256([]byte("zoom-sandbox-user\x00" + lowerASCII(email)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

type oauthState struct {
	consents    map[string]*consentReq // by the consent page's request id
	codes       map[string]*authCode
	refresh     map[string]*refreshToken // live and spent
	grants      map[string][]*grant      // by user id
	seen        map[string]User          // users by id, for S2S lookups by id
	issued      []string                 // codes and refresh tokens, latest keepMinted
	loseRefresh int
}

func newOAuthState() oauthState {
	return oauthState{
		consents: map[string]*consentReq{}, codes: map[string]*authCode{}, refresh: map[string]*refreshToken{},
		grants: map[string][]*grant{}, seen: map[string]User{},
	}
}

type consentReq struct {
	clientID, redirect, state, challenge string
	expires                              time.Time
}

type authCode struct {
	clientID, redirect, challenge, scopes string
	user                                  User
	expires                               time.Time
	used                                  bool
	grant                                 *grant // the grant it produced, once exchanged
}

// grant is one user's authorization of the General app: its access and
// refresh tokens die with it.
type grant struct {
	user    User
	scopes  string
	revoked bool
}

type refreshToken struct {
	grant *grant
	spent bool
}

// GeneralApp returns the client id and secret of the sandbox's General app.
func (s *Sandbox) GeneralApp() (clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.OAuthClientID, s.opts.OAuthClientSecret
}

// AuthorizeURL is the consent endpoint, Zoom's https://zoom.us/oauth/authorize.
func (s *Sandbox) AuthorizeURL() string { return s.url + "/oauth/authorize" }

// RevokeURL is the revocation endpoint, Zoom's https://zoom.us/oauth/revoke.
func (s *Sandbox) RevokeURL() string { return s.url + "/oauth/revoke" }

// AllowRedirect adds a redirect URI the General app accepts (compared
// exactly, as Zoom compares it).
func (s *Sandbox) AllowRedirect(u string) {
	s.mu.Lock()
	s.opts.OAuthRedirectURLs = append(slices.Clip(s.opts.OAuthRedirectURLs), u)
	s.mu.Unlock()
}

// SetGeneralAppScopes sets the scopes granted on consent from now on (space
// separated); grants already given keep theirs.
func (s *Sandbox) SetGeneralAppScopes(scopes string) {
	s.mu.Lock()
	s.opts.OAuthScopes = scopes
	s.mu.Unlock()
}

// SetUserAccessTokenExpiresIn sets expires_in of user access tokens issued from now on.
func (s *Sandbox) SetUserAccessTokenExpiresIn(sec int) {
	s.mu.Lock()
	s.opts.UserTokenExpiresIn = sec
	s.mu.Unlock()
}

// ExpireUserAccessTokens ends the life of every user access token issued so
// far, as if each had reached its expires_in: each answers 401 code 124
// ("Access token is expired.") from now on. Tests use it to make every
// holder of a grant refresh at a moment of their choosing, without waiting
// out a short lifetime on the wall clock.
func (s *Sandbox) ExpireUserAccessTokens() {
	s.mu.Lock()
	now := s.opts.Now()
	for _, at := range s.tokens {
		if at.grant != nil && at.expires.After(now) {
			at.expires = now
		}
	}
	s.mu.Unlock()
}

// RevokeGrant revokes every grant of the user with that email, as when the
// user removes the app: refresh_token answers invalid_grant, and the grant's
// access tokens answer 401 code 124.
func (s *Sandbox) RevokeGrant(email string) {
	s.mu.Lock()
	for _, g := range s.oauth.grants[UserID(email)] {
		g.revoked = true
	}
	s.mu.Unlock()
}

// LoseNextRefreshResponse makes the next successful refresh_token grant take
// effect (the old refresh token dies, a new one is issued) while its answer
// is lost: the connection is closed without a response.
func (s *Sandbox) LoseNextRefreshResponse() {
	s.mu.Lock()
	s.oauth.loseRefresh++
	s.mu.Unlock()
}

// remember adds a code or a refresh token to what IssuedSecrets lists. s.mu held.
func (s *Sandbox) remember(secret string) {
	st := &s.oauth
	if len(st.issued) >= keepMinted { // bounded, as minted tokens are
		st.issued = append(st.issued[:0], st.issued[keepMinted/2:]...)
	}
	st.issued = append(st.issued, secret)
}

// see records a user so that an S2S lookup by id finds it. s.mu held.
func (s *Sandbox) see(u User) {
	if _, ok := s.oauth.seen[u.ID]; ok || len(s.oauth.seen) < keepSeen {
		s.oauth.seen[u.ID] = u
	}
}

func (s *Sandbox) ownerUser(o Options) User {
	return User{ID: OwnerID, Email: OwnerEmail, AccountID: o.AccountID, FirstName: "App", LastName: "Owner", Type: 2}
}

// emailUser is the user an email names: *@example.com in the sandbox's
// account, *@partner.example in PartnerAccountID.
func (s *Sandbox) emailUser(o Options, email string) (User, bool) {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return User{}, false
	}
	email = lowerASCII(email)
	if email == OwnerEmail {
		return s.ownerUser(o), true
	}
	u := User{ID: UserID(email), Email: email, FirstName: email[:at], Type: 1}
	switch email[at+1:] {
	case "example.com":
		u.AccountID, u.LastName = o.AccountID, "Sandbox"
	case PartnerDomain:
		u.AccountID, u.LastName = PartnerAccountID, "Partner"
	default:
		return User{}, false
	}
	return u, true
}

// accountUser finds a user of the sandbox's own account by email or id, as
// an S2S token may address it; users of other accounts are not found.
func (s *Sandbox) accountUser(o Options, id string) (User, bool) {
	if strings.Contains(id, "@") {
		u, ok := s.emailUser(o, id)
		return u, ok && u.AccountID == o.AccountID
	}
	if id == OwnerID {
		return s.ownerUser(o), true
	}
	if slices.Contains(defaultUsers, id) {
		return User{ID: id, AccountID: o.AccountID, Type: 1}, true
	}
	s.mu.Lock()
	u, ok := s.oauth.seen[id]
	s.mu.Unlock()
	return u, ok && u.AccountID == o.AccountID
}

// authInfo is who a bearer token speaks for: user nil for an S2S token.
type authInfo struct {
	user   *User
	scopes string
}

// authenticate checks the bearer token, answering 401 code 124 when it is
// unknown, revoked (or its grant is) or expired.
func (s *Sandbox) authenticate(w http.ResponseWriter, r *http.Request, o Options) (authInfo, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	at := s.tokens[tok]
	var revoked, expired bool
	var info authInfo
	if at != nil {
		revoked = at.revoked || (at.grant != nil && at.grant.revoked)
		expired = !o.Now().Before(at.expires)
		info = authInfo{user: at.user, scopes: at.scopes}
	}
	s.mu.Unlock()
	switch {
	case at == nil || revoked:
		s.unauthorized.Add(1)
		writeJSON(w, http.StatusUnauthorized, zoomErr(124, "Invalid access token."))
		return info, false
	case expired:
		s.unauthorized.Add(1)
		writeJSON(w, http.StatusUnauthorized, zoomErr(124, "Access token is expired."))
		return info, false
	}
	return info, true
}

// me answers GET /v2/users/me: the token's user, or with an S2S token the
// app's owner (counted in Stats.OwnerCalls: a server must never ask "me" on
// a caller's behalf with S2S).
func (s *Sandbox) me(w http.ResponseWriter, r *http.Request) {
	s.meCalls.Add(1)
	o, auth, ok := s.apiCall(w, r)
	if !ok {
		return
	}
	if auth.user == nil {
		s.ownerCalls.Add(1)
		writeJSON(w, http.StatusOK, s.ownerUser(o))
		return
	}
	if !hasScope(auth.scopes, ScopeReadUser) {
		writeJSON(w, http.StatusBadRequest, zoomErr(4711, "Invalid access token, does not contain scopes:["+ScopeReadUser+"]."))
		return
	}
	writeJSON(w, http.StatusOK, *auth.user)
}

// authorize answers GET /oauth/authorize: an error page (400, no redirect)
// for what Zoom refuses, else the consent page.
func (s *Sandbox) authorize(w http.ResponseWriter, r *http.Request) {
	o := s.snapshot()
	if !s.delay(r, o.Latency) {
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"} {
		if len(q[k]) > 1 {
			htmlError(w, http.StatusBadRequest, "Repeated parameter: "+k+".")
			return
		}
	}
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case clientID == "" || clientID != o.OAuthClientID:
		htmlError(w, http.StatusBadRequest, "Invalid client_id: "+clientID+".")
		return
	case !slices.Contains(o.OAuthRedirectURLs, redirect) || !validRedirect(redirect):
		htmlError(w, http.StatusBadRequest, "Invalid redirect: "+redirect+".")
		return
	case q.Get("response_type") != "code":
		htmlError(w, http.StatusBadRequest, "Unsupported response_type: "+q.Get("response_type")+".")
		return
	// PKCE: S256 only. A challenge without a method would be "plain": refused.
	case method != "" && method != "S256", challenge != "" && method == "":
		htmlError(w, http.StatusBadRequest, "Unsupported code_challenge_method: "+method+". Use S256.")
		return
	case method == "S256" && !isS256Challenge(challenge):
		htmlError(w, http.StatusBadRequest, "Invalid code_challenge.")
		return
	}
	id := randomString(18)
	s.mu.Lock()
	now := o.Now()
	if len(s.oauth.consents) >= 1000 {
		for k, c := range s.oauth.consents {
			if !now.Before(c.expires) {
				delete(s.oauth.consents, k)
			}
		}
	}
	full := len(s.oauth.consents) >= 100000
	if !full {
		s.oauth.consents[id] = &consentReq{clientID: clientID, redirect: redirect, state: q.Get("state"), challenge: challenge,
			expires: now.Add(consentLife)}
	}
	s.mu.Unlock()
	if full {
		htmlError(w, http.StatusServiceUnavailable, "Too many pending authorizations. Try again later.")
		return
	}
	htmlPage(w, http.StatusOK, consentPage, map[string]any{
		"ClientID": clientID, "Redirect": redirect, "Scopes": strings.Fields(o.OAuthScopes),
		"Request": id, "User": DefaultConsentUser,
	})
}

// decide answers POST /oauth/authorize/decide, the consent page's buttons:
// Allow redirects with a code, Deny with error=access_denied.
func (s *Sandbox) decide(w http.ResponseWriter, r *http.Request) {
	o := s.snapshot()
	if err := r.ParseForm(); err != nil {
		htmlError(w, http.StatusBadRequest, "Bad request.")
		return
	}
	f := r.PostForm
	reqID, decision := f.Get("request"), f.Get("decision")
	var params []string
	var u User
	switch decision {
	case "deny":
		params = []string{"error", "access_denied"}
	case "allow":
		email, ok := f.Get("user"), false
		if validEmail(email) {
			u, ok = s.emailUser(o, email)
		}
		if !ok {
			htmlError(w, http.StatusBadRequest, "No such user: "+email+". Sign in as an address @"+PartnerDomain+" or @example.com.")
			return
		}
		params = []string{"code", "sbx_code_" + randomString(24)}
	default:
		htmlError(w, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	now := o.Now()
	s.mu.Lock()
	c := s.oauth.consents[reqID]
	delete(s.oauth.consents, reqID) // one answer per consent page
	live := c != nil && now.Before(c.expires)
	if live && decision == "allow" {
		if len(s.oauth.codes) >= 1000 {
			for k, ac := range s.oauth.codes {
				if !now.Before(ac.expires) {
					delete(s.oauth.codes, k)
				}
			}
		}
		code := params[1]
		s.oauth.codes[code] = &authCode{clientID: c.clientID, redirect: c.redirect, challenge: c.challenge,
			scopes: o.OAuthScopes, user: u, expires: now.Add(codeLife)}
		s.remember(code)
		s.see(u)
	}
	s.mu.Unlock()
	if !live {
		htmlError(w, http.StatusBadRequest, "This authorization request has expired or was already answered. Start again from the app.")
		return
	}
	if c.state != "" {
		params = append(params, "state", c.state)
	}
	w.Header().Set("Location", withQuery(c.redirect, params...))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// userGrant answers POST /oauth/token for the General app's credentials.
func (s *Sandbox) userGrant(w http.ResponseWriter, r *http.Request, o Options) {
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, r, o)
	case "refresh_token":
		s.refreshGrant(w, r, o)
	default: // account_credentials included: a General app has no account grant
		oauthError(w, "unsupported grant type", "unsupported_grant_type")
	}
}

// exchangeCode: a code is good once, for 5 minutes, for its client, its
// redirect_uri and its PKCE challenge. Any attempt spends it, and presenting
// a spent code again revokes the grant it produced (RFC 6749 §4.1.2; Zoom's
// behaviour there is not documented, this is the stricter answer).
func (s *Sandbox) exchangeCode(w http.ResponseWriter, r *http.Request, o Options) {
	code, redirect, verifier := r.Form.Get("code"), r.Form.Get("redirect_uri"), r.Form.Get("code_verifier")
	clientID, _, _ := r.BasicAuth()
	if code == "" {
		oauthError(w, "Bad Request", "invalid_request")
		return
	}
	now := o.Now()
	s.mu.Lock()
	c := s.oauth.codes[code]
	reason := ""
	switch {
	case c == nil:
		reason = "Invalid authorization code"
	case c.used:
		if c.grant != nil {
			c.grant.revoked = true
		}
		reason = "Invalid authorization code"
	case !now.Before(c.expires), c.clientID != clientID, c.redirect != redirect:
		reason = "Invalid authorization code"
	case c.challenge == "" && verifier != "", // a verifier without a challenge: refused (OAuth 2.1)
		c.challenge != "" && (!isVerifier(verifier) || s256(verifier) != c.challenge):
		reason = "Invalid code verifier"
	}
	if c != nil {
		c.used = true
	}
	if reason != "" {
		s.mu.Unlock()
		oauthError(w, reason, "invalid_grant")
		return
	}
	g := &grant{user: c.user, scopes: c.scopes}
	c.grant = g
	if gs := s.oauth.grants[g.user.ID]; len(gs) < 1000 { // bounded per user
		s.oauth.grants[g.user.ID] = append(gs, g)
	}
	body := s.issueUserTokens(o, g)
	s.mu.Unlock()
	s.codeExchanges.Add(1)
	writeJSON(w, http.StatusOK, body)
}

// refreshGrant rotates: the refresh token presented dies, a new one is issued.
func (s *Sandbox) refreshGrant(w http.ResponseWriter, r *http.Request, o Options) {
	tok := r.Form.Get("refresh_token")
	if tok == "" {
		oauthError(w, "Bad Request", "invalid_request")
		return
	}
	s.mu.Lock()
	rt := s.oauth.refresh[tok]
	switch {
	case rt == nil:
		s.mu.Unlock()
		oauthError(w, "Invalid Token!", "invalid_grant")
		return
	case rt.spent:
		s.mu.Unlock()
		s.refreshReuse.Add(1)
		oauthError(w, "Invalid Token!", "invalid_grant")
		return
	case rt.grant.revoked:
		s.mu.Unlock()
		oauthError(w, "Invalid Token!", "invalid_grant")
		return
	}
	rt.spent = true
	body := s.issueUserTokens(o, rt.grant)
	lose := s.oauth.loseRefresh > 0
	if lose {
		s.oauth.loseRefresh--
	}
	s.mu.Unlock()
	s.refreshes.Add(1)
	if lose {
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	writeJSON(w, http.StatusOK, body)
}

// issueUserTokens issues an access and a refresh token for g. s.mu held.
func (s *Sandbox) issueUserTokens(o Options, g *grant) map[string]any {
	access, refresh := "sbx_uat_"+randomString(32), "sbx_rt_"+randomString(32)
	u := g.user
	s.tokens[access] = &accessToken{expires: o.Now().Add(time.Duration(o.UserTokenExpiresIn) * time.Second),
		scopes: g.scopes, user: &u, grant: g}
	if len(s.oauth.refresh) >= keepRefresh { // bounded: forget spent tokens (a reuse of one is then only unknown)
		for k, rt := range s.oauth.refresh {
			if rt.spent {
				delete(s.oauth.refresh, k)
			}
		}
	}
	s.oauth.refresh[refresh] = &refreshToken{grant: g}
	s.remember(refresh)
	return map[string]any{
		"access_token": access, "token_type": "bearer", "refresh_token": refresh,
		"expires_in": o.UserTokenExpiresIn, "scope": g.scopes, "api_url": s.url,
	}
}

// oauthRevoke answers POST /oauth/revoke: the General app's credentials and
// a live access or refresh token of one of its grants revoke that grant.
// Zoom's answer to an unknown or dead token is not documented; the sandbox
// refuses it: 400 {"reason":"Invalid Token!","error":"invalid_request"}.
func (s *Sandbox) oauthRevoke(w http.ResponseWriter, r *http.Request) {
	o := s.snapshot()
	if !s.delay(r, o.Latency) {
		return
	}
	if o.Outage == OutageOAuth || o.Outage == OutageAll {
		s.failed5xx.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"reason": "Service Unavailable", "error": "server_error"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != o.OAuthClientID || secret != o.OAuthClientSecret {
		oauthError(w, "Invalid client_id or client_secret", "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil || r.Form.Get("token") == "" {
		oauthError(w, "Bad Request", "invalid_request")
		return
	}
	tok := r.Form.Get("token")
	now := o.Now()
	s.mu.Lock()
	var g *grant
	if at := s.tokens[tok]; at != nil && at.grant != nil && !at.revoked && now.Before(at.expires) {
		g = at.grant
	} else if rt := s.oauth.refresh[tok]; rt != nil && !rt.spent {
		g = rt.grant
	}
	live := g != nil && !g.revoked
	if live {
		g.revoked = true
	}
	s.mu.Unlock()
	if !live {
		oauthError(w, "Invalid Token!", "invalid_request")
		return
	}
	s.revocations.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
}

func oauthError(w http.ResponseWriter, reason, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"reason": reason, "error": code})
}

// validRedirect: an absolute http(s) URL without a fragment (RFC 6749 §3.1.2).
func validRedirect(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == "" &&
		!strings.Contains(s, "#")
}

// withQuery adds params to a redirect URI, keeping its own query.
func withQuery(base string, kv ...string) string {
	u, err := url.Parse(base)
	if err != nil { // cannot happen: checked by validRedirect
		return base
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// isS256Challenge: base64url of a SHA-256, unpadded (43 characters).
func isS256Challenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// isVerifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
func isVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return false
		}
	}
	return true
}

// validEmail: printable ASCII, one '@', none of / \ % ? # " < > or spaces.
func validEmail(s string) bool {
	if len(s) < 3 || len(s) > 128 || strings.Count(s, "@") != 1 || s[0] == '@' || s[len(s)-1] == '@' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`/\%?#"<>`, c) >= 0 {
			return false
		}
	}
	return true
}

// lowerASCII folds ASCII letters only, so no Unicode look-alike (a Kelvin
// sign for a K) stands for another address.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func asciiEqualFold(a, b string) bool { return len(a) == len(b) && lowerASCII(a) == lowerASCII(b) }

func htmlPage(w http.ResponseWriter, status int, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		fmt.Fprint(w, "sandbox: page error")
	}
}

func htmlError(w http.ResponseWriter, status int, msg string) {
	htmlPage(w, status, errorPage, map[string]string{"Message": msg})
}

const pageStyle = `<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .2em}button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem}
input{font-size:1rem;padding:.3rem;width:100%;box-sizing:border-box}.note{color:#666;font-size:.9rem}</style>`

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize app · Zoom sandbox</title>` + pageStyle + `</head>
<body>
<h1>Zoom sandbox</h1>
<p>The app <code>{{.ClientID}}</code> asks to use your Zoom account.</p>
<p>It will be allowed to:</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<p class="note">Your answer goes back to <code>{{.Redirect}}</code>.</p>
<form method="post" action="/oauth/authorize/decide">
<input type="hidden" name="request" value="{{.Request}}">
<p><label for="user">Signed in as</label><br>
<input type="text" id="user" name="user" value="{{.User}}" autocomplete="off" spellcheck="false"></p>
<p class="note">Any address @partner.example (a user of another account) or @example.com (a user of the sandbox's own account).</p>
<p><button type="submit" id="allow" name="decision" value="allow">Allow</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button></p>
</form>
<p class="note">This is a test stand-in for Zoom. Nothing here is a real Zoom account or token.</p>
</body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error · Zoom sandbox</title>` + pageStyle + `</head>
<body>
<h1>Zoom sandbox</h1>
<p id="error">{{.Message}}</p>
</body></html>
`))
