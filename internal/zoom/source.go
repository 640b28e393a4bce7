package zoom

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// TokenSource gives the access token a call to Zoom is made with. The client
// asks it before every call and hands back a token Zoom refused, so a source
// owns its caching, its single flight and what to do while its issuer is
// down. The account's Server-to-Server app is one source; each user's own
// OAuth grant is another.
type TokenSource interface {
	Token(ctx context.Context) (secret.Value, error)
	// Invalidate drops failed if it is still the current token, so the next
	// Token gets a new one; a token fetched meanwhile survives.
	Invalidate(failed secret.Value)
}

// s2sSource is the Server-to-Server OAuth app's access token
// (account_credentials), kept in memory for min(ZOOM_TOKEN_CACHE_TTL,
// expires_in minus a margin). Concurrent misses share one request. When a
// refresh fails because Zoom is unreachable and the cached token is still
// valid, the cached token is used. Refused credentials are replayed for a few
// seconds instead of asking Zoom again on every call.
type s2sSource struct {
	c      *Client
	cache  *gocache.Cache
	flight singleflight.Group

	mu          sync.Mutex
	authErr     error // last credentials refusal
	authErrTime time.Time
}

type s2sToken struct {
	value     secret.Value
	refreshAt time.Time // fetch a new one from here on
	expiresAt time.Time // Zoom stops accepting it (minus a safety margin)
}

const (
	s2sKey           = "s2s"
	authErrReplayFor = 5 * time.Second
)

func newS2S(c *Client) *s2sSource {
	return &s2sSource{c: c, cache: gocache.New(gocache.NoExpiration, 10*time.Minute)}
}

// Token returns the cached token, or fetches one.
func (s *s2sSource) Token(ctx context.Context) (secret.Value, error) {
	now := s.c.now()
	cur, ok := s.cached()
	if ok && now.Before(cur.refreshAt) {
		s.c.obs.TokenCache("hit")
		return cur.value, nil
	}
	if ok {
		s.c.obs.TokenCache("refresh")
	} else {
		s.c.obs.TokenCache("miss")
	}
	t, err := s.fetchShared(ctx)
	if err == nil {
		return t.value, nil
	}
	if ok && now.Before(cur.expiresAt) && passing(err) {
		s.c.obs.TokenCache("stale_used")
		s.c.log.Warn("zoom: could not refresh the S2S access token; using the cached one until it expires",
			"expires_at", cur.expiresAt, "err", err)
		return cur.value, nil
	}
	return secret.Value{}, err
}

// Invalidate implements TokenSource.
func (s *s2sSource) Invalidate(failed secret.Value) {
	if cur, ok := s.cached(); ok && cur.value == failed {
		s.cache.Delete(s2sKey)
		s.c.obs.TokenCache("invalidated")
	}
}

func (s *s2sSource) cached() (s2sToken, bool) {
	v, ok := s.cache.Get(s2sKey)
	if !ok {
		return s2sToken{}, false
	}
	t := v.(s2sToken)
	if !s.c.now().Before(t.expiresAt) {
		return s2sToken{}, false
	}
	return t, true
}

func (s *s2sSource) fetchShared(ctx context.Context) (s2sToken, error) {
	ch := s.flight.DoChan(s2sKey, func() (any, error) {
		// A caller that found the cache empty may get here only after an
		// earlier flight stored a token (a loaded machine delays goroutines
		// between the two steps): that token serves, and Zoom is not asked
		// again.
		if cur, ok := s.cached(); ok && s.c.now().Before(cur.refreshAt) {
			return cur, nil
		}
		// Detached from the first caller: its cancellation must not fail the
		// others. It ends with the client (Close), not later.
		fctx, cancel := context.WithTimeout(s.c.life, s.c.cfg.Deadline)
		defer cancel()
		return s.fetch(fctx)
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

func (s *s2sSource) fetch(ctx context.Context) (s2sToken, error) {
	const op = "get S2S access token"
	if err := s.replayedRefusal(); err != nil {
		return s2sToken{}, err
	}
	form := url.Values{"grant_type": {"account_credentials"}, "account_id": {s.c.cfg.AccountID}}
	var r retries
	for {
		start := s.c.now()
		status, body, _, err := s.c.exchange(ctx, func(actx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(actx, http.MethodPost, s.c.cfg.OAuthURL, strings.NewReader(form.Encode()))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			req.SetBasicAuth(s.c.cfg.ClientID, s.c.cfg.ClientSecret.Reveal())
			return req, nil
		})
		d := s.c.now().Sub(start)
		if err != nil {
			s.c.obs.ZoomCall("oauth_token", transportOutcome(err), d)
			if !s.c.again(ctx, &r, retry) {
				return s2sToken{}, transportErr(ctx, op, err)
			}
			continue
		}
		a, reply := classifyOAuth(op, status, body)
		s.c.obs.ZoomCall("oauth_token", a.outcome, d)
		switch a.verdict {
		case accept:
			return s.store(reply), nil
		case retry:
			if !s.c.again(ctx, &r, retry) {
				return s2sToken{}, a.err
			}
		default:
			if errors.Is(a.err, apperr.ErrZoomAuth) {
				s.mu.Lock()
				s.authErr, s.authErrTime = a.err, s.c.now()
				s.mu.Unlock()
				s.c.log.Error("zoom: S2S credentials refused", "status", status, "error", reply.Error, "reason", reply.Reason)
			}
			return s2sToken{}, a.err
		}
	}
}

// replayedRefusal is the last refusal of the credentials, if recent.
func (s *s2sSource) replayedRefusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authErr != nil && s.c.now().Sub(s.authErrTime) < authErrReplayFor {
		return s.authErr
	}
	return nil
}

func (s *s2sSource) store(r oauthReply) s2sToken {
	life := time.Duration(r.ExpiresIn) * time.Second
	margin := min(5*time.Minute, life/10)
	reuse := min(s.c.cfg.TokenTTL, life-margin)
	now := s.c.now()
	// Stop using it a little before Zoom does, to allow for clock skew and transit.
	safety := min(30*time.Second, life/20)
	t := s2sToken{value: secret.New(r.AccessToken), refreshAt: now.Add(reuse), expiresAt: now.Add(life - safety)}
	s.cache.Set(s2sKey, t, life-safety)
	s.mu.Lock()
	s.authErr = nil
	s.mu.Unlock()
	if r.Scope != "" && !strings.Contains(r.Scope, "user:read:token:admin") && !strings.Contains(r.Scope, "user:read:admin") {
		s.c.log.Warn("zoom: the S2S app's scopes lack user:read:token:admin; minting ZAK and OBF tokens will fail",
			"scopes", r.Scope)
	}
	s.c.log.Info("zoom: S2S access token obtained", "expires_in_s", r.ExpiresIn, "reused_for", reuse.String())
	return t
}

// passing reports whether err is a passing failure of Zoom's.
func passing(err error) bool {
	return errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout) || errors.Is(err, apperr.ErrZoomRateLimited)
}
