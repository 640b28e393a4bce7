package zoom

// Zoom's user-level OAuth (a General app): the consent URL with PKCE, the
// authorization-code and refresh-token grants, who the user is, and
// revocation (docs/ZOOM.md, "User-level OAuth").
//
// golang.org/x/oauth2 was weighed for the exchange, the refresh and PKCE,
// and not used:
//   - Zoom rotates the refresh token on every refresh and the old one dies.
//     The new one must be sealed and stored before the access token is used,
//     under a lease taken in the store, and a refresh must never be replayed.
//     x/oauth2's TokenSource refreshes by itself and keeps the previous
//     refresh token when an answer lacks one (a dead token, for Zoom); its
//     one-shot calls would do, but then it brings nothing but the form.
//   - Its errors: RetrieveError holds the whole *http.Response and its
//     message embeds the raw body; ours never hold a body, so never a token.
//   - It reads up to 1 MiB, stamps Expiry with time.Now (not the injected
//     clock), returns Zoom's scope only through Extra, and knows nothing of
//     Zoom's reason field, our metrics or our typed errors.
//   - PKCE (GenerateVerifier, S256ChallengeOption) is ten lines of the
//     standard library.
// So the grants go through the client's one exchange path (bounded reads,
// URL-free transport errors, the injected clock, the Observer), as the S2S
// grant does.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// OAuthApp is a General app's user-OAuth side: its credentials, the
// redirect URL registered on the app, and Zoom's endpoints (the sandbox's in
// sandbox mode).
type OAuthApp struct {
	ClientID     string
	ClientSecret secret.Value
	RedirectURL  string // where Zoom sends the browser back, with code and state
	AuthorizeURL string // e.g. https://zoom.us/oauth/authorize
	TokenURL     string // e.g. https://zoom.us/oauth/token
	RevokeURL    string // e.g. https://zoom.us/oauth/revoke
}

// Validate says which field of a is missing or not an absolute URL.
func (a OAuthApp) Validate() error {
	if a.ClientID == "" || a.ClientSecret.Empty() {
		return errors.New("zoom: the General app needs its client id and client secret")
	}
	for _, f := range []struct{ name, v string }{
		{"redirect URL", a.RedirectURL}, {"authorize URL", a.AuthorizeURL},
		{"token URL", a.TokenURL}, {"revoke URL", a.RevokeURL},
	} {
		u, err := url.Parse(f.v)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("zoom: the General app's %s must be an absolute URL", f.name)
		}
	}
	return nil
}

// UserScope is the scope a user's grant needs to mint its ZAK and OBF tokens
// (/v2/users/me/token).
const UserScope = "user:read:token"

// HasTokenScope reports whether scopes let a user's grant mint: the
// granular user:read:token, or the classic user:read that predates it.
func HasTokenScope(scopes []string) bool {
	for _, s := range scopes {
		if s == UserScope || s == "user:read" {
			return true
		}
	}
	return false
}

// NewPKCEVerifier returns a fresh PKCE code verifier (RFC 7636): 32 random
// bytes, base64url, 43 characters.
func NewPKCEVerifier() secret.Value {
	b := make([]byte, 32)
	rand.Read(b) // never fails: it crashes the program instead
	return secret.New(base64.RawURLEncoding.EncodeToString(b))
}

// PKCEChallenge is the S256 challenge of verifier.
func PKCEChallenge(verifier secret.Value) string {
	sum := sha256.Sum256([]byte(verifier.Reveal()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ConsentURL is Zoom's consent page for a, with state and the S256
// challenge of verifier. Scopes are the app's; none go in the URL.
func (a OAuthApp) ConsentURL(state string, verifier secret.Value) (string, error) {
	u, err := url.Parse(a.AuthorizeURL)
	if err != nil {
		return "", fmt.Errorf("zoom: authorize URL: %w", err)
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", a.ClientID)
	q.Set("redirect_uri", a.RedirectURL)
	q.Set("state", state)
	q.Set("code_challenge", PKCEChallenge(verifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Grant is what Zoom's token endpoint answers to a code exchange or a
// refresh. RefreshToken is the new one; after a refresh the old one is dead.
type Grant struct {
	AccessToken  secret.Value
	RefreshToken secret.Value
	ExpiresIn    time.Duration
	Scopes       []string
}

// userOAuthReply is the token endpoint's answer to the user grants.
type userOAuthReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Reason       string `json:"reason"`
	Code         int    `json:"code"`
}

// ExchangeCode trades the code Zoom sent to the redirect URL, with the PKCE
// verifier of its authorize URL, for the user's grant. It is sent once:
// a code is single use. A code used, expired, or sent with the wrong
// verifier or redirect URL is ErrInvalidInput (start again).
func (c *Client) ExchangeCode(ctx context.Context, app OAuthApp, code string, verifier secret.Value) (Grant, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.RedirectURL}}
	if !verifier.Empty() { // a code got without PKCE is exchanged without a verifier
		form.Set("code_verifier", verifier.Reveal())
	}
	return c.grant(ctx, app, "exchange the authorization code", "oauth_user_code", form)
}

// Refresh spends refresh for a new grant. Zoom rotates: the answer carries
// a new refresh token and refresh is dead from then on, so the caller must
// store the new one before anything else. It is sent once, never retried
// here: had Zoom spent the token but its answer been lost, a second send
// would be refused and cost the grant; the caller, holding the token's
// lease, decides. invalid_grant (the grant is dead: revoked, expired, or the
// token already spent) is ErrConnectionLost.
func (c *Client) Refresh(ctx context.Context, app OAuthApp, refresh secret.Value) (Grant, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.Reveal()}}
	return c.grant(ctx, app, "refresh the user's Zoom grant", "oauth_user_refresh", form)
}

func (c *Client) grant(ctx context.Context, app OAuthApp, op, endpoint string, form url.Values) (Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	start := c.now()
	status, body, _, err := c.exchange(ctx, func(actx context.Context) (*http.Request, error) {
		return postForm(actx, app, app.TokenURL, form)
	})
	d := c.now().Sub(start)
	if err != nil {
		c.obs.ZoomCall(endpoint, transportOutcome(err), d)
		return Grant{}, transportErr(ctx, op, err)
	}
	var r userOAuthReply
	_ = json.Unmarshal(body, &r)
	outcome := "http_" + strconv.Itoa(status)
	switch {
	case status == http.StatusOK:
		outcome = "ok"
	case r.Error != "":
		outcome = "oauth_" + safeLabel(r.Error)
	}
	c.obs.ZoomCall(endpoint, outcome, d)
	if status == http.StatusOK {
		if r.AccessToken == "" || r.RefreshToken == "" || r.ExpiresIn <= 0 {
			return Grant{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
				Message: "Zoom's OAuth endpoint answered without an access token, a refresh token or expires_in."}
		}
		return Grant{AccessToken: secret.New(r.AccessToken), RefreshToken: secret.New(r.RefreshToken),
			ExpiresIn: time.Duration(r.ExpiresIn) * time.Second, Scopes: strings.Fields(r.Scope)}, nil
	}
	c.log.Warn("zoom: user OAuth grant refused", "op", op, "status", status, "error", safeLabel(r.Error), "code", r.Code)
	return Grant{}, userGrantError(op, endpoint, status, r)
}

// userGrantError is the typed error of a refused code exchange or refresh.
// It never holds the answer's body.
func userGrantError(op, endpoint string, status int, r userOAuthReply) error {
	refresh := endpoint == "oauth_user_refresh"
	switch {
	case status == http.StatusTooManyRequests:
		return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, RetryAfter: time.Second,
			Message: "Zoom is rate limiting OAuth token requests; try again shortly."}
	case status >= 500:
		return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
			Message: fmt.Sprintf("Zoom's OAuth endpoint is failing (HTTP %d); try again shortly.", status)}
	case r.Error == "invalid_client":
		return &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op,
			Message: "Zoom refused the General app's client id or secret (invalid_client).",
			Hint:    "Check ZOOM_OAUTH_CLIENT_ID and ZOOM_OAUTH_CLIENT_SECRET against the app's App Credentials page."}
	case refresh && (r.Error == "invalid_grant" || r.Code == 4711):
		return &apperr.Error{Kind: apperr.ErrConnectionLost, Op: op,
			Message: "The user's Zoom connection is no longer valid (Zoom answered invalid_grant: the app was removed, the grant expired or was revoked).",
			Hint:    "The user must connect their Zoom account again."}
	case r.Error == "invalid_grant" && strings.Contains(strings.ToLower(r.Reason), "verifier"):
		return &apperr.Error{Kind: apperr.ErrInvalidInput, Op: op,
			Message: "Zoom refused the authorization code (invalid_grant): the PKCE code verifier does not match the code challenge sent to Zoom's authorize page.",
			Hint:    "Send the code_verifier whose S256 challenge was on the authorize link, or none if the link had no code_challenge; the code is now spent: start again."}
	case r.Error == "invalid_grant":
		return &apperr.Error{Kind: apperr.ErrInvalidInput, Op: op,
			Message: "Zoom refused the authorization code (invalid_grant): it was already used or has expired, or the PKCE verifier or redirect URL does not match.",
			Hint:    "Start the connection again from the authorize link."}
	case r.Error == "unsupported_grant_type", r.Error == "unauthorized_client":
		return &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op,
			Message: fmt.Sprintf("Zoom refused the grant (%s): these credentials are not a General app's.", r.Error),
			Hint:    "Use the client id and secret of a General app (user-managed OAuth) in ZOOM_OAUTH_CLIENT_ID and ZOOM_OAUTH_CLIENT_SECRET; a Server-to-Server OAuth app cannot connect users."}
	case r.Error == "redirect_uri_mismatch" || (r.Error == "invalid_request" && strings.Contains(strings.ToLower(r.Reason), "redirect")):
		return &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op,
			Message: "Zoom refused the redirect URL.",
			Hint:    "ZOOM_OAUTH_REDIRECT_URL must equal the Redirect URL for OAuth (and be on the allow list) of the General app."}
	default:
		return &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op,
			Message: fmt.Sprintf("Zoom's OAuth endpoint refused the request (HTTP %d, %s).", status, safeLabel(r.Error))}
	}
}

// ZoomUser is who a user's grant belongs to (GET /v2/users/me).
type ZoomUser struct {
	ID        string
	Email     string
	AccountID string
}

// Me reads who the holder of access is: GET /v2/users/me (scope
// user:read:user). It is paced with the S2S account's calls, since the
// user's account is not known before the answer.
func (c *Client) Me(ctx context.Context, access secret.Value) (ZoomUser, error) {
	const op = "read the Zoom user of the connection (/users/me)"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	if err := c.pace(ctx, c.own); err != nil {
		return ZoomUser{}, err
	}
	start := c.now()
	status, body, _, err := c.get(ctx, c.apiURL+"/users/me", access)
	d := c.now().Sub(start)
	if err != nil {
		c.obs.ZoomCall("users_me", transportOutcome(err), d)
		return ZoomUser{}, transportErr(ctx, op, err)
	}
	var r struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		AccountID string `json:"account_id"`
		Code      int    `json:"code"`
		Message   string `json:"message"`
	}
	_ = json.Unmarshal(body, &r)
	outcome := "http_" + strconv.Itoa(status)
	if status == http.StatusOK {
		outcome = "ok"
	} else if r.Code != 0 {
		outcome = "zoom_" + strconv.Itoa(r.Code)
	}
	c.obs.ZoomCall("users_me", outcome, d)
	switch {
	case status == http.StatusOK && r.ID != "" && r.AccountID != "":
		return ZoomUser{ID: r.ID, Email: r.Email, AccountID: r.AccountID}, nil
	case status == http.StatusOK:
		return ZoomUser{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
			Message: "Zoom's /users/me answered without the user's id or account id."}
	case r.Code == 4711 || r.Code == 4700:
		return ZoomUser{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
			Message: "Zoom refused to say who the user is: the General app lacks the scope user:read:user.",
			Hint:    "Add user:read:user to the app's scopes (Zoom App Marketplace, the app's Scopes page), then connect again."}
	case status >= 500:
		return ZoomUser{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
			Message: fmt.Sprintf("Zoom is failing (HTTP %d); try again shortly.", status)}
	default:
		return ZoomUser{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
			Message: fmt.Sprintf("Zoom refused to say who the user is (HTTP %d, code %d).", status, r.Code)}
	}
}

// Revoke asks Zoom to revoke token (an access or refresh token of a user's
// grant): POST to the revoke URL, Basic auth, form token=…. A token Zoom
// no longer knows is not an error: the grant is gone either way.
func (c *Client) Revoke(ctx context.Context, app OAuthApp, token secret.Value) error {
	const op = "revoke the user's Zoom grant"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	start := c.now()
	status, body, _, err := c.exchange(ctx, func(actx context.Context) (*http.Request, error) {
		return postForm(actx, app, app.RevokeURL, url.Values{"token": {token.Reveal()}})
	})
	d := c.now().Sub(start)
	if err != nil {
		c.obs.ZoomCall("oauth_revoke", transportOutcome(err), d)
		return transportErr(ctx, op, err)
	}
	var r userOAuthReply
	_ = json.Unmarshal(body, &r)
	switch {
	case status == http.StatusOK:
		c.obs.ZoomCall("oauth_revoke", "ok", d)
		return nil
	case r.Error == "invalid_grant" || r.Error == "invalid_token" || r.Code == 4711:
		c.obs.ZoomCall("oauth_revoke", "oauth_"+safeLabel(r.Error), d)
		return nil
	}
	c.obs.ZoomCall("oauth_revoke", "http_"+strconv.Itoa(status), d)
	return userGrantError(op, "oauth_revoke", status, r)
}

// postForm builds a form POST to u with the app's Basic credentials.
func postForm(ctx context.Context, app OAuthApp, u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(app.ClientID, app.ClientSecret.Reveal())
	return req, nil
}
