// Package zoomtest is a fake of Zoom's user-OAuth endpoints for tests, over
// real HTTP (httptest): the token endpoint's authorization_code grant (PKCE
// S256 checked, a code used once) and refresh_token grant (rotating: a
// spent refresh token answers invalid_grant, and is counted), revoke,
// /v2/users/me and /v2/users/me/token. It counts what tests assert on and
// remembers every token it issued, so a test can look for them where they
// must not be. It imports nothing of the server's.
package zoomtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// User is a Zoom user of the fake.
type User struct {
	ID        string
	Email     string
	AccountID string
}

// Server is the fake. Its exported knobs may be set before use, or under
// Lock for a running test.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu sync.Mutex
	// Knobs.
	Scope        string        // the scope granted; default "user:read:token user:read:user"
	AccessTTL    int           // expires_in of access tokens; default 3599
	RefreshDelay time.Duration // how long a refresh takes, to widen races
	// Revoked users: their grants answer invalid_grant.
	revokedUsers map[string]bool
	failMint124  int // the next n mints answer 401 code 124

	users    map[string]User // by id
	codes    map[string]*code
	refresh  map[string]*grantToken // refresh token -> its state
	access   map[string]string      // live access token -> user id
	issued   []string
	counts   Counts
	mintLog  []Mint
	revokedT []string
}

type code struct {
	user, redirect, challenge string
	used                      bool
}

type grantToken struct {
	user  string
	spent bool
}

// Counts is what the fake saw.
type Counts struct {
	Exchanges      int // codes exchanged
	Refreshes      int // refresh tokens rotated
	RefreshReused  int // spent refresh tokens presented again
	RefreshUnknown int // refresh tokens never issued (or revoked) presented
	Mints          int // /users/me/token answered 200
	Me             int
	Revokes        int
	BadClient      int // wrong Basic credentials
}

// Mint is one /users/me/token call.
type Mint struct {
	At      time.Time
	User    string
	Account string
	Type    string
}

// New starts a fake with a General app's credentials.
func New(clientID, clientSecret string) *Server {
	s := &Server{ClientID: clientID, ClientSecret: clientSecret,
		Scope: "user:read:token user:read:user", AccessTTL: 3599,
		revokedUsers: map[string]bool{}, users: map[string]User{}, codes: map[string]*code{},
		refresh: map[string]*grantToken{}, access: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/revoke", s.revoke)
	mux.HandleFunc("GET /v2/users/me", s.me)
	mux.HandleFunc("GET /v2/users/me/token", s.mint)
	s.Server = httptest.NewServer(mux)
	return s
}

// URLs of the fake's endpoints.
func (s *Server) TokenURL() string     { return s.URL + "/oauth/token" }
func (s *Server) RevokeURL() string    { return s.URL + "/oauth/revoke" }
func (s *Server) AuthorizeURL() string { return s.URL + "/oauth/authorize" }
func (s *Server) APIURL() string       { return s.URL + "/v2" }

// Lock runs f with the fake's state locked, to turn its knobs.
func (s *Server) Lock(f func(s *Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// AddUser makes u a user of the fake.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	s.users[u.ID] = u
	s.mu.Unlock()
}

// RevokeUser kills every grant of user: its refresh tokens answer
// invalid_grant and its access tokens 124.
func (s *Server) RevokeUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokedUsers[userID] = true
	for t, u := range s.access {
		if u == userID {
			delete(s.access, t)
		}
	}
}

// FailMints makes the next n mints answer 401 code 124, as for a revoked
// or expired access token.
func (s *Server) FailMints(n int) {
	s.mu.Lock()
	s.failMint124 = n
	s.mu.Unlock()
}

// ExpireAccessTokens forgets every access token (they answer 124).
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	clear(s.access)
	s.mu.Unlock()
}

// Consent plays the user userID approving the app at consentURL (the
// authorize URL a server built): it returns the code and the state Zoom
// would send to the redirect URL.
func (s *Server) Consent(consentURL, userID string) (codeValue, state string) {
	u, err := url.Parse(consentURL)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.newToken("code")
	s.codes[c] = &code{user: userID, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	return c, q.Get("state")
}

// Counts returns what the fake saw.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Mints returns the mints answered, in order.
func (s *Server) Mints() []Mint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mint(nil), s.mintLog...)
}

// Issued returns every code and token the fake issued.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// RevokedTokens returns the tokens revoked through the revoke endpoint.
func (s *Server) RevokedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.revokedT...)
}

// LiveRefreshTokens counts the unspent refresh tokens of user.
func (s *Server) LiveRefreshTokens(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.refresh {
		if g.user == userID && !g.spent {
			n++
		}
	}
	return n
}

func (s *Server) newToken(kind string) string {
	b := make([]byte, 12)
	rand.Read(b)
	t := "fake" + kind + hex.EncodeToString(b)
	s.issued = append(s.issued, t)
	return t
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func oauthErr(w http.ResponseWriter, status int, e, reason string) {
	writeJSON(w, status, map[string]string{"error": e, "reason": reason})
}

func (s *Server) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	return ok && id == s.ClientID && secret == s.ClientSecret
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "Bad Request")
		return
	}
	s.mu.Lock()
	delay := s.RefreshDelay
	if !s.clientOK(r) {
		s.counts.BadClient++
		s.mu.Unlock()
		oauthErr(w, 400, "invalid_client", "Invalid client_id or client_secret")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := s.codes[r.PostForm.Get("code")]
		switch {
		case !ok || c.used:
			s.mu.Unlock()
			oauthErr(w, 400, "invalid_grant", "Invalid authorization code")
			return
		case c.redirect != r.PostForm.Get("redirect_uri"):
			s.mu.Unlock()
			oauthErr(w, 400, "invalid_request", "Invalid redirect uri")
			return
		case c.challenge == "" || challenge(r.PostForm.Get("code_verifier")) != c.challenge:
			c.used = true
			s.mu.Unlock()
			oauthErr(w, 400, "invalid_grant", "Invalid code verifier")
			return
		}
		c.used = true
		s.counts.Exchanges++
		s.grant(w, c.user)
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		g, ok := s.refresh[rt]
		switch {
		case !ok || s.revokedUsers[g.user]:
			s.counts.RefreshUnknown++
			s.mu.Unlock()
			oauthErr(w, 400, "invalid_grant", "Invalid Token!")
			return
		case g.spent:
			s.counts.RefreshReused++
			s.mu.Unlock()
			oauthErr(w, 400, "invalid_grant", "Invalid Token!")
			return
		}
		g.spent = true
		s.counts.Refreshes++
		if delay > 0 {
			s.mu.Unlock()
			time.Sleep(delay)
			s.mu.Lock()
		}
		s.grant(w, g.user)
	default:
		s.mu.Unlock()
		oauthErr(w, 400, "unsupported_grant_type", "unsupported grant type")
	}
}

// grant answers a new token pair for user; s.mu is held and released here.
func (s *Server) grant(w http.ResponseWriter, user string) {
	at, rt := s.newToken("access"), s.newToken("refresh")
	s.access[at] = user
	s.refresh[rt] = &grantToken{user: user}
	body := map[string]any{"access_token": at, "token_type": "bearer", "refresh_token": rt,
		"expires_in": s.AccessTTL, "scope": s.Scope}
	s.mu.Unlock()
	writeJSON(w, 200, body)
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "Bad Request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clientOK(r) {
		s.counts.BadClient++
		oauthErr(w, 400, "invalid_client", "Invalid client_id or client_secret")
		return
	}
	t := r.PostForm.Get("token")
	s.counts.Revokes++
	s.revokedT = append(s.revokedT, t)
	if g, ok := s.refresh[t]; ok {
		s.revokedUsers[g.user] = true
	}
	delete(s.access, t)
	writeJSON(w, 200, map[string]string{"status": "success"})
}

func (s *Server) bearer(r *http.Request) (User, bool) {
	t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return User{}, false
	}
	id, ok := s.access[t]
	if !ok || s.revokedUsers[id] {
		return User{}, false
	}
	u, ok := s.users[id]
	return u, ok
}

func invalidToken(w http.ResponseWriter) {
	writeJSON(w, 401, map[string]any{"code": 124, "message": "Invalid access token."})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.bearer(r)
	if !ok {
		invalidToken(w)
		return
	}
	s.counts.Me++
	writeJSON(w, 200, map[string]any{"id": u.ID, "email": u.Email, "account_id": u.AccountID, "type": 1})
}

func (s *Server) mint(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failMint124 > 0 {
		s.failMint124--
		invalidToken(w)
		return
	}
	u, ok := s.bearer(r)
	if !ok {
		invalidToken(w)
		return
	}
	typ := r.URL.Query().Get("type")
	if typ != "zak" && typ != "onbehalf" {
		writeJSON(w, 400, map[string]any{"code": 300, "message": "Validation Failed."})
		return
	}
	s.counts.Mints++
	s.mintLog = append(s.mintLog, Mint{At: time.Now(), User: u.ID, Account: u.AccountID, Type: typ})
	writeJSON(w, 200, map[string]string{"token": s.newToken(typ)})
}
