package services

import (
	"context"
	"errors"
	"fmt"

	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Deauthorized handles Zoom's app_deauthorized event: the user removed the
// app, so its grant is dead at Zoom. The user's connection is forgotten (its
// sealed refresh token deleted, its access token dropped; nothing is revoked,
// Zoom has done that) and the user's sockets get connection:changed. An event
// for another app (client_id), or one whose account is not the connection's,
// changes nothing.
func (cs *Connections) Deauthorized(ctx context.Context, d webhooks.Deauthorization) error {
	if d.ClientID != "" && d.ClientID != cs.app.ClientID {
		cs.log.Info("connections: app_deauthorized for another app; ignored")
		return nil
	}
	// One Zoom user may be connected under several subs (its id, its email):
	// every one goes.
	for range 16 {
		c, err := cs.store.FindByUser(ctx, d.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("deauthorize: %w", err)
		case c.ZoomUserID != d.UserID || (d.AccountID != "" && c.AccountID != "" && c.AccountID != d.AccountID):
			return nil // found by sub or email only: not this Zoom user's grant
		}
		cs.forget(c.Sub)
		if err := cs.store.Delete(cs.withEvent(ctx, EventLost, c, "deauthorized"), c.Sub); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deauthorize: %w", err)
		}
		cs.log.Info("connections: the user removed the app at Zoom; connection forgotten", "sub", c.Sub, "zoom_user", c.ZoomUserID)
		cs.publish(ctx, c.Sub, "disconnected", "deauthorized")
		cs.kick()
	}
	return nil
}

// Identities are the identifiers of user that Zoom may name in a meeting
// event: its connection's Zoom user id and email, beside the id given.
func (cs *Connections) Identities(ctx context.Context, user zoom.UserID) []string {
	c, err := cs.store.FindByUser(ctx, user.Key())
	if err != nil {
		return nil
	}
	return []string{c.Sub, c.ZoomUserID, c.Email}
}
