package zoom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Whether Zoom can be used now: the circuit breaker, which every call meets
// first and feeds with its outcome (call.go, do), and readiness (Health),
// which reads the breaker and the recent failures.

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
// an S2S app is configured and no access token can be had for it. It logs
// once per change of state.
func (c *Client) Health(ctx context.Context) HealthState {
	now := c.now()
	streak := c.breaker.streak.Load()
	c.health.mu.Lock()
	st := HealthState{Breaker: c.breaker.state(), FailStreak: int(streak),
		LastFailure: c.health.lastFailAt, LastFailureCode: c.health.lastFailCode}
	c.health.mu.Unlock()
	switch {
	case st.Breaker == "open":
		st.RetryAfter = c.breaker.openFor()
		st.Err = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "health", RetryAfter: st.RetryAfter,
			Message: fmt.Sprintf("Zoom failed the last %d token requests; this server stops calling it for a few seconds (circuit breaker open).", streak)}
	case streak >= healthFailures && now.Sub(st.LastFailure) < healthRecent:
		st.Err = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "health",
			Message: fmt.Sprintf("The last %d token requests failed because Zoom was unavailable.", streak)}
	case c.s2s != nil:
		st.Err = c.Check(ctx)
	}
	c.noteHealth(st)
	return st
}

// noteHealth logs readiness when it changes, with its cause, not on every probe.
func (c *Client) noteHealth(st HealthState) {
	sick := st.Err != nil
	c.health.mu.Lock()
	changed := sick != c.health.reportedSick
	c.health.reportedSick = sick
	c.health.mu.Unlock()
	switch {
	case changed && sick:
		c.log.Warn("zoom: readiness is now unhealthy", "cause", apperr.PublicMessage(st.Err), "code", apperr.Code(st.Err),
			"breaker", st.Breaker, "fail_streak", st.FailStreak)
	case changed:
		c.log.Info("zoom: readiness is healthy again")
	}
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

// The circuit breaker: after breakerTrip mints in a row failed because Zoom
// was down, calls fail fast for breakerOpen instead of piling retries onto an
// outage. Then calls go through again; one success closes it. It is small
// enough to own: it must read the injected clock so that tests pass its
// pause without sleeping, which gobreaker cannot.
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

// zoomDown reports whether err means Zoom was down (retries spent), the only
// failure the breaker counts: a caller's mistake or a cancellation is not.
func zoomDown(err error) bool {
	return (errors.Is(err, apperr.ErrZoomUnavailable) || errors.Is(err, apperr.ErrZoomTimeout)) && !errors.Is(err, context.Canceled)
}
