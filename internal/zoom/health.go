package zoom

import (
	"context"
	"fmt"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

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
