package zoom

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Retries, backoff, this server's own queue and the circuit breaker, in one
// place. They are small enough to own: backoff libraries keep one budget of
// tries, where a mint has two (Zoom failing, Zoom's per-second limit) and a
// single re-authentication; and the breaker must read the injected clock so
// that tests pass its pause without sleeping, which gobreaker cannot.

// retries counts one call's tries by kind.
type retries struct {
	failures  int  // Zoom failing: 5xx, timeouts, connection errors
	throttled int  // Zoom's per-second 429s
	reauthed  bool // one fresh access token after a 401
}

// again decides whether to try once more after an answer of verdict v; it
// waits the backoff first. False: give up (budget spent, or no time left).
func (c *Client) again(ctx context.Context, r *retries, v verdict) bool {
	var n int
	base := c.cfg.BackoffBase
	switch v {
	case retry:
		r.failures++
		if r.failures > c.cfg.MaxRetries {
			return false
		}
		n = r.failures
	case retrySlow:
		r.throttled++
		if r.throttled > c.cfg.Max429Retries {
			return false
		}
		n, base = r.throttled, 2*base
	default:
		return false
	}
	return c.sleep(ctx, c.backoff(n, base)) == nil
}

// backoff is the n-th wait: base doubled per try up to BackoffMax, with
// equal jitter (half fixed, half random) so retries spread but still wait.
func (c *Client) backoff(n int, base time.Duration) time.Duration {
	d := min(base<<min(n-1, 10), c.cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or returns an error at once if ctx would end first.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
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

// passing reports whether err is a passing failure of Zoom's.
func passing(err error) bool {
	return errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout) || errors.Is(err, apperr.ErrZoomRateLimited)
}

// zoomDown reports whether err means Zoom was down (retries spent), the only
// failure the breaker counts: a caller's mistake or a cancellation is not.
func zoomDown(err error) bool {
	return (errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout)) && !errors.Is(err, context.Canceled)
}

// The circuit breaker: after breakerTrip mints in a row failed because Zoom
// was down, calls fail fast for breakerOpen instead of piling retries onto an
// outage. Then calls go through again; one success closes it.
const (
	breakerTrip = 8
	breakerOpen = 5 * time.Second
)

type breaker struct {
	now       func() time.Time
	streak    atomic.Int64 // mints in a row that failed because Zoom was down
	openUntil atomic.Int64 // unix nanos; 0: closed
}

// check refuses a call while the breaker is open.
func (b *breaker) check() error {
	if wait := b.openFor(); wait > 0 {
		return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "mint token", RetryAfter: wait,
			Message: "Zoom has been failing for every recent call; not calling it for a few seconds. Try again shortly."}
	}
	return nil
}

// openFor is how long the breaker stays open; 0 when closed or half open.
func (b *breaker) openFor() time.Duration {
	until := b.openUntil.Load()
	if until == 0 {
		return 0
	}
	return max(0, time.Unix(0, until).Sub(b.now()))
}

// state is "closed", "open", or "half_open" (the pause is over, the next
// outcome decides).
func (b *breaker) state() string {
	switch {
	case b.openUntil.Load() == 0:
		return "closed"
	case b.openFor() > 0:
		return "open"
	default:
		return "half_open"
	}
}

// record feeds the breaker one mint's outcome; it reports whether this
// outcome opened it.
func (b *breaker) record(err error) (opened bool) {
	switch {
	case err == nil:
		b.streak.Store(0)
		b.openUntil.Store(0)
	case zoomDown(err):
		if b.streak.Add(1) >= breakerTrip {
			return b.openUntil.Swap(b.now().Add(breakerOpen).UnixNano()) == 0
		}
	}
	return false
}
