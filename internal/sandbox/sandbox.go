// Package sandbox is an in-memory stand-in for Zoom's OAuth and user-token
// APIs (docs/ZOOM.md), served over real HTTP on loopback: a Server-to-Server
// app (account_credentials) and a General app whose users connect through a
// consent page (authorization_code with PKCE, rotating refresh tokens, see
// oauth.go). The server uses it
// in sandbox mode exactly as it uses Zoom, and the tests use it to inject
// Zoom's faults: rate limits, errors, latency, outages and revoked tokens.
// Nothing it issues is a real Zoom token.
package sandbox

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Outage says which of the sandbox's endpoints answer 503.
type Outage int

// Outage modes.
const (
	OutageNone  Outage = iota
	OutageAPI          // GET /v2/users/{userId}/token, /v2/users/me
	OutageOAuth        // POST /oauth/token and /oauth/revoke
	OutageAll
)

// ParseOutage reads "none", "api", "oauth" or "all".
func ParseOutage(s string) (Outage, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return OutageNone, nil
	case "api":
		return OutageAPI, nil
	case "oauth":
		return OutageOAuth, nil
	case "all":
		return OutageAll, nil
	}
	return OutageNone, fmt.Errorf("must be none, api, oauth or all, not %q", s)
}

// keepMinted is how many of the latest user tokens IssuedSecrets remembers.
const keepMinted = 10000

// ScopeUserToken is the scope an S2S app needs to read user tokens.
const ScopeUserToken = "user:read:token:admin"

// Users are the Zoom user ids the sandbox knows, besides any *@example.com email.
var defaultUsers = []string{
	"sandboxHostUser0000001",
	"sandboxHostUser0000002",
	"sandboxPartUser0000001",
	"sandboxPartUser0000002",
	"sandboxPartUser0000003",
}

// Options configure a sandbox. Zero values mean: no latency, no limits, no
// errors, tokens for 3600 s with the user-token scope.
type Options struct {
	AccountID    string
	ClientID     string
	ClientSecret string

	Latency    time.Duration // added to every answer
	QPS        int           // user-token calls per second; 0 = unlimited
	DailyLimit int           // user-token calls per UTC day; 0 = unlimited
	// DailyBare answers the daily limit as Zoom has been seen to: a 429 with
	// neither X-RateLimit-Type nor Retry-After, the limit counted per user and
	// told only in the message. Off: Zoom's documented headers, per account.
	DailyBare      bool
	ErrorRate      float64 // share of user-token calls answered 500
	Outage         Outage
	TokenExpiresIn int    // seconds; 0 = 3600
	Scopes         string // space separated; "" = ScopeUserToken
	GeneralApp     bool   // refuse account_credentials as a General app would
	NotActivated   bool   // refuse as an app not activated
	Now            func() time.Time

	// The sandbox's own General app (user-managed OAuth, see oauth.go).
	OAuthClientID     string   // "" = "sandbox-general-app"
	OAuthClientSecret string   // "" = generated
	OAuthRedirectURLs []string // redirect URIs allowed, compared exactly
	OAuthScopes       string   // granted on consent; "" = DefaultOAuthScopes
	// UserTokenExpiresIn is expires_in of user access tokens; 0 = 3599.
	UserTokenExpiresIn int

	// The Meeting SDK app whose signatures the join judge verifies (see
	// meetings.go); "" = the General app's client id and secret.
	SDKKey    string
	SDKSecret string

	// Webhook deliveries (webhooks.go): the delays of the retries of a
	// delivery not answered 2xx in time (nil: Zoom's 5, 20 and 60 minutes;
	// empty: none), and how long an answer is waited for (0: 10 s).
	WebhookRetryDelays []time.Duration
	WebhookTimeout     time.Duration

	// RTMS (rtms.go): the app whose streams are signed ("" = the General
	// app's client id and secret), and the pace of a signaling connection.
	RTMSClientID     string
	RTMSClientSecret string
	RTMSTranscripts  int           // transcript messages sent after a handshake; 0 = 3
	RTMSMessageEvery time.Duration // between two of them; 0 = 200 ms
	RTMSKeepAlive    time.Duration // between keep-alive requests; 0 = 30 s
}

// Stats count what the sandbox was asked.
type Stats struct {
	TokenRequests int64     // POST /oauth/token, all answers and grants
	TokensIssued  int64     // S2S access tokens issued (account_credentials)
	APICalls      int64     // GET /v2/users/{userId}/token and /v2/users/me/token, all answers
	Minted        int64     // ZAK and OBF tokens issued
	Throttled     int64     // 429 answers
	Failed5xx     int64     // 5xx answers (injected errors and outages)
	Unauthorized  int64     // 401 answers
	LastMint      time.Time // when the latest user token was issued

	CodeExchanges     int64 // successful authorization_code grants
	Refreshes         int64 // successful refresh_token grants (answers lost on purpose included)
	RefreshTokenReuse int64 // refresh_token grants refused because that refresh token was spent already
	Revocations       int64 // grants revoked through POST /oauth/revoke
	MeCalls           int64 // GET /v2/users/me, all answers
	OwnerCalls        int64 // "me" asked with an S2S token: answered for the app's owner
}

type accessToken struct {
	expires time.Time
	scopes  string
	revoked bool
	user    *User  // nil: an S2S token
	grant   *grant // the user's grant, for user tokens
}

// Sandbox is the Zoom stand-in.
type Sandbox struct {
	mu         sync.Mutex
	opts       Options
	tokens     map[string]*accessToken
	window     int64 // unix second of the current QPS window
	inWindow   int
	day        string
	today      int
	todayUser  map[string]int // DailyBare: calls per user today
	failNext   int
	failStatus int
	failBody   map[string]any // nil: {code: status, message: status text}
	unexpected []string
	minted     []string
	oauth      oauthState
	meet       meetState
	hooks      webhookState // webhooks.go
	rtms       rtmsState    // rtms.go

	tokenRequests, tokensIssued, apiCalls, mintedN, throttled, failed5xx, unauthorized atomic.Int64
	lastMint                                                                           atomic.Int64 // unix nanos
	codeExchanges, refreshes, refreshReuse, revocations, meCalls, ownerCalls           atomic.Int64

	srv *http.Server
	url string
}

// New returns a sandbox; Start serves it.
func New(opts Options) *Sandbox {
	if opts.AccountID == "" {
		opts.AccountID = "sandbox-account"
	}
	if opts.ClientID == "" {
		opts.ClientID = "sandbox-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = randomString(24)
	}
	if opts.TokenExpiresIn <= 0 {
		opts.TokenExpiresIn = 3600
	}
	if opts.Scopes == "" {
		opts.Scopes = ScopeUserToken
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OAuthClientID == "" {
		opts.OAuthClientID = "sandbox-general-app"
	}
	if opts.OAuthClientSecret == "" {
		opts.OAuthClientSecret = randomString(24)
	}
	if opts.OAuthScopes == "" {
		opts.OAuthScopes = DefaultOAuthScopes
	}
	if opts.UserTokenExpiresIn <= 0 {
		opts.UserTokenExpiresIn = 3599
	}
	opts.OAuthRedirectURLs = slices.Clone(opts.OAuthRedirectURLs)
	if opts.WebhookRetryDelays != nil {
		opts.WebhookRetryDelays = slices.Clone(opts.WebhookRetryDelays)
	}
	return &Sandbox{opts: opts, tokens: map[string]*accessToken{}, oauth: newOAuthState()}
}

// Credentials are the account id, client id and client secret the sandbox accepts.
func (s *Sandbox) Credentials() (accountID, clientID, clientSecret string) {
	return s.opts.AccountID, s.opts.ClientID, s.opts.ClientSecret
}

// Start serves the sandbox on a free loopback port.
func (s *Sandbox) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sandbox: listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// Close stops serving.
func (s *Sandbox) Close() error {
	s.closeWebhooks()
	s.closeRTMS()
	if s.srv == nil {
		return nil
	}
	// Connections a client dialled but never used count as active for a while:
	// give requests a moment to finish, then close whatever is left.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// URL is the sandbox's base URL.
func (s *Sandbox) URL() string { return s.url }

// OAuthURL is the token endpoint, for ZOOM_OAUTH_URL.
func (s *Sandbox) OAuthURL() string { return s.url + "/oauth/token" }

// APIURL is the REST base, for ZOOM_API_URL.
func (s *Sandbox) APIURL() string { return s.url + "/v2" }

// Users lists the user ids the sandbox knows besides *@example.com.
func (s *Sandbox) Users() []string { return append([]string(nil), defaultUsers...) }

// Knobs. Each may be turned while serving.

// SetLatency delays every answer by d.
func (s *Sandbox) SetLatency(d time.Duration) { s.mu.Lock(); s.opts.Latency = d; s.mu.Unlock() }

// SetQPS limits user-token calls per second (0 = unlimited).
func (s *Sandbox) SetQPS(n int) { s.mu.Lock(); s.opts.QPS = n; s.mu.Unlock() }

// SetDailyLimit limits user-token calls per UTC day (0 = unlimited).
func (s *Sandbox) SetDailyLimit(n int) { s.mu.Lock(); s.opts.DailyLimit = n; s.mu.Unlock() }

// SetDailyBare switches the daily 429 to its bare form (see Options.DailyBare).
func (s *Sandbox) SetDailyBare(b bool) { s.mu.Lock(); s.opts.DailyBare = b; s.mu.Unlock() }

// SetErrorRate answers that share of user-token calls with 500.
func (s *Sandbox) SetErrorRate(f float64) { s.mu.Lock(); s.opts.ErrorRate = f; s.mu.Unlock() }

// SetOutage makes endpoints answer 503.
func (s *Sandbox) SetOutage(o Outage) { s.mu.Lock(); s.opts.Outage = o; s.mu.Unlock() }

// SetScopes sets the scopes of access tokens issued from now on.
func (s *Sandbox) SetScopes(scopes string) { s.mu.Lock(); s.opts.Scopes = scopes; s.mu.Unlock() }

// SetTokenExpiresIn sets expires_in of access tokens issued from now on.
func (s *Sandbox) SetTokenExpiresIn(sec int) { s.mu.Lock(); s.opts.TokenExpiresIn = sec; s.mu.Unlock() }

// SetGeneralApp makes the OAuth endpoint refuse as for a General app's credentials.
func (s *Sandbox) SetGeneralApp(b bool) { s.mu.Lock(); s.opts.GeneralApp = b; s.mu.Unlock() }

// SetNotActivated makes the OAuth endpoint refuse as for an app not activated.
func (s *Sandbox) SetNotActivated(b bool) { s.mu.Lock(); s.opts.NotActivated = b; s.mu.Unlock() }

// FailNext answers the next n user-token calls with status (e.g. 500, 502, 503).
func (s *Sandbox) FailNext(n, status int) {
	s.mu.Lock()
	s.failNext, s.failStatus, s.failBody = n, status, nil
	s.mu.Unlock()
}

// FailNextWith answers the next n user-token calls (once authenticated) with
// status and Zoom's error body {code, message}: Zoom's codes do not always
// come with the status its documentation gives (a 400 with code 1001 has been
// seen), and clients must map by code.
func (s *Sandbox) FailNextWith(n, status, code int, message string) {
	s.mu.Lock()
	s.failNext, s.failStatus, s.failBody = n, status, zoomErr(code, message)
	s.mu.Unlock()
}

// RevokeAll revokes every access token issued so far.
func (s *Sandbox) RevokeAll() {
	s.mu.Lock()
	for _, t := range s.tokens {
		t.revoked = true
	}
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Sandbox) Stats() Stats {
	return Stats{
		TokenRequests: s.tokenRequests.Load(), TokensIssued: s.tokensIssued.Load(), APICalls: s.apiCalls.Load(),
		Minted: s.mintedN.Load(), Throttled: s.throttled.Load(), Failed5xx: s.failed5xx.Load(), Unauthorized: s.unauthorized.Load(),
		LastMint:      time.Unix(0, s.lastMint.Load()),
		CodeExchanges: s.codeExchanges.Load(), Refreshes: s.refreshes.Load(), RefreshTokenReuse: s.refreshReuse.Load(),
		Revocations: s.revocations.Load(), MeCalls: s.meCalls.Load(), OwnerCalls: s.ownerCalls.Load(),
	}
}

// UnexpectedPaths lists the paths asked for that are not the sandbox's routes.
func (s *Sandbox) UnexpectedPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

// IssuedSecrets lists what the sandbox has issued, with both apps' client
// secrets: every access token (S2S and user), the latest authorization codes
// and refresh tokens, and the latest user tokens (ZAK, OBF). For tests that
// check none leaks.
func (s *Sandbox) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{s.opts.ClientSecret, s.opts.OAuthClientSecret}
	for t := range s.tokens {
		out = append(out, t)
	}
	out = append(out, s.oauth.issued...)
	return append(out, s.minted...)
}

// Handler serves the sandbox's routes. It routes as Zoom's gateway does:
// the path is percent-decoded before routing (see gatewayPath), so an escaped
// '/' in a user id splits the path and reaches another route, which the
// sandbox answers 404 and records in UnexpectedPaths.
func (s *Sandbox) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs, ok := gatewayPath(r.URL.EscapedPath())
		switch {
		case ok && r.Method == http.MethodGet && len(segs) == 1 && segs[0].name == "":
			s.index(w, r)
			return
		case ok && r.Method == http.MethodPost && len(segs) == 2 && segs[0].name == "oauth" && segs[1].name == "token":
			s.oauthToken(w, r)
			return
		case ok && r.Method == http.MethodPost && len(segs) == 2 && segs[0].name == "oauth" && segs[1].name == "revoke":
			s.oauthRevoke(w, r)
			return
		case ok && r.Method == http.MethodGet && len(segs) == 2 && segs[0].name == "oauth" && segs[1].name == "authorize":
			s.authorize(w, r)
			return
		case ok && r.Method == http.MethodPost && len(segs) == 3 && segs[0].name == "oauth" && segs[1].name == "authorize" &&
			segs[2].name == "decide":
			s.decide(w, r)
			return
		case ok && r.Method == http.MethodGet && len(segs) == 3 && segs[0].name == "v2" && segs[1].name == "users" &&
			segs[2].lookup == "me":
			s.me(w, r)
			return
		case ok && r.Method == http.MethodGet && len(segs) == 4 && segs[0].name == "v2" && segs[1].name == "users" &&
			segs[2].name != "" && segs[3].name == "token":
			r.SetPathValue("userId", segs[2].lookup)
			s.userToken(w, r)
			return
		case ok && r.Method == http.MethodGet && len(segs) == 2 && segs[0].name == "rtms" && segs[1].name == "signaling":
			s.rtmsSignaling(w, r)
			return
		case ok && len(segs) >= 2 && segs[0].name == "sandbox" && s.serveSandbox(w, r, segs):
			return
		case ok && len(segs) >= 3 && segs[0].name == "v2" && segs[1].name == "meetings" && s.serveMeetingsAPI(w, r, segs):
			return
		}
		s.mu.Lock()
		if len(s.unexpected) < 1000 {
			s.unexpected = append(s.unexpected, r.Method+" "+r.URL.EscapedPath())
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not found."})
	})
}

// segment is one path segment as the gateway routes it (name: fully
// decoded) and as the user lookup sees it (lookup: see gatewayPath).
type segment struct{ name, lookup string }

// gatewayPath splits an escaped request path the way a gateway that decodes
// before routing does, taking the stricter answer wherever Zoom's exact
// behaviour is not documented:
//   - every percent-escape is decoded before the path is split, so a decoded
//     '/' splits a segment; so does a decoded '\', as some gateways treat it;
//   - "." and ".." segments are then resolved (RFC 3986 §5.2.4), however they
//     were spelled, so "..%2F..%2Faccounts%2Fx" climbs out of /v2/users/;
//   - the user lookup does not normalise escaped unreserved characters
//     (RFC 3986 §6.2.2.2): "user1@example%2Ecom" is not user1@example.com and
//     is answered 1001, as a gateway that does not normalise answers it. A
//     client that escapes '.' fails here as it would there.
//
// It reports false for a path with a malformed escape.
func gatewayPath(escaped string) ([]segment, bool) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, false
	}
	name, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, false
	}
	lookup := unescapeReserved(escaped)
	isSep := func(r rune) bool { return r == '/' || r == '\\' }
	names, lookups := splitKeep(name[1:], isSep), splitKeep(lookup[1:], isSep)
	if len(names) != len(lookups) { // cannot happen: unreserved escapes never decode to a separator
		return nil, false
	}
	out := make([]segment, 0, len(names))
	for i, n := range names {
		switch n {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, segment{name: n, lookup: lookups[i]})
			continue
		}
		if i == len(names)-1 { // "/a/.." is "/a/": a trailing dot segment leaves an empty last one
			out = append(out, segment{})
		}
	}
	if len(out) == 0 {
		out = append(out, segment{})
	}
	return out, true
}

// splitKeep splits s at every separator, keeping empty segments.
func splitKeep(s string, sep func(rune) bool) []string {
	var out []string
	start := 0
	for i, r := range s {
		if sep(r) {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescapeReserved decodes the percent-escapes of s except those of
// unreserved characters (ALPHA, DIGIT, '-', '.', '_', '~'), which stay as
// written. s must be a valid escaped path.
func unescapeReserved(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && !unreserved(byte(v)) {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func (s *Sandbox) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":   "Zoom sandbox",
		"note":   "An in-memory stand-in for Zoom. Its tokens are not real Zoom tokens.",
		"users":  defaultUsers,
		"emails": "any address ending in @example.com",
		"partner": "any address ending in @" + PartnerDomain + " is a user of " + PartnerAccountID +
			": reachable only with that user's own OAuth grant (GET /oauth/authorize)",
	})
}

func (s *Sandbox) snapshot() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

func (s *Sandbox) delay(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Sandbox) oauthToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	o := s.snapshot()
	if !s.delay(r, o.Latency) {
		return
	}
	if o.Outage == OutageOAuth || o.Outage == OutageAll {
		s.failed5xx.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"reason": "Service Unavailable", "error": "server_error"})
		return
	}
	oauthErr := func(reason, code string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"reason": reason, "error": code})
	}
	id, secret, ok := r.BasicAuth()
	s2s := ok && id == o.ClientID && secret == o.ClientSecret
	general := !s2s && ok && id == o.OAuthClientID && secret == o.OAuthClientSecret
	if !s2s && !general {
		oauthErr("Invalid client_id or client_secret", "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil { // body and query alike
		oauthErr("Bad Request", "invalid_request")
		return
	}
	if general { // authorization_code and refresh_token; account_credentials is refused
		s.userGrant(w, r, o)
		return
	}
	// The S2S app knows account_credentials only: its credentials with
	// authorization_code or refresh_token are an unsupported grant type.
	if r.Form.Get("grant_type") != "account_credentials" || o.GeneralApp {
		oauthErr("unsupported grant type", "unsupported_grant_type")
		return
	}
	if r.Form.Get("account_id") != o.AccountID {
		oauthErr("Bad Request", "invalid_request")
		return
	}
	if o.NotActivated {
		oauthErr("The app is not activated", "invalid_request")
		return
	}
	tok := "sbx_at_" + randomString(32)
	s.mu.Lock()
	s.tokens[tok] = &accessToken{expires: o.Now().Add(time.Duration(o.TokenExpiresIn) * time.Second), scopes: o.Scopes}
	s.mu.Unlock()
	s.tokensIssued.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "bearer", "expires_in": o.TokenExpiresIn,
		"scope": o.Scopes, "api_url": s.url,
	})
}

// apiCall is how every REST answer begins: the latency, an API outage, then
// the access token, checked before anything else as Zoom does. When ok is
// false the answer is written.
func (s *Sandbox) apiCall(w http.ResponseWriter, r *http.Request) (Options, authInfo, bool) {
	o := s.snapshot()
	if !s.delay(r, o.Latency) {
		return o, authInfo{}, false
	}
	if o.Outage == OutageAPI || o.Outage == OutageAll {
		s.failed5xx.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": "Service Unavailable"})
		return o, authInfo{}, false
	}
	auth, ok := s.authenticate(w, r, o)
	return o, auth, ok
}

func (s *Sandbox) userToken(w http.ResponseWriter, r *http.Request) {
	s.apiCalls.Add(1)
	o, auth, ok := s.apiCall(w, r)
	if !ok {
		return
	}
	need := ScopeUserToken
	if auth.user != nil {
		need = ScopeReadToken
	}
	if !hasScope(auth.scopes, need) {
		writeJSON(w, http.StatusBadRequest, zoomErr(4711, "Invalid access token, does not contain scopes:["+need+"]."))
		return
	}
	userID := r.PathValue("userId")
	target := s.tokenTarget(o, auth, userID)
	limitKey := userID
	if target != nil {
		limitKey = target.ID
	}
	if s.throttle(w, o, limitKey) {
		return
	}
	if st, body := s.injectedFailure(o); st != 0 {
		if st >= 500 {
			s.failed5xx.Add(1)
		}
		writeJSON(w, st, body)
		return
	}
	typ, mn, ttl, invalid := tokenQuery(r.URL.Query())
	if len(invalid) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.", "errors": invalid})
		return
	}
	if target == nil && auth.user != nil {
		writeJSON(w, http.StatusBadRequest, zoomErr(200, "No permission."))
		return
	}
	if target == nil {
		writeJSON(w, http.StatusNotFound, zoomErr(1001, "User does not exist: "+userID+"."))
		return
	}
	sub := target.ID
	if auth.user == nil && userID != "me" {
		sub = userID // as asked: an email or an id
	}
	token := fakeJWT(sub, typ, mn, o.Now().Add(time.Duration(ttl)*time.Second))
	s.recordMint(token)
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// tokenTarget is who a token is minted for, nil when no one: "me" is the
// token's own user (for an S2S token, the app's owner); a user token names
// no one else.
func (s *Sandbox) tokenTarget(o Options, auth authInfo, userID string) *User {
	switch {
	case auth.user != nil && (userID == "me" || userID == auth.user.ID || asciiEqualFold(userID, auth.user.Email)):
		return auth.user
	case auth.user != nil:
		// Stated, not confirmed: Zoom answers a user-level token that
		// names another user with code 200 "No permission.".
		return nil
	case userID == "me":
		s.ownerCalls.Add(1)
		owner := s.ownerUser(o)
		return &owner
	default:
		if u, ok := s.accountUser(o, userID); ok {
			return &u
		}
		return nil
	}
}

// tokenQuery reads GET /users/{userId}/token's type, meeting_id and ttl,
// with Zoom's "Invalid field." for each bad one.
func tokenQuery(q url.Values) (typ, mn string, ttl int, invalid []map[string]string) {
	typ = q.Get("type")
	if typ != "zak" && typ != "onbehalf" {
		invalid = append(invalid, map[string]string{"field": "type", "message": "Invalid field."})
	}
	mn = q.Get("meeting_id")
	if typ == "onbehalf" && !isMeetingNumber(mn) {
		invalid = append(invalid, map[string]string{"field": "meeting_id", "message": "Invalid field."})
	}
	ttl = 7200
	if v := q.Get("ttl"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31536000 {
			invalid = append(invalid, map[string]string{"field": "ttl", "message": "Invalid field."})
		}
		ttl = n
	}
	return typ, mn, ttl, invalid
}

// recordMint keeps a minted token, the last keepMinted at most, for the
// sandbox's checks.
func (s *Sandbox) recordMint(token string) {
	s.mu.Lock()
	if len(s.minted) >= keepMinted { // bounded: a long sandbox run must not grow
		s.minted = append(s.minted[:0], s.minted[keepMinted/2:]...)
	}
	s.minted = append(s.minted, token)
	s.mu.Unlock()
	s.mintedN.Add(1)
	s.lastMint.Store(time.Now().UnixNano())
}

// throttle applies the per-second and daily limits, answering 429 as Zoom does.
func (s *Sandbox) throttle(w http.ResponseWriter, o Options, userID string) bool {
	now := o.Now()
	s.mu.Lock()
	sec := now.Unix()
	if sec != s.window {
		s.window, s.inWindow = sec, 0
	}
	s.inWindow++
	overQPS := o.QPS > 0 && s.inWindow > o.QPS
	day := now.UTC().Format("2006-01-02")
	if day != s.day {
		s.day, s.today, s.todayUser = day, 0, nil
	}
	overDaily := false
	if !overQPS {
		s.today++
		count := s.today
		if o.DailyBare {
			if s.todayUser == nil {
				s.todayUser = map[string]int{}
			}
			key := strings.ToLower(userID)
			if _, ok := s.todayUser[key]; ok || len(s.todayUser) < 100000 { // bounded
				s.todayUser[key]++
			}
			count = s.todayUser[key]
		}
		overDaily = o.DailyLimit > 0 && count > o.DailyLimit
	}
	s.mu.Unlock()
	h := w.Header()
	switch {
	case overQPS:
		s.throttled.Add(1)
		h.Set("X-RateLimit-Category", "Light")
		h.Set("X-RateLimit-Type", "QPS")
		h.Set("X-RateLimit-Limit", strconv.Itoa(o.QPS))
		h.Set("X-RateLimit-Remaining", "0")
		writeJSON(w, http.StatusTooManyRequests, zoomErr(429, "You have reached the maximum per-second rate limit for this API. Try again later."))
		return true
	case overDaily && o.DailyBare:
		s.throttled.Add(1)
		writeJSON(w, http.StatusTooManyRequests, zoomErr(429, fmt.Sprintf("You have exceeded the daily rate limit (%d) of Get a user's token API requests permitted for this particular user. You may resume these requests at GMT 00:00:00.", o.DailyLimit)))
		return true
	case overDaily:
		s.throttled.Add(1)
		y, m, d := now.UTC().Date()
		reset := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		h.Set("X-RateLimit-Category", "Light")
		h.Set("X-RateLimit-Type", "Daily-limit")
		h.Set("X-RateLimit-Limit", strconv.Itoa(o.DailyLimit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("Retry-After", reset.Format(time.RFC3339))
		writeJSON(w, http.StatusTooManyRequests, zoomErr(429, "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."))
		return true
	}
	return false
}

func (s *Sandbox) injectedFailure(o Options) (int, map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, body := 0, map[string]any(nil)
	switch {
	case s.failNext > 0:
		s.failNext--
		st, body = s.failStatus, s.failBody
	case o.ErrorRate > 0 && rand.Float64() < o.ErrorRate:
		st = http.StatusInternalServerError
	}
	if st != 0 && body == nil {
		body = zoomErr(st, http.StatusText(st))
	}
	return st, body
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

func isMeetingNumber(s string) bool {
	if len(s) < 9 || len(s) > 11 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func zoomErr(code int, msg string) map[string]any {
	return map[string]any{"code": code, "message": msg}
}

// fakeJWT makes a token shaped like Zoom's (three base64url parts), marked as
// a sandbox token, with a random signature part: it verifies nowhere.
func fakeJWT(userID, typ, meeting string, exp time.Time) string {
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "HS256", "sandbox": true})
	body, _ := json.Marshal(map[string]any{"sub": userID, "type": typ, "mn": meeting, "exp": exp.Unix(), "jti": randomString(12), "iss": "zoom-sandbox"})
	return enc.EncodeToString(head) + "." + enc.EncodeToString(body) + "." + randomString(32)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := cryptorand.Read(b); err != nil {
		panic(errors.New("sandbox: no randomness"))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
