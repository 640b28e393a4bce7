package zoom_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// clock is a settable clock shared by the client and the sandbox.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newZoom(t *testing.T, opts sandbox.Options, tweak func(*zoom.Config)) (*zoom.Client, *sandbox.Sandbox, *clock) {
	t.Helper()
	clk := &clock{t: time.Now()}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	sb := sandbox.New(opts)
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	acct, id, clientSecret := sb.Credentials()
	cfg := zoom.Config{OAuthURL: sb.OAuthURL(), APIURL: sb.APIURL(), AccountID: acct, ClientID: id,
		ClientSecret: secret.New(clientSecret), QPS: 1000, Now: clk.Now, BackoffBase: 5 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	z, err := zoom.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return z, sb, clk
}

func user(s string) zoom.UserID {
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		panic(s + ": " + reason)
	}
	return u
}

func zak(u string) zoom.MintRequest {
	return zoom.MintRequest{Type: zoom.TokenZAK, UserID: user(u)}
}

func obf(u string) zoom.MintRequest {
	m, _ := zoom.MeetingIDFromString("85746065432")
	return zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: user(u), MeetingID: m}
}

func TestAccessTokenLifetime(t *testing.T) {
	cases := []struct {
		name      string
		expiresIn int
		ttl       time.Duration
		reuse     time.Duration // the cache serves until here
	}{
		{"zoom's hour, default cap", 3600, 55 * time.Minute, 55 * time.Minute},
		{"a shorter cap wins", 3600, 10 * time.Minute, 10 * time.Minute},
		{"a short expires_in wins", 600, 55 * time.Minute, 540 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z, sb, clk := newZoom(t, sandbox.Options{TokenExpiresIn: c.expiresIn}, func(cfg *zoom.Config) { cfg.TokenTTL = c.ttl })
			ctx := context.Background()
			if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
				t.Fatal(err)
			}
			clk.Add(c.reuse - time.Second)
			if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
				t.Fatal(err)
			}
			if n := sb.Stats().TokenRequests; n != 1 {
				t.Fatalf("token requests before %v = %d, want 1", c.reuse, n)
			}
			clk.Add(2 * time.Second)
			if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
				t.Fatal(err)
			}
			if n := sb.Stats().TokenRequests; n != 2 {
				t.Fatalf("token requests after %v = %d, want 2", c.reuse, n)
			}
		})
	}
}

func TestCachedTokenServesWhileOAuthIsDown(t *testing.T) {
	z, sb, clk := newZoom(t, sandbox.Options{}, nil)
	ctx := context.Background()
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatal(err)
	}
	sb.SetOutage(sandbox.OutageOAuth)
	clk.Add(56 * time.Minute) // due for refresh, still valid for Zoom
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatalf("with OAuth down and a valid cached token: %v", err)
	}
	clk.Add(5 * time.Minute) // past Zoom's expiry
	_, err := z.Mint(ctx, zak("a@example.com"))
	if !errors.Is(err, apperr.ErrZoomUnavailable) {
		t.Fatalf("with OAuth down and an expired token: %v, want zoom unavailable", err)
	}
}

func TestMintErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown user", func(t *testing.T) {
		z, sb, _ := newZoom(t, sandbox.Options{}, nil)
		_, err := z.Mint(ctx, obf("nobody"))
		if !errors.Is(err, apperr.ErrUserNotFound) || apperr.Code(err) != "zoom_user_not_found" {
			t.Fatalf("err = %v", err)
		}
		if sb.Stats().APICalls != 1 {
			t.Errorf("1001 was retried: %d calls", sb.Stats().APICalls)
		}
	})
	t.Run("missing scope is not retried", func(t *testing.T) {
		z, sb, _ := newZoom(t, sandbox.Options{Scopes: "meeting:read:admin"}, nil)
		_, err := z.Mint(ctx, zak("a@example.com"))
		var e *apperr.Error
		if !errors.As(err, &e) || e.ZoomCode != 4711 || !errors.Is(err, apperr.ErrZoomRejected) {
			t.Fatalf("err = %v", err)
		}
		if sb.Stats().APICalls != 1 {
			t.Errorf("4711 was retried: %d calls", sb.Stats().APICalls)
		}
	})
	t.Run("invalid client is not retried", func(t *testing.T) {
		z, sb, _ := newZoom(t, sandbox.Options{}, func(c *zoom.Config) { c.ClientSecret = secret.New("nope") })
		for i := 0; i < 3; i++ {
			if _, err := z.Mint(ctx, zak("a@example.com")); !errors.Is(err, apperr.ErrZoomAuth) {
				t.Fatalf("err = %v", err)
			}
		}
		if n := sb.Stats().TokenRequests; n != 1 {
			t.Errorf("invalid_client asked Zoom %d times in a row; a refusal is replayed briefly", n)
		}
	})
	t.Run("5xx is retried then answered", func(t *testing.T) {
		z, sb, _ := newZoom(t, sandbox.Options{}, nil)
		if err := z.Check(ctx); err != nil {
			t.Fatal(err)
		}
		sb.FailNext(2, http.StatusBadGateway)
		if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
			t.Fatalf("two 502s then success: %v", err)
		}
		if n := sb.Stats().APICalls; n != 3 {
			t.Errorf("calls = %d, want 3", n)
		}
		sb.FailNext(100, http.StatusInternalServerError)
		_, err := z.Mint(ctx, zak("a@example.com"))
		if !errors.Is(err, apperr.ErrZoomUnavailable) {
			t.Fatalf("persistent 500: %v", err)
		}
	})
	t.Run("slow zoom times out", func(t *testing.T) {
		z, sb, _ := newZoom(t, sandbox.Options{}, func(c *zoom.Config) {
			c.AttemptTimeout, c.Deadline = 50*time.Millisecond, 300*time.Millisecond
		})
		if err := z.Check(ctx); err != nil {
			t.Fatal(err)
		}
		sb.SetLatency(time.Second)
		_, err := z.Mint(ctx, zak("a@example.com"))
		if !errors.Is(err, apperr.ErrZoomTimeout) || apperr.Code(err) != "zoom_unavailable" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zoom validation error names the field", func(t *testing.T) {
		z, _, _ := newZoom(t, sandbox.Options{}, nil)
		// The client does not check again what decoding checked: Zoom's 300 is
		// what says a ttl over a year is wrong, and it names the field.
		mr := zak("a@example.com")
		mr.TTL = zoom.MaxTTLSeconds + 1
		_, err := z.Mint(ctx, mr)
		var e *apperr.Error
		if !errors.Is(err, apperr.ErrInvalidInput) || !errors.As(err, &e) || len(e.Details) != 1 || e.Details[0].Field != "ttl" || e.ZoomCode != 300 {
			t.Fatalf("ttl over a year: %v", err)
		}
	})
}

func TestOBFIsNeverShared(t *testing.T) {
	z, sb, _ := newZoom(t, sandbox.Options{}, nil)
	a, err := z.Mint(context.Background(), obf("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := z.Mint(context.Background(), obf("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Value == b.Value || sb.Stats().Minted != 2 {
		t.Fatal("the same OBF was handed out twice")
	}
	if a.Value.String() != "REDACTED" {
		t.Fatal("a token prints its value")
	}
}

func TestBreakerFailsFastDuringAnOutage(t *testing.T) {
	z, sb, clk := newZoom(t, sandbox.Options{}, nil)
	ctx := context.Background()
	if err := z.Check(ctx); err != nil {
		t.Fatal(err)
	}
	sb.SetOutage(sandbox.OutageAPI)
	for i := 0; i < 8; i++ {
		if _, err := z.Mint(ctx, zak("a@example.com")); !errors.Is(err, apperr.ErrZoomUnavailable) {
			t.Fatalf("mint %d during the outage: %v", i, err)
		}
	}
	calls := sb.Stats().APICalls
	_, err := z.Mint(ctx, zak("a@example.com"))
	var e *apperr.Error
	if !errors.As(err, &e) || !errors.Is(err, apperr.ErrZoomUnavailable) || e.RetryAfter <= 0 {
		t.Fatalf("with the breaker open: %v", err)
	}
	if sb.Stats().APICalls != calls {
		t.Fatal("the open breaker still called Zoom")
	}
	// After the pause, calls go through again; one success closes the breaker.
	sb.SetOutage(sandbox.OutageNone)
	clk.Add(6 * time.Second)
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
	// A caller's mistake does not count towards the breaker.
	for i := 0; i < 20; i++ {
		_, _ = z.Mint(ctx, zak("nobody"))
	}
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatalf("unknown users opened the breaker: %v", err)
	}
}

// Ids that could leave their path segment cannot be held by a UserID, so
// they never reach the client; a MintRequest without a user is refused
// before any call.
func TestRequestWithoutUserIsRefused(t *testing.T) {
	z, sb, _ := newZoom(t, sandbox.Options{}, nil)
	for _, id := range []string{"a/b", "../../accounts/x", "a%2Fb", `a\b`, "a?b", "a#b", "me", "ME", ".", ".."} {
		if u, reason := zoom.ParseUserID(id); reason == "" {
			t.Errorf("%q became a UserID %q", id, u)
		}
	}
	if _, err := z.Mint(context.Background(), zoom.MintRequest{Type: zoom.TokenZAK}); err == nil {
		t.Fatal("a request without a user was minted")
	}
	if n := sb.Stats().APICalls; n != 0 || len(sb.UnexpectedPaths()) != 0 {
		t.Fatalf("%d calls reached Zoom, unexpected paths %v", n, sb.UnexpectedPaths())
	}
}

// Zoom's codes are mapped whatever HTTP status carries them.
func TestZoomCodesMapWhateverTheStatus(t *testing.T) {
	cases := []struct {
		status, code int
		kind         error // nil: the mint succeeds after fetching a new access token
		calls        int64
	}{
		{400, 1001, apperr.ErrUserNotFound, 1},
		{500, 1001, apperr.ErrUserNotFound, 1},
		{404, 1001, apperr.ErrUserNotFound, 1},
		{401, 4711, apperr.ErrZoomRejected, 1},
		{400, 4711, apperr.ErrZoomRejected, 1},
		{400, 4700, apperr.ErrZoomRejected, 1},
		{503, 4711, apperr.ErrZoomRejected, 1},
		{400, 124, nil, 2},
		{401, 124, nil, 2},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.status)+" "+strconv.Itoa(c.code), func(t *testing.T) {
			z, sb, _ := newZoom(t, sandbox.Options{}, nil)
			ctx := context.Background()
			if err := z.Check(ctx); err != nil {
				t.Fatal(err)
			}
			sb.FailNextWith(1, c.status, c.code, "injected")
			_, err := z.Mint(ctx, zak("a@example.com"))
			if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			if n := sb.Stats().APICalls; n != c.calls {
				t.Errorf("%d calls to Zoom, want %d", n, c.calls)
			}
			if c.kind == nil && sb.Stats().TokenRequests != 2 {
				t.Errorf("code 124 did not fetch a new access token")
			}
		})
	}
}

// Daily 429s have come without X-RateLimit-Type or Retry-After: the message
// tells them from per-second ones. They last until the next UTC midnight and
// are not retried.
func TestDailyLimitWithoutHeaders(t *testing.T) {
	ctx := context.Background()
	t.Run("per user, from the message", func(t *testing.T) {
		z, sb, clk := newZoom(t, sandbox.Options{DailyLimit: 1, DailyBare: true}, nil)
		clk.t = time.Date(2026, 5, 30, 18, 0, 0, 0, time.UTC)
		if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
			t.Fatal(err)
		}
		_, err := z.Mint(ctx, zak("a@example.com"))
		e, ok := apperr.As(err)
		if !ok || !errors.Is(err, apperr.ErrZoomRateLimited) || e.RetryAfter != 6*time.Hour {
			t.Fatalf("over the daily limit: %v (retry after %v), want rate limited for 6h", err, e.RetryAfter)
		}
		if n := sb.Stats().APICalls; n != 2 {
			t.Fatalf("the daily 429 was retried: %d calls, want 2", n)
		}
		clk.Add(time.Hour)
		_, err = z.Mint(ctx, zak("A@example.com"))
		if e, ok := apperr.As(err); !ok || e.RetryAfter != 5*time.Hour || sb.Stats().APICalls != 2 {
			t.Fatalf("the same user an hour later: %v, %d calls; want a fast refusal for 5h", err, sb.Stats().APICalls)
		}
		if _, err := z.Mint(ctx, zak("b@example.com")); err != nil {
			t.Fatalf("another user: %v (the limit is per user)", err)
		}
		clk.Add(5 * time.Hour)
		if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
			t.Fatalf("after UTC midnight: %v", err)
		}
	})
	t.Run("per account, from the message", func(t *testing.T) {
		z, sb, clk := newZoom(t, sandbox.Options{}, nil)
		clk.t = time.Date(2026, 5, 30, 23, 0, 0, 0, time.UTC)
		if err := z.Check(ctx); err != nil {
			t.Fatal(err)
		}
		sb.FailNextWith(1, http.StatusTooManyRequests, 429, "You have reached the maximum DAILY rate limit for this API.")
		_, err := z.Mint(ctx, zak("a@example.com"))
		if e, ok := apperr.As(err); !ok || !errors.Is(err, apperr.ErrZoomRateLimited) || e.RetryAfter != time.Hour {
			t.Fatalf("daily 429: %v", err)
		}
		if _, err := z.Mint(ctx, zak("b@example.com")); !errors.Is(err, apperr.ErrZoomRateLimited) || sb.Stats().APICalls != 1 {
			t.Fatalf("another user while the account's quota is spent: %v, %d calls", err, sb.Stats().APICalls)
		}
	})
}

// Time spent in this server's own ZOOM_QPS queue is never reported as Zoom
// not answering: a call that would leave Zoom too little of its deadline is
// refused as the queue being full.
func TestOwnQueueIsNotAZoomTimeout(t *testing.T) {
	z, sb, _ := newZoom(t, sandbox.Options{}, func(c *zoom.Config) {
		c.QPS, c.Deadline = 1/0.9, time.Second // the second call would wait 0.9 s of its 1 s
	})
	ctx := context.Background()
	if err := z.Check(ctx); err != nil {
		t.Fatal(err)
	}
	sb.SetLatency(300 * time.Millisecond)
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := z.Mint(ctx, zak("a@example.com")); errs <- err }()
	}
	var ok, queued int
	for range 2 {
		err := <-errs
		e, _ := apperr.As(err)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, apperr.ErrZoomRateLimited) && strings.Contains(e.Message, "ZOOM_QPS") && e.RetryAfter > 0:
			queued++
		default:
			t.Errorf("err = %v (code %s), want this server's queue to be reported full", err, apperr.Code(err))
		}
	}
	if ok != 1 || queued != 1 {
		t.Fatalf("%d minted, %d refused by the queue; want 1 and 1", ok, queued)
	}
	if n := sb.Stats().APICalls; n != 1 {
		t.Fatalf("%d calls reached Zoom, want 1", n)
	}
}

type noBackendObs struct{}

func (noBackendObs) Backend(string, bool) {}

// The same with the cluster's quota in Redis: the second call, whose
// booked moment would leave Zoom too little of its deadline, is refused at
// once as the queue being full, and books nothing; a third, once the
// first moment has passed, gets a moment of its own.
func TestSharedQueueIsNotAZoomTimeout(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, err := redis.Open(context.Background(), secret.New(srv.URL()), slog.New(slog.DiscardHandler), noBackendObs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	z, sb, _ := newZoom(t, sandbox.Options{}, func(c *zoom.Config) {
		c.QPS, c.Deadline = 1/0.9, time.Second // the second call would wait 0.9 s of its 1 s
		c.Quota = redis.NewQuota(r, 1/0.9, 1, nil)
	})
	ctx := context.Background()
	if err := z.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatalf("first: %v", err)
	}
	_, err = z.Mint(ctx, zak("a@example.com"))
	if e, _ := apperr.As(err); !errors.Is(err, apperr.ErrZoomRateLimited) || !strings.Contains(e.Op, "cluster's Zoom quota") || e.RetryAfter <= 0 {
		t.Fatalf("second, right after: %v (code %s), want the cluster's queue reported full", err, apperr.Code(err))
	}
	if n := sb.Stats().APICalls; n != 1 {
		t.Fatalf("%d calls reached Zoom, want 1", n)
	}
	time.Sleep(time.Second) // the first moment's successor is now past
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil {
		t.Fatalf("third, a second later: %v (the refusal must not have booked a moment)", err)
	}
}

// Batch items keep their deadlines: the item whose turn, or whose slot once
// it has the turn, would come after its queue's bound is refused as this
// server's queue being full, never left to wait past it; two slots fit.
func TestBatchItemsKeepTheirDeadlines(t *testing.T) {
	z, sb, _ := newZoom(t, sandbox.Options{}, func(c *zoom.Config) {
		c.QPS, c.Deadline = 2, time.Second // slots 500 ms apart; a call may queue 750 ms
	})
	ctx := zoom.WithBatch(context.Background(), "host@example.com")
	if err := z.Check(ctx); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { _, err := z.Mint(ctx, obf(fmt.Sprintf("p%d@example.com", i))); errs <- err }()
	}
	var ok, queued int
	for range 3 {
		err := <-errs
		e, _ := apperr.As(err)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, apperr.ErrZoomRateLimited) && strings.Contains(e.Message, "ZOOM_QPS") && e.RetryAfter > 0:
			queued++
		default:
			t.Errorf("err = %v (code %s), want this server's queue to be reported full", err, apperr.Code(err))
		}
	}
	if ok != 2 || queued != 1 {
		t.Fatalf("%d minted, %d refused by the queue; want 2 and 1", ok, queued)
	}
	if n := sb.Stats().APICalls; n != 2 {
		t.Fatalf("%d calls reached Zoom, want 2", n)
	}
}
