package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"github.com/zoomtoken/tokenserver/apperr"
	"github.com/zoomtoken/tokenserver/secret"
	"github.com/zoomtoken/tokenserver/zoom"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// TokenType is the kind of user token Zoom mints.
type TokenType string

// The token types of GET /v2/users/{userId}/token.
const (
	TokenZAK      TokenType = "zak"
	TokenOnBehalf TokenType = "onbehalf"
)

// DefaultTokenLifetime is how long Zoom's ZAK and OBF tokens live when no ttl is asked for.
const DefaultTokenLifetime = 7200 * time.Second

// Token is a minted ZAK or OBF token. Value is a Secret: it never prints.
type Token struct {
	Type      TokenType
	UserID    string
	MeetingID zoom.MeetingID
	Value     secret.Value
	ExpiresIn time.Duration
	ExpiresAt time.Time
}

// MintRequest asks for one token.
type MintRequest struct {
	Type      TokenType
	UserID    string
	MeetingID zoom.MeetingID // required for TokenOnBehalf
	TTL       int            // seconds; 0 = Zoom's default
}

// ZoomConfig configures a Zoom client.
type ZoomConfig struct {
	OAuthURL     string // e.g. https://zoom.us/oauth/token
	APIURL       string // e.g. https://api.zoom.us/v2
	AccountID    string
	ClientID     string
	ClientSecret secret.Value
	TokenTTL     time.Duration // upper bound on reuse of the S2S token
	QPS          float64       // process-wide budget of Zoom calls per second

	HTTPClient     *http.Client
	Now            func() time.Time
	Logger         *slog.Logger
	Observer       ZoomObserver
	AttemptTimeout time.Duration // one HTTP exchange with Zoom
	Deadline       time.Duration // one mint, retries included
	MaxRetries     int           // retries after 5xx, timeouts and connection errors
	Max429Retries  int           // retries after per-second 429s
	BackoffBase    time.Duration // first backoff; doubles per retry, with jitter
	BackoffMax     time.Duration
}

// errInvalidZoomReply is the cause of an answer that does not hold what Zoom promises.
var errInvalidZoomReply = errors.New("unexpected reply from zoom")

// Zoom talks to Zoom's OAuth and user-token endpoints. It caches the S2S
// access token, paces calls with one process-wide limiter, retries what can
// succeed on retry, and maps Zoom's answers to typed errors.
type Zoom struct {
	cfg      ZoomConfig
	http     *http.Client
	now      func() time.Time
	log      *slog.Logger
	obs      ZoomObserver
	cache    *gocache.Cache
	flight   singleflight.Group
	limiter  *rate.Limiter
	oauthURL string
	apiURL   string

	dailyUntil atomic.Int64   // unix nanos until which Zoom's daily quota is spent for the account
	dailyUsers *gocache.Cache // zoom.UserKey -> time.Time until which that user's daily quota is spent

	// A circuit breaker: after breakerTrip mints in a row that failed because
	// Zoom was down (retries spent), calls fail fast for breakerOpen instead of
	// piling retries onto an outage. One success closes it.
	failStreak atomic.Int64
	openUntil  atomic.Int64 // unix nanos

	healthMu     sync.Mutex
	lastFailAt   time.Time // latest mint that failed because Zoom was unavailable
	lastFailCode string
	reportedSick bool // readiness last reported unhealthy (logged once per change)

	authMu      sync.Mutex
	authErr     error // last credentials refusal, replayed briefly to spare Zoom
	authErrTime time.Time
}

type s2sToken struct {
	value     secret.Value
	refreshAt time.Time // fetch a new one from here on
	expiresAt time.Time // Zoom stops accepting it (minus a safety margin)
}

const (
	breakerTrip      = 8
	breakerOpen      = 5 * time.Second
	s2sKey           = "s2s"
	authErrReplayFor = 5 * time.Second
	maxZoomBody      = 64 << 10
)

// NewZoom returns a Zoom client. Zero fields of cfg get sensible defaults.
func NewZoom(cfg ZoomConfig) (*Zoom, error) {
	if cfg.OAuthURL == "" || cfg.APIURL == "" {
		return nil, errors.New("zoom: OAuth and API URLs are required")
	}
	if cfg.AccountID == "" || cfg.ClientID == "" || cfg.ClientSecret.Empty() {
		return nil, errors.New("zoom: account id, client id and client secret are required")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 55 * time.Minute
	}
	if cfg.QPS <= 0 {
		cfg.QPS = 25
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 10 * time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 30 * time.Second
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	} else if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.Max429Retries <= 0 {
		cfg.Max429Retries = 8
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 100 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 2 * time.Second
	}
	if _, err := url.ParseRequestURI(cfg.OAuthURL); err != nil {
		return nil, fmt.Errorf("zoom: OAuth URL: %w", err)
	}
	if _, err := url.ParseRequestURI(cfg.APIURL); err != nil {
		return nil, fmt.Errorf("zoom: API URL: %w", err)
	}
	return &Zoom{
		cfg:        cfg,
		http:       cfg.HTTPClient,
		now:        cfg.Now,
		log:        cfg.Logger,
		obs:        cfg.Observer,
		cache:      gocache.New(gocache.NoExpiration, 10*time.Minute),
		dailyUsers: gocache.New(gocache.NoExpiration, 10*time.Minute),
		limiter:    rate.NewLimiter(rate.Limit(cfg.QPS), 1),
		oauthURL:   cfg.OAuthURL,
		apiURL:     strings.TrimRight(cfg.APIURL, "/"),
	}, nil
}

// QPS is the client's budget of Zoom calls per second.
func (z *Zoom) QPS() float64 { return z.cfg.QPS }

// Check reports whether an S2S access token can be had (readiness).
func (z *Zoom) Check(ctx context.Context) error {
	_, err := z.accessToken(ctx)
	return err
}

// accessToken returns the cached S2S token, fetching a new one when the
// cache is empty or due for refresh. Concurrent misses share one request.
// When a refresh fails because Zoom is unreachable and the cached token is
// still valid, the cached token is used.
func (z *Zoom) accessToken(ctx context.Context) (secret.Value, error) {
	now := z.now()
	cur, ok := z.cachedToken()
	if ok && now.Before(cur.refreshAt) {
		z.obs.TokenCache("hit")
		return cur.value, nil
	}
	if ok {
		z.obs.TokenCache("refresh")
	} else {
		z.obs.TokenCache("miss")
	}
	t, err := z.fetchShared(ctx)
	if err == nil {
		return t.value, nil
	}
	if ok && now.Before(cur.expiresAt) && retryable(err) {
		z.obs.TokenCache("stale_used")
		z.log.Warn("zoom: could not refresh the S2S access token; using the cached one until it expires",
			"expires_at", cur.expiresAt, "err", err)
		return cur.value, nil
	}
	return secret.Value{}, err
}

func (z *Zoom) cachedToken() (s2sToken, bool) {
	v, ok := z.cache.Get(s2sKey)
	if !ok {
		return s2sToken{}, false
	}
	t := v.(s2sToken)
	if !z.now().Before(t.expiresAt) {
		return s2sToken{}, false
	}
	return t, true
}

// invalidate drops the cached token if it is still the one that failed, so a
// token fetched meanwhile by another caller survives.
func (z *Zoom) invalidate(failed secret.Value) {
	if cur, ok := z.cachedToken(); ok && cur.value == failed {
		z.cache.Delete(s2sKey)
		z.obs.TokenCache("invalidated")
	}
}

func (z *Zoom) fetchShared(ctx context.Context) (s2sToken, error) {
	ch := z.flight.DoChan(s2sKey, func() (any, error) {
		// Detached from the first caller: its cancellation must not fail the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), z.cfg.Deadline)
		defer cancel()
		return z.fetchToken(fctx)
	})
	select {
	case <-ctx.Done():
		return s2sToken{}, ctxErr(ctx, "get S2S access token")
	case r := <-ch:
		if r.Err != nil {
			return s2sToken{}, r.Err
		}
		return r.Val.(s2sToken), nil
	}
}

type oauthReply struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Reason      string `json:"reason"`
}

func (z *Zoom) fetchToken(ctx context.Context) (s2sToken, error) {
	const op = "get S2S access token"
	z.authMu.Lock()
	if z.authErr != nil && z.now().Sub(z.authErrTime) < authErrReplayFor {
		err := z.authErr
		z.authMu.Unlock()
		return s2sToken{}, err
	}
	z.authMu.Unlock()

	form := url.Values{"grant_type": {"account_credentials"}, "account_id": {z.cfg.AccountID}}
	var failures int
	for {
		start := z.now()
		status, body, err := z.exchange(ctx, func(actx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(actx, http.MethodPost, z.oauthURL, strings.NewReader(form.Encode()))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			req.SetBasicAuth(z.cfg.ClientID, z.cfg.ClientSecret.Reveal())
			return req, nil
		})
		d := z.now().Sub(start)
		if err != nil {
			z.obs.ZoomCall("oauth_token", transportOutcome(err), d)
			failures++
			if failures > z.cfg.MaxRetries || z.sleep(ctx, z.backoff(failures, z.cfg.BackoffBase)) != nil {
				return s2sToken{}, transportErr(ctx, op, err)
			}
			continue
		}
		var r oauthReply
		_ = json.Unmarshal(body, &r)
		switch {
		case status == http.StatusOK:
			z.obs.ZoomCall("oauth_token", "ok", d)
			return z.storeToken(r)
		case status == http.StatusTooManyRequests || status >= 500:
			z.obs.ZoomCall("oauth_token", "http_"+strconv.Itoa(status), d)
			failures++
			if failures > z.cfg.MaxRetries || z.sleep(ctx, z.backoff(failures, z.cfg.BackoffBase)) != nil {
				if status == http.StatusTooManyRequests {
					return s2sToken{}, &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, RetryAfter: time.Second,
						Message: "Zoom is rate limiting access-token requests; try again shortly."}
				}
				return s2sToken{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
					Message: fmt.Sprintf("Zoom's OAuth endpoint is failing (HTTP %d); try again shortly.", status)}
			}
			continue
		default:
			outcome := "http_" + strconv.Itoa(status)
			if r.Error != "" {
				outcome = "oauth_" + safeLabel(r.Error)
			}
			z.obs.ZoomCall("oauth_token", outcome, d)
			err := oauthError(op, status, r)
			if errors.Is(err, apperr.ErrZoomAuth) {
				z.authMu.Lock()
				z.authErr, z.authErrTime = err, z.now()
				z.authMu.Unlock()
			}
			z.log.Error("zoom: S2S credentials refused", "status", status, "error", r.Error, "reason", r.Reason)
			return s2sToken{}, err
		}
	}
}

func (z *Zoom) storeToken(r oauthReply) (s2sToken, error) {
	const op = "get S2S access token"
	if r.AccessToken == "" || r.ExpiresIn <= 0 {
		return s2sToken{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
			Message: "Zoom's OAuth endpoint answered without an access token or expires_in."}
	}
	life := time.Duration(r.ExpiresIn) * time.Second
	margin := min(5*time.Minute, life/10)
	reuse := min(z.cfg.TokenTTL, life-margin)
	now := z.now()
	// Stop using it a little before Zoom does, to allow for clock skew and transit.
	safety := min(30*time.Second, life/20)
	t := s2sToken{value: secret.New(r.AccessToken), refreshAt: now.Add(reuse), expiresAt: now.Add(life - safety)}
	z.cache.Set(s2sKey, t, life-safety)
	z.authMu.Lock()
	z.authErr = nil
	z.authMu.Unlock()
	if r.Scope != "" && !strings.Contains(r.Scope, "user:read:token:admin") && !strings.Contains(r.Scope, "user:read:admin") {
		z.log.Warn("zoom: the S2S app's scopes lack user:read:token:admin; minting ZAK and OBF tokens will fail",
			"scopes", r.Scope)
	}
	z.log.Info("zoom: S2S access token obtained", "expires_in_s", r.ExpiresIn, "reused_for", reuse.String())
	return t, nil
}

func oauthError(op string, status int, r oauthReply) error {
	e := &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op}
	switch r.Error {
	case "invalid_client":
		e.Message = "Zoom refused the Server-to-Server OAuth client id or secret (invalid_client)."
		e.Hint = "Check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET against the app's App Credentials page."
	case "unsupported_grant_type":
		e.Message = "Zoom refused the account_credentials grant (unsupported_grant_type)."
		e.Hint = "These credentials belong to a General app; create a Server-to-Server OAuth app in the Zoom App Marketplace and use its credentials."
	case "invalid_request":
		e.Message = "Zoom refused the access-token request (invalid_request)."
		if strings.Contains(strings.ToLower(r.Reason), "activat") {
			e.Hint = "Activate the Server-to-Server OAuth app in the Zoom App Marketplace."
		} else {
			e.Hint = "Check ZOOM_ACCOUNT_ID: it must be the Account ID on the app's App Credentials page."
		}
	default:
		e.Message = fmt.Sprintf("Zoom refused the access-token request (HTTP %d).", status)
		e.Hint = "Check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET."
	}
	return e
}

type zoomReply struct {
	Token   string `json:"token"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Errors  []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Mint asks Zoom for a ZAK or OBF token. OBF tokens are single-use: every
// call mints a new one and nothing is cached.
func (z *Zoom) Mint(ctx context.Context, mr MintRequest) (Token, error) {
	start := z.now()
	var tok Token
	err := z.breakerErr()
	if err == nil {
		tok, err = z.mint(ctx, mr)
		z.record(err)
	}
	outcome := "ok"
	if err != nil {
		outcome = apperr.Code(err)
	}
	z.obs.Mint(string(mr.Type), outcome, z.now().Sub(start))
	return tok, err
}

func (z *Zoom) mint(ctx context.Context, mr MintRequest) (Token, error) {
	op := "mint " + string(mr.Type) + " token"
	u, err := z.tokenURL(op, mr)
	if err != nil {
		return Token{}, err
	}
	if wait, perUser := z.dailyWait(mr.UserID); wait > 0 {
		return Token{}, dailyErr(op, wait, perUser)
	}
	ctx, cancel := context.WithTimeout(ctx, z.cfg.Deadline)
	defer cancel()
	endpoint := "token_" + string(mr.Type)
	var refreshed bool
	var failures, throttled int
	var last error // the failure being retried: reported if the retry cannot be made
	for {
		if err := z.wait(ctx); err != nil {
			if last != nil && !errors.Is(err, context.Canceled) {
				return Token{}, last
			}
			return Token{}, err
		}
		access, err := z.accessToken(ctx)
		if err != nil {
			return Token{}, err
		}
		start := z.now()
		status, body, hdr, err := z.get(ctx, u, access)
		d := z.now().Sub(start)
		if err != nil {
			z.obs.ZoomCall(endpoint, transportOutcome(err), d)
			failures++
			last = transportErr(ctx, op, err)
			if failures > z.cfg.MaxRetries || z.sleep(ctx, z.backoff(failures, z.cfg.BackoffBase)) != nil {
				return Token{}, last
			}
			continue
		}
		var r zoomReply
		_ = json.Unmarshal(body, &r)
		outcome := "http_" + strconv.Itoa(status)
		if status == http.StatusOK {
			outcome = "ok"
		} else if r.Code != 0 {
			outcome = "zoom_" + strconv.Itoa(r.Code)
		}
		z.obs.ZoomCall(endpoint, outcome, d)

		switch {
		case status == http.StatusOK:
			if r.Token == "" {
				return Token{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
					Message: "Zoom answered without a token."}
			}
			life := DefaultTokenLifetime
			if mr.TTL > 0 {
				life = time.Duration(mr.TTL) * time.Second
			}
			return Token{Type: mr.Type, UserID: mr.UserID, MeetingID: mr.MeetingID, Value: secret.New(r.Token),
				ExpiresIn: life, ExpiresAt: z.now().Add(life)}, nil
		// Zoom's error codes mean the same whatever the HTTP status that carries
		// them (a 400 with 1001 has been seen): map by code first.
		case r.Code == 124 || (status == http.StatusUnauthorized && r.Code == 0):
			// Revoked or expired access token: drop it, get a new one, retry once.
			z.invalidate(access)
			if !refreshed {
				refreshed = true
				z.log.Info("zoom: access token refused; fetching a new one", "zoom_code", r.Code)
				continue
			}
			return Token{}, &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op, ZoomCode: r.Code,
				Message: "Zoom refused a freshly issued access token.",
				Hint:    "Check that the Server-to-Server OAuth app is activated and not disabled."}
		case r.Code == 1001:
			return Token{}, &apperr.Error{Kind: apperr.ErrUserNotFound, Op: op, ZoomCode: 1001,
				Message: fmt.Sprintf("Zoom has no user %q in this account.", mr.UserID)}
		case r.Code == 4711 || r.Code == 4700:
			return Token{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
				Message: "Zoom refused: the Server-to-Server OAuth app lacks the scope to read user tokens.",
				Hint:    "Add the scope user:read:token:admin (classic: user:read:admin) to the app, then activate it again."}
		case status == http.StatusTooManyRequests:
			if isDaily(hdr, r.Message) {
				// Not retried: it lasts until Retry-After, or the next UTC midnight.
				now := z.now()
				until := parseRetryAfter(hdr.Get("Retry-After"), now)
				if !until.After(now) {
					until = nextUTCMidnight(now)
				}
				perUser := dailyPerUser(r.Message)
				z.obs.Throttled("daily")
				if perUser {
					z.dailyUsers.Set(zoom.UserKey(mr.UserID), until, until.Sub(now)+time.Minute)
					z.log.Warn("zoom: the daily quota of user tokens for one user is spent", "until", until)
				} else {
					z.dailyUntil.Store(until.UnixNano())
					z.log.Error("zoom: the account's daily quota for this API is spent", "until", until)
				}
				return Token{}, dailyErr(op, until.Sub(now), perUser)
			}
			z.obs.Throttled("qps")
			throttled++
			last = &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, ZoomCode: 429, RetryAfter: time.Second,
				Message: "Zoom's per-second rate limit for this account is reached; try again in a second.",
				Hint:    "Lower ZOOM_QPS if other apps share the Zoom account."}
			if throttled > z.cfg.Max429Retries || z.sleep(ctx, z.backoff(throttled, 2*z.cfg.BackoffBase)) != nil {
				return Token{}, last
			}
		case status >= 500:
			failures++
			last = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
				Message: fmt.Sprintf("Zoom is failing (HTTP %d); try again shortly.", status)}
			if failures > z.cfg.MaxRetries || z.sleep(ctx, z.backoff(failures, z.cfg.BackoffBase)) != nil {
				return Token{}, last
			}
		case r.Code == 300:
			details := make([]apperr.FieldError, 0, len(r.Errors))
			for _, fe := range r.Errors {
				details = append(details, apperr.FieldError{Field: fe.Field, Reason: "was refused by Zoom: " + fe.Message})
			}
			e := apperr.InvalidInput(op, details...)
			e.ZoomCode = 300
			if len(details) == 0 {
				e.Message = "Zoom refused the request as invalid."
			}
			return Token{}, e
		default:
			msg := r.Message
			if msg == "" {
				msg = http.StatusText(status)
			}
			return Token{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
				Message: fmt.Sprintf("Zoom refused the request (HTTP %d, code %d): %s", status, r.Code, truncate(msg, 200))}
		}
	}
}

func (z *Zoom) breakerErr() error {
	until := z.openUntil.Load()
	if until == 0 {
		return nil
	}
	wait := time.Unix(0, until).Sub(z.now())
	if wait <= 0 {
		return nil // half open: let calls through; the next outcome decides
	}
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "mint token", RetryAfter: wait,
		Message: "Zoom has been failing for every recent call; not calling it for a few seconds. Try again shortly."}
}

// record feeds the breaker: a failure of Zoom's (after retries) counts, a
// success resets, and anything else (a caller's mistake) leaves it be.
func (z *Zoom) record(err error) {
	switch {
	case err == nil:
		z.failStreak.Store(0)
		z.openUntil.Store(0)
	case errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout):
		if errors.Is(err, context.Canceled) {
			return
		}
		z.healthMu.Lock()
		z.lastFailAt, z.lastFailCode = z.now(), apperr.Code(err)
		z.healthMu.Unlock()
		if z.failStreak.Add(1) >= breakerTrip {
			if z.openUntil.Swap(z.now().Add(breakerOpen).UnixNano()) == 0 {
				z.log.Error("zoom: failing for every call; failing fast", "for", breakerOpen.String())
			}
		}
	}
}

// HealthState is what readiness reports of Zoom.
type HealthState struct {
	Err             error         // why Zoom cannot be used now; nil: healthy
	Breaker         string        // "closed", "open" or "half_open"
	RetryAfter      time.Duration // while the breaker is open
	FailStreak      int           // mints in a row that failed because Zoom was unavailable
	LastFailure     time.Time     // the latest such failure; zero: none
	LastFailureCode string
}

// Readiness turns unhealthy once healthFailures mints in a row have failed
// because Zoom was unavailable, the latest within healthRecent: with no
// traffic to prove Zoom back, old failures stop counting after a while.
const (
	healthFailures = 3
	healthRecent   = 30 * time.Second
)

// Health reports whether Zoom can be used: not while the breaker is open, nor
// while the latest mints all failed because Zoom was unavailable, nor when
// no S2S access token can be had. It logs once per change of state.
func (z *Zoom) Health(ctx context.Context) HealthState {
	now := z.now()
	streak := z.failStreak.Load()
	z.healthMu.Lock()
	st := HealthState{Breaker: "closed", FailStreak: int(streak), LastFailure: z.lastFailAt, LastFailureCode: z.lastFailCode}
	z.healthMu.Unlock()
	if until := z.openUntil.Load(); until != 0 {
		st.Breaker = "half_open"
		if wait := time.Unix(0, until).Sub(now); wait > 0 {
			st.Breaker, st.RetryAfter = "open", wait
		}
	}
	switch {
	case st.Breaker == "open":
		st.Err = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "health", RetryAfter: st.RetryAfter,
			Message: fmt.Sprintf("Zoom failed the last %d token requests; this server stops calling it for a few seconds (circuit breaker open).", streak)}
	case streak >= healthFailures && now.Sub(st.LastFailure) < healthRecent:
		st.Err = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "health",
			Message: fmt.Sprintf("The last %d token requests failed because Zoom was unavailable.", streak)}
	default:
		st.Err = z.Check(ctx)
	}
	z.noteHealth(st)
	return st
}

// noteHealth logs readiness when it changes, with its cause, not on every probe.
func (z *Zoom) noteHealth(st HealthState) {
	sick := st.Err != nil
	z.healthMu.Lock()
	changed := sick != z.reportedSick
	z.reportedSick = sick
	z.healthMu.Unlock()
	switch {
	case changed && sick:
		z.log.Warn("zoom: readiness is now unhealthy", "cause", apperr.PublicMessage(st.Err), "code", apperr.Code(st.Err),
			"breaker", st.Breaker, "fail_streak", st.FailStreak)
	case changed:
		z.log.Info("zoom: readiness is healthy again")
	}
}

// tokenURL builds the user-token URL. The user id is one path segment,
// escaped with url.PathEscape only: unreserved characters such as '.' are
// sent as they are (RFC 3986 §2.3), and '@' too, which a path segment allows.
func (z *Zoom) tokenURL(op string, mr MintRequest) (string, error) {
	if reason := zoom.CheckUserID(mr.UserID); reason != "" {
		return "", apperr.InvalidInput(op, apperr.FieldError{Field: "userId", Reason: reason})
	}
	if reason := segmentHazard(mr.UserID); reason != "" {
		return "", apperr.InvalidInput(op, apperr.FieldError{Field: "userId", Reason: reason})
	}
	q := url.Values{"type": {string(mr.Type)}}
	switch mr.Type {
	case TokenZAK:
	case TokenOnBehalf:
		if mr.MeetingID.IsZero() {
			return "", apperr.InvalidInput(op, apperr.FieldError{Field: "meetingId", Reason: "is required"})
		}
		q.Set("meeting_id", mr.MeetingID.String())
	default:
		return "", fmt.Errorf("%s: unknown token type %q", op, mr.Type)
	}
	if mr.TTL < 0 || mr.TTL > zoom.MaxTTLSeconds {
		return "", apperr.InvalidInput(op, apperr.FieldError{Field: "ttl", Reason: fmt.Sprintf("must be between 1 and %d seconds", zoom.MaxTTLSeconds)})
	}
	if mr.TTL > 0 {
		q.Set("ttl", strconv.Itoa(mr.TTL))
	}
	return z.apiURL + "/users/" + url.PathEscape(mr.UserID) + "/token?" + q.Encode(), nil
}

// segmentHazard returns why id could leave its path segment at Zoom, or "".
// Escaping cannot keep it there: Zoom decodes percent-escapes before routing,
// so an escaped '/' still splits the path and "." or ".." still climb. This
// backs up the caller-facing validation of user ids in the one place a URL
// is built; "me" would address the app's owner instead of the caller's user.
func segmentHazard(id string) string {
	switch {
	case id == "." || id == "..":
		return "is not a Zoom user id or email"
	case strings.EqualFold(id, "me"):
		return "must name a user: \"me\" is not accepted"
	case strings.ContainsAny(id, "/\\%?#"):
		return "must not contain / \\ % ? or #"
	}
	return ""
}

// wait takes a slot of this server's own budget of Zoom calls (ZOOM_QPS).
// The queue may use at most three quarters of the time left before ctx's
// deadline (and never more than the time left minus one attempt), so Zoom
// always has time to answer: when its answer is late, it is Zoom's. A call
// that cannot get a slot in that time is refused at once, and one whose
// deadline ends while queued likewise: both as this server's queue being
// full (zoom_rate_limited), never as Zoom not answering.
func (z *Zoom) wait(ctx context.Context) error {
	const op = "wait for this server's Zoom quota (ZOOM_QPS)"
	r := z.limiter.Reserve()
	delay := r.Delay()
	if delay <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if limit := left - min(z.cfg.AttemptTimeout, left/4); delay > limit {
			r.Cancel()
			return queueFullErr(op, delay-limit)
		}
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		if delay > time.Millisecond {
			z.obs.LimiterWait(delay)
		}
		return nil
	case <-ctx.Done():
		r.Cancel()
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctxErr(ctx, op)
		}
		return queueFullErr(op, delay)
	}
}

func queueFullErr(op string, retryAfter time.Duration) error {
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, RetryAfter: max(retryAfter, time.Second),
		Message: "This server's queue of Zoom calls (its ZOOM_QPS budget) is full: the call could not be made in time. Try again shortly.",
		Hint:    "Zoom itself was not asked. If the Zoom account's rate limit allows, raise ZOOM_QPS."}
}

func (z *Zoom) get(ctx context.Context, u string, access secret.Value) (int, []byte, http.Header, error) {
	var hdr http.Header
	status, body, err := z.exchange(ctx, func(actx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+access.Reveal())
		req.Header.Set("Accept", "application/json")
		return req, nil
	}, &hdr)
	return status, body, hdr, err
}

// exchange sends one request with the per-attempt timeout and reads at most
// maxZoomBody bytes of the answer.
func (z *Zoom) exchange(ctx context.Context, build func(context.Context) (*http.Request, error), hdr ...*http.Header) (int, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, z.cfg.AttemptTimeout)
	defer cancel()
	req, err := build(actx)
	if err != nil {
		return 0, nil, err
	}
	resp, err := z.http.Do(req)
	if err != nil {
		return 0, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxZoomBody))
	if err != nil {
		return 0, nil, scrubURLError(err)
	}
	if len(hdr) > 0 {
		*hdr[0] = resp.Header
	}
	return resp.StatusCode, body, nil
}

// scrubURLError keeps the cause of a transport error but drops the URL, whose
// query could one day carry something that must not be logged.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (z *Zoom) backoff(n int, base time.Duration) time.Duration {
	d := base << min(n-1, 10)
	d = min(d, z.cfg.BackoffMax)
	// Equal jitter: half fixed, half random, so retries spread but still wait.
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or returns an error at once if ctx would end first.
func (z *Zoom) sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// dailyWait is how long Zoom's daily quota stays spent for the account, or
// else for this user (perUser).
func (z *Zoom) dailyWait(userID string) (wait time.Duration, perUser bool) {
	now := z.now()
	if until := z.dailyUntil.Load(); until != 0 {
		if wait := time.Unix(0, until).Sub(now); wait > 0 {
			return wait, false
		}
	}
	if v, ok := z.dailyUsers.Get(zoom.UserKey(userID)); ok {
		if wait := v.(time.Time).Sub(now); wait > 0 {
			return wait, true
		}
	}
	return 0, false
}

func dailyErr(op string, wait time.Duration, perUser bool) error {
	msg := "Zoom's daily quota for user tokens is spent for this account."
	if perUser {
		msg = "Zoom's daily quota of tokens for this user is spent."
	}
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, ZoomCode: 429, RetryAfter: max(wait, time.Second),
		Message: msg,
		Hint:    "Zoom resets it at the time given in Retry-After (the next UTC midnight); a higher Zoom plan has a higher quota."}
}

// isDaily tells Zoom's daily limit from its per-second one: by the documented
// header, or by the message, since daily 429s have arrived without the header
// ("You have exceeded the daily rate limit (100) of Get a user's token API
// requests permitted for this particular user. ...").
func isDaily(h http.Header, message string) bool {
	return strings.Contains(strings.ToLower(h.Get("X-RateLimit-Type")), "daily") ||
		strings.Contains(strings.ToLower(message), "daily")
}

// dailyPerUser reports whether a daily 429's message says the limit is that
// user's; otherwise it is taken as the account's.
func dailyPerUser(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "this particular user") || strings.Contains(m, "for this user")
}

func nextUTCMidnight(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// parseRetryAfter reads Zoom's Retry-After: an ISO 8601 date-time for daily
// limits, or seconds, or an HTTP date. Unreadable: the next UTC midnight.
func parseRetryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", http.TimeFormat} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	return nextUTCMidnight(now)
}

func transportOutcome(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "network"
}

func transportErr(ctx context.Context, op string, err error) error {
	if ctx.Err() == context.Canceled {
		return ctxErr(ctx, op)
	}
	if transportOutcome(err) == "timeout" || ctx.Err() != nil {
		return &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: op, Err: err, Message: "Zoom did not answer in time; try again shortly."}
	}
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: err, Message: "Zoom could not be reached; try again shortly."}
}

func ctxErr(ctx context.Context, op string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: op, Err: ctx.Err(), Message: "Zoom did not answer in time; try again shortly."}
	}
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: ctx.Err(), Message: "The request was cancelled."}
}

// retryable reports whether err is a passing failure of Zoom's.
func retryable(err error) bool {
	return errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout) || errors.Is(err, apperr.ErrZoomRateLimited)
}

func safeLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "other"
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
