package zoom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// Config configures a Client.
type Config struct {
	OAuthURL string // e.g. https://zoom.us/oauth/token
	APIURL   string // e.g. https://api.zoom.us/v2
	// The Server-to-Server OAuth app: all three, or none when the server
	// mints only with users' own grants (MintAs).
	AccountID    string
	ClientID     string
	ClientSecret secret.Value
	TokenTTL     time.Duration // upper bound on reuse of the S2S token
	QPS          float64       // budget of Zoom calls per second, per Zoom account

	HTTPClient     *http.Client
	Now            func() time.Time
	Logger         *slog.Logger
	Observer       Observer
	AttemptTimeout time.Duration // one HTTP exchange with Zoom
	Deadline       time.Duration // one mint, retries included
	MaxRetries     int           // retries after 5xx, timeouts and connection errors (<0: none)
	Max429Retries  int           // retries after per-second 429s
	BackoffBase    time.Duration // first backoff; doubles per retry, with jitter
	BackoffMax     time.Duration
	// Quota: the pace and daily marks shared by a cluster's instances; nil:
	// kept in this process (ZOOM_QPS per Zoom account).
	Quota SharedQuota
}

// Client is the Zoom API client: it mints ZAK and OBF tokens with an access
// token from a TokenSource, paces every call with one process-wide limiter,
// retries what can succeed on retry, stops calling Zoom during an outage, and
// turns every answer into a typed error (classify).
type Client struct {
	cfg     Config
	http    *http.Client
	now     func() time.Time
	log     *slog.Logger
	obs     Observer
	apiURL  string
	s2s     *s2sSource // nil when no S2S app is configured
	breaker breaker

	// Zoom counts its rate limits and daily quotas per account: the S2S
	// app's account is own; each account of a user who connected a grant
	// (MintAs) gets its own pace and daily mark, created on first use.
	own        *account
	accountsMu sync.Mutex
	accounts   map[string]*account // Zoom account id -> its pace, for accounts other than own

	dailyUsers *gocache.Cache // UserID.Key() -> time until which that user's daily quota is spent

	health health

	life context.Context // ends at Close: work detached from its caller stops then
	stop context.CancelFunc
}

// account is what the client keeps per Zoom account: the pace of calls
// (ZOOM_QPS) and when its daily quota is back.
type account struct {
	id            string // the Zoom account id; "" for the S2S app's when none is configured
	limiter       *rate.Limiter
	turns         turns        // the batch items' turn (pace.go)
	dailyUntil    atomic.Int64 // unix nanos until which Zoom's daily quota of user tokens is spent for the account
	dailyMeetings atomic.Int64 // the same, for the meeting APIs (a quota of their own at Zoom)
}

// daily is the account's mark for quota q.
func (a *account) daily(q quota) *atomic.Int64 {
	if q == quotaMeetings {
		return &a.dailyMeetings
	}
	return &a.dailyUntil
}

// accountFor is the pace of the Zoom account id: own for the S2S app's
// account (or an unknown one), else that account's, made on first use. They
// are few (one per account with a connected user) and small, so they stay.
func (c *Client) accountFor(id string) *account {
	if id == "" || id == c.cfg.AccountID {
		return c.own
	}
	c.accountsMu.Lock()
	defer c.accountsMu.Unlock()
	a, ok := c.accounts[id]
	if !ok {
		a = &account{id: id, limiter: rate.NewLimiter(rate.Limit(c.cfg.QPS), 1)}
		c.accounts[id] = a
	}
	return a
}

const maxZoomBody = 64 << 10 // the most of an answer read

// New returns a client. Zero fields of cfg get sensible defaults.
func New(cfg Config) (*Client, error) {
	if cfg.OAuthURL == "" || cfg.APIURL == "" {
		return nil, errors.New("zoom: OAuth and API URLs are required")
	}
	switch n := countSet(cfg.AccountID != "", cfg.ClientID != "", !cfg.ClientSecret.Empty()); n {
	case 0, 3:
	default:
		return nil, errors.New("zoom: the Server-to-Server OAuth app needs its account id, client id and client secret, all three (or none, to mint only with users' own grants)")
	}
	if _, err := url.ParseRequestURI(cfg.OAuthURL); err != nil {
		return nil, fmt.Errorf("zoom: OAuth URL: %w", err)
	}
	if _, err := url.ParseRequestURI(cfg.APIURL); err != nil {
		return nil, fmt.Errorf("zoom: API URL: %w", err)
	}
	cfg = withDefaults(cfg)
	c := &Client{
		cfg:        cfg,
		http:       cfg.HTTPClient,
		now:        cfg.Now,
		log:        cfg.Logger,
		obs:        cfg.Observer,
		own:        &account{id: cfg.AccountID, limiter: rate.NewLimiter(rate.Limit(cfg.QPS), 1)},
		accounts:   map[string]*account{},
		apiURL:     strings.TrimRight(cfg.APIURL, "/"),
		dailyUsers: gocache.New(gocache.NoExpiration, 10*time.Minute),
	}
	c.breaker.now = cfg.Now
	c.life, c.stop = context.WithCancel(context.Background())
	if cfg.AccountID != "" {
		c.s2s = newS2S(c)
	}
	return c, nil
}

func countSet(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

// HasS2S reports whether a Server-to-Server OAuth app is configured, so
// that Mint and Check can work.
func (c *Client) HasS2S() bool { return c.s2s != nil }

// errNoS2S is Mint's and Check's answer when no S2S app is configured.
func errNoS2S(op string) error {
	return &apperr.Error{Kind: apperr.ErrNotConnected, Op: op,
		Message: "This server has no Server-to-Server OAuth app configured: it mints only for users who connected their own Zoom account.",
		Hint:    "Connect the user's Zoom account, or set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET."}
}

func withDefaults(cfg Config) Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&cfg.TokenTTL, 55*time.Minute)
	set(&cfg.AttemptTimeout, 10*time.Second)
	set(&cfg.Deadline, 30*time.Second)
	set(&cfg.BackoffBase, 100*time.Millisecond)
	set(&cfg.BackoffMax, 2*time.Second)
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
	switch {
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	}
	if cfg.Max429Retries <= 0 {
		cfg.Max429Retries = 8
	}
	return cfg
}

// Close stops what the client still does for callers that have gone (a
// token fetch shared by many): a stopped server calls no one.
func (c *Client) Close() { c.stop() }

// QPS is the client's budget of Zoom calls per second (per Zoom account).
func (c *Client) QPS() float64 { return c.cfg.QPS }

// Check reports whether an S2S access token can be had (readiness).
// Without an S2S app it answers ErrNotConnected.
func (c *Client) Check(ctx context.Context) error {
	if c.s2s == nil {
		return errNoS2S("get S2S access token")
	}
	_, err := c.s2s.Token(ctx)
	return err
}

// Mint asks Zoom for a ZAK or OBF token with the account's S2S app. OBF
// tokens are single-use: every call mints a new one and nothing is cached.
// Without an S2S app it answers ErrNotConnected.
func (c *Client) Mint(ctx context.Context, mr MintRequest) (Token, error) {
	if c.s2s == nil {
		return Token{}, errNoS2S("mint " + string(mr.Type) + " token")
	}
	return c.observeMint(ctx, mintCall{src: c.s2s, acct: c.own, mr: mr})
}

// MintAs asks Zoom for a ZAK or OBF token with a user's own grant: GET
// /v2/users/me/token with src's access token (src is that user's token
// source, and mr.UserID that user). account is the user's Zoom account id:
// calls are paced per account at ZOOM_QPS, since Zoom counts per account,
// and that account's daily quota is marked apart. Retries, the breaker and
// the daily handling are Mint's.
func (c *Client) MintAs(ctx context.Context, src TokenSource, account string, mr MintRequest) (Token, error) {
	return c.observeMint(ctx, mintCall{src: src, acct: c.accountFor(account), mr: mr, user: true})
}

// mintCall is one mint: the access tokens' source, the account it counts
// against, and whether it is a user's own grant (/users/me/token).
type mintCall struct {
	src  TokenSource
	acct *account
	mr   MintRequest
	user bool
}

func (c *Client) observeMint(ctx context.Context, mc mintCall) (Token, error) {
	start := c.now()
	tok, err := c.mint(ctx, mc)
	outcome := "ok"
	if err != nil {
		outcome = apperr.Code(err)
	}
	c.obs.Mint(string(mc.mr.Type), outcome, c.now().Sub(start))
	return tok, err
}

// mint is one token: one call of the user-token endpoint through the loop
// every GET to Zoom takes (guarded).
func (c *Client) mint(ctx context.Context, mc mintCall) (Token, error) {
	mr := mc.mr
	g := call{
		op:       "mint " + string(mr.Type) + " token",
		endpoint: "token_" + string(mr.Type),
		url:      func() (string, error) { return c.tokenURL(mr, mc.user) },
		src:      mc.src,
		acct:     mc.acct,
		quota:    quotaUserTokens,
		subject:  subject{user: mr.UserID, token: true},
	}
	if mc.user {
		g.op += " with the user's connection"
		g.endpoint = "me_" + g.endpoint
		g.subject.userGrant, g.subject.scope = true, "user:read:token"
	}
	a, err := c.guarded(ctx, g)
	if err != nil {
		return Token{}, err
	}
	return c.token(mr, a.token), nil
}

// call is one GET of Zoom's REST API. Every such GET (a mint, a meeting, a
// join token) goes through one loop (guarded, then do), so each has the
// breaker, readiness, the daily-quota marks, the per-account pace, the
// access token's source with one re-authentication, and the retries.
type call struct {
	op       string                 // for errors and logs
	endpoint string                 // the metric label (Observer.ZoomCall)
	url      func() (string, error) // the URL, built once the daily quota is known not spent
	src      TokenSource            // the access token of each attempt
	acct     *account               // the Zoom account it counts against
	quota    quota                  // which of the account's daily quotas its daily 429s spend
	subject  subject                // what it asks about, with which grant (classifyCall)
}

// quota names a daily quota Zoom keeps per account and API.
type quota int

const (
	quotaUserTokens quota = iota // GET /users/{userId}/token, /users/me/token
	quotaMeetings                // GET /meetings/{meetingId}[/jointoken/…]
)

// guarded is do behind the circuit breaker, feeding it and readiness.
func (c *Client) guarded(ctx context.Context, g call) (answer, error) {
	if err := c.breaker.check(); err != nil {
		return answer{}, err
	}
	a, err := c.do(ctx, g)
	if zoomDown(err) {
		c.health.failed(c.now(), apperr.Code(err))
	}
	if c.breaker.record(err) {
		c.log.Error("zoom: failing for every call; failing fast", "for", breakerOpen.String())
	}
	return a, err
}

// do is one call: wait for a slot of the quota, take the source's access
// token, ask Zoom, and do what classifyCall says of the answer. It returns
// the accepted answer.
func (c *Client) do(ctx context.Context, g call) (answer, error) {
	op, src := g.op, g.src
	if wait, perUser := c.dailyWait(g.acct, g.quota, g.subject.user); wait > 0 {
		if g.quota == quotaMeetings {
			return answer{}, meetingsDailyErr(op, wait)
		}
		return answer{}, dailyErr(op, wait, perUser)
	}
	if wait, perUser := c.sharedDailyWait(ctx, g.acct, g.quota, g.subject.user); wait > 0 {
		if g.quota == quotaMeetings {
			return answer{}, meetingsDailyErr(op, wait)
		}
		return answer{}, dailyErr(op, wait, perUser)
	}
	u, err := g.url()
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	var r retries
	var last error // the failure being retried: reported if the retry cannot be made
	for {
		if err := c.pace(ctx, g.acct); err != nil {
			if last != nil && !errors.Is(err, context.Canceled) {
				return answer{}, last
			}
			return answer{}, err
		}
		access, err := src.Token(ctx)
		if err != nil {
			return answer{}, err
		}
		start := c.now()
		status, body, hdr, err := c.get(ctx, u, access)
		d := c.now().Sub(start)
		if err != nil {
			c.obs.ZoomCall(g.endpoint, transportOutcome(err), d)
			if last = transportErr(ctx, op, err); !c.again(ctx, &r, retry) {
				return answer{}, last
			}
			continue
		}
		a := classifyCall(op, g.subject, status, body, hdr, c.now())
		c.obs.ZoomCall(g.endpoint, a.outcome, d)
		switch a.verdict {
		case accept:
			return a, nil
		case reauth:
			src.Invalidate(access)
			if r.reauthed {
				return answer{}, a.err
			}
			r.reauthed = true
			c.log.Info("zoom: access token refused; fetching a new one")
		case retry, retrySlow:
			if a.verdict == retrySlow {
				c.obs.Throttled("qps")
			}
			if last = a.err; !c.again(ctx, &r, a.verdict) {
				return answer{}, last
			}
		case stopDaily:
			c.markDaily(g.acct, g.quota, g.subject.user, a.until, a.perUser)
			c.shareDaily(ctx, g.acct, g.quota, g.subject.user, a.until, a.perUser)
			return answer{}, a.err
		default:
			return answer{}, a.err
		}
	}
}

func (c *Client) token(mr MintRequest, value string) Token {
	life := DefaultTokenLifetime
	if mr.TTL > 0 {
		life = time.Duration(mr.TTL) * time.Second
	}
	return Token{Type: mr.Type, UserID: mr.UserID, MeetingID: mr.MeetingID, Value: secret.New(value),
		ExpiresIn: life, ExpiresAt: c.now().Add(life)}
}

// tokenURL builds the user-token URL. The user id passed the allow-list when
// it was made, so it cannot leave its path segment; it is escaped with
// url.PathEscape only: unreserved characters such as '.' go as they are (RFC
// 3986 §2.3), and '@' too, which a path segment allows.
// With a user's own grant (me) the path is /users/me/token: the token names
// the user.
func (c *Client) tokenURL(mr MintRequest, me bool) (string, error) {
	if mr.UserID.IsZero() {
		return "", errors.New("no user id")
	}
	q := url.Values{"type": {string(mr.Type)}}
	switch mr.Type {
	case TokenZAK:
	case TokenOnBehalf:
		if mr.MeetingID.IsZero() {
			return "", errors.New("an OBF token needs a meeting id")
		}
		q.Set("meeting_id", mr.MeetingID.String())
	default:
		return "", fmt.Errorf("unknown token type %q", mr.Type)
	}
	if mr.TTL > 0 {
		q.Set("ttl", strconv.Itoa(mr.TTL))
	}
	if me {
		return c.apiURL + "/users/me/token?" + q.Encode(), nil
	}
	return c.apiURL + "/users/" + url.PathEscape(mr.UserID.String()) + "/token?" + q.Encode(), nil
}

func (c *Client) get(ctx context.Context, u string, access secret.Value) (int, []byte, http.Header, error) {
	return c.exchange(ctx, func(actx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+access.Reveal())
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
}

// exchange sends one request with the per-attempt timeout and reads at most
// maxZoomBody bytes of the answer.
func (c *Client) exchange(ctx context.Context, build func(context.Context) (*http.Request, error)) (int, []byte, http.Header, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := build(actx)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxZoomBody))
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	return resp.StatusCode, body, resp.Header, nil
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

// dailyWait is how long Zoom's daily quota q stays spent for the account,
// or else for this user (perUser; user-token quota only).
func (c *Client) dailyWait(acct *account, q quota, user UserID) (wait time.Duration, perUser bool) {
	now := c.now()
	if until := acct.daily(q).Load(); until != 0 {
		if wait := time.Unix(0, until).Sub(now); wait > 0 {
			return wait, false
		}
	}
	if q != quotaUserTokens || user.IsZero() {
		return 0, false
	}
	if v, ok := c.dailyUsers.Get(user.Key()); ok {
		if wait := v.(time.Time).Sub(now); wait > 0 {
			return wait, true
		}
	}
	return 0, false
}

// markDaily remembers that Zoom's daily quota q is spent until until.
func (c *Client) markDaily(acct *account, q quota, user UserID, until time.Time, perUser bool) {
	c.obs.Throttled("daily")
	if q != quotaUserTokens || user.IsZero() {
		perUser = false // the meeting APIs' quotas are the account's
	}
	if perUser {
		c.dailyUsers.Set(user.Key(), until, until.Sub(c.now())+time.Minute)
		c.log.Warn("zoom: the daily quota of user tokens for one user is spent", "until", until)
		return
	}
	acct.daily(q).Store(until.UnixNano())
	c.log.Error("zoom: the account's daily quota for this API is spent", "until", until)
}

// health is what readiness remembers of recent mints.
type health struct {
	mu           sync.Mutex
	lastFailAt   time.Time // latest mint that failed because Zoom was unavailable
	lastFailCode string
	reportedSick bool // readiness last reported unhealthy (logged once per change)
}

func (h *health) failed(at time.Time, code string) {
	h.mu.Lock()
	h.lastFailAt, h.lastFailCode = at, code
	h.mu.Unlock()
}
