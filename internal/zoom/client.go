package zoom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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

// SharedQuota keeps, for the instances of a cluster together, what Zoom
// counts per account: the pace of calls (ZOOM_QPS per Zoom account, all
// instances together) and the marks saying a daily quota is spent. The
// client uses one when Config.Quota is set (package redis offers one); without one it keeps both in this process. An implementation
// that loses its backing store must keep answering (a local stand-in),
// never stall or fail the call: the quota protects Zoom, it is not a
// reason to refuse a mint.
type SharedQuota interface {
	// Reserve books account's next call slot: wait is how long from now
	// until its moment, and the slot is the caller's (ok) when wait is at
	// most within (negative: no bound). Otherwise nothing is booked, and
	// wait says how far off the next free slot is. Slots are booked one
	// after another, so callers that sleep until theirs call at the pace,
	// none lost and none early. The client books a batch item's slot only
	// while it holds the account's batch turn (pace.go), so a schedule
	// shared by instances holds at most one batch slot per instance ahead.
	Reserve(ctx context.Context, account string, within time.Duration) (wait time.Duration, ok bool, err error)
	// DailyUntil is when the daily quota that key names is back; zero: not
	// spent. key is "account:<id>" or "user:<user key>".
	DailyUntil(ctx context.Context, key string) time.Time
	// MarkDaily records that key's daily quota is spent until until.
	MarkDaily(ctx context.Context, key string, until time.Time)
}

// Client is the Zoom API client: it mints ZAK and OBF tokens with an access
// token from a TokenSource, paces every call per Zoom account, retries what
// can succeed on retry, stops calling Zoom during an outage, and turns every
// answer into a typed error. Every GET to Zoom takes one path, read top to
// bottom in call.go; it uses the breaker (health.go), the pace (pace.go),
// the token sources (source.go) and the table of Zoom's answers
// (classify.go).
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
