package services

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// BotToken mints a ZAK or OBF for a bot platform's callback (a signed
// callback URL, Attendee's zoom_tokens callback). Who may have it was
// decided when the URL was made, or by the platform's signature, so no
// caller's role is checked here; otherwise it takes the path of start and
// join: the user's own connection, else the account's app, with the Zoom
// client's quota, retries and breaker. The token is for the bot, so it is
// not pushed to the user's sockets.
func (m *Meetings) BotToken(ctx context.Context, mr zoom.MintRequest) (Minted, error) {
	tok, via, err := m.mintVia(ctx, Identity{}, mr)
	if err != nil {
		return Minted{}, err
	}
	return Minted{Token: tok, Via: via}, nil
}

// AccessToken returns the access token of user's own OAuth connection,
// valid for at least minValid more (Recall.ai refuses one with less than
// 120 s left): the one in memory when it lives long enough, else a fresh one
// from a refresh (one per user at a time, under the connection's lease).
// It never answers the account's Server-to-Server token, and keeps nothing
// beyond what the connection already keeps in memory.
func (cs *Connections) AccessToken(ctx context.Context, user zoom.UserID, minValid time.Duration) (secret.Value, time.Time, error) {
	const op = "get the user's Zoom access token"
	c, err := cs.store.FindByUser(ctx, user.Key())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return secret.Value{}, time.Time{}, &apperr.Error{Kind: apperr.ErrNotConnected, Op: op,
			Message: fmt.Sprintf("%s has not connected a Zoom account to this server, so there is no access token to give.", user.String()),
			Hint:    "The user connects once through GET /api/connections/zoom/authorize."}
	case err != nil:
		return secret.Value{}, time.Time{}, fmt.Errorf("%s: %w", op, err)
	case c.Status != store.StatusConnected:
		return secret.Value{}, time.Time{}, lostErr(c.Reason)
	}
	if v, exp, ok := cs.lasting(c.Sub, minValid); ok {
		return v, exp, nil
	}
	src := &userSource{cs: cs, sub: c.Sub}
	if v, ok := cs.cached(c.Sub); ok {
		src.Invalidate(v) // in memory, but too close to its end: refresh first
	}
	if _, err := src.Token(ctx); err != nil {
		return secret.Value{}, time.Time{}, err
	}
	if v, exp, ok := cs.lasting(c.Sub, minValid); ok {
		return v, exp, nil
	}
	return secret.Value{}, time.Time{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op,
		Message: fmt.Sprintf("Zoom issued an access token that lives less than the %d s asked for.", int(minValid.Seconds()))}
}

// lasting answers sub's access token in memory if it is valid for at least
// minValid more.
func (cs *Connections) lasting(sub string, minValid time.Duration) (secret.Value, time.Time, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	t, ok := cs.access[sub]
	if !ok || t.expires.Sub(cs.now()) < minValid {
		return secret.Value{}, time.Time{}, false
	}
	return t.value, t.expires, true
}
