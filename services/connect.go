package services

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// ConnectRequest is an authorization code that the app got on its own
// redirect URL, after running Zoom's consent itself (POST /api/connections).
type ConnectRequest struct {
	Code        string
	RedirectURI string       // the redirect_uri the code was issued for
	Verifier    secret.Value // the PKCE verifier; empty when the authorize link had no challenge
	Sub         string       // whose connection it becomes; empty: the caller's own (admin: any)
}

// Connect exchanges an authorization code that the app got on its own
// redirect and keeps the grant as the connection of the caller's own sub
// (an admin may name any sub), by the same rules as Complete: the token
// endpoint, the scope user:read:token, and the user read from /users/me,
// who must be the sub. RedirectURI must be this server's own redirect URL
// or one of ZOOM_OAUTH_REDIRECT_URLS. A connection the sub already had is
// replaced, and its old grant revoked at Zoom.
func (cs *Connections) Connect(ctx context.Context, caller Identity, r ConnectRequest) (store.Connection, error) {
	const op = "connect a Zoom account from the app's own OAuth flow"
	sub, err := cs.connectSub(caller, r.Sub)
	if err != nil {
		return store.Connection{}, err
	}
	if err := cs.checkConnectRequest(op, r); err != nil {
		return store.Connection{}, err
	}
	app := cs.app
	app.RedirectURL = r.RedirectURI
	g, me, err := cs.exchange(ctx, op, app, r.Code, r.Verifier)
	if err != nil {
		return store.Connection{}, err
	}
	if sub == "" { // an admin's API key and no sub: the Zoom user's own id
		sub = me.ID
	}
	if !zoom.SameUser(sub, me.ID) && !zoom.SameUser(sub, me.Email) {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return store.Connection{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: fmt.Sprintf("The code belongs to Zoom user %s, not to %s.", me.Email, sub),
			Hint:    "Connect a user with their own code: the sub must be the Zoom user id or email of whoever signed in at Zoom."}
	}
	old, _ := cs.store.Get(ctx, sub)
	c, err := cs.keep(ctx, sub, me, g)
	if err != nil {
		return store.Connection{}, err
	}
	if old.Status == store.StatusConnected {
		cs.revokeReplaced(ctx, old)
	}
	return c, nil
}

// connectSub is whose connection a Connect makes: the caller's own sub, or
// (an admin) the sub named; a non-admin naming another sub is refused.
func (cs *Connections) connectSub(caller Identity, sub string) (string, error) {
	const op = "connect a Zoom account"
	if sub != "" {
		key := zoom.UserKey(sub)
		if key == "" {
			return "", apperr.InvalidInput(op, apperr.FieldError{Field: "sub", Reason: "must be a Zoom user id or email"})
		}
		if caller.Role == RoleAdmin || (!caller.User.IsZero() && caller.User.Key() == key) {
			return key, nil
		}
		return "", forbidden(op, "Only an admin may connect a Zoom account for another sub; leave sub out to connect your own.")
	}
	if caller.Role == RoleAdmin && caller.User.IsZero() {
		return "", nil // the Zoom user's id, once known
	}
	return subOf(caller)
}

// checkConnectRequest checks the code's fields before anything goes to Zoom.
func (cs *Connections) checkConnectRequest(op string, r ConnectRequest) error {
	var bad []apperr.FieldError
	if r.Code == "" || len(r.Code) > 2048 {
		bad = append(bad, apperr.FieldError{Field: "authorizationCode", Reason: "is required (at most 2048 characters)"})
	}
	if r.RedirectURI == "" {
		bad = append(bad, apperr.FieldError{Field: "redirectUri", Reason: "is required: the redirect_uri the code was issued for"})
	} else if r.RedirectURI != cs.app.RedirectURL && !slices.Contains(cs.cfg.RedirectURLs, r.RedirectURI) {
		bad = append(bad, apperr.FieldError{Field: "redirectUri",
			Reason: "is not this server's ZOOM_OAUTH_REDIRECT_URL nor one of ZOOM_OAUTH_REDIRECT_URLS"})
	}
	if v := r.Verifier.Reveal(); v != "" && (len(v) < 43 || len(v) > 128) {
		bad = append(bad, apperr.FieldError{Field: "codeVerifier", Reason: "must be 43 to 128 characters (RFC 7636)"})
	}
	if len(bad) > 0 {
		return apperr.InvalidInput(op, bad...)
	}
	return nil
}

// keep stores g as sub's connection, its refresh token sealed, remembers
// the access token, and records connection.connected. A grant that cannot
// be stored is revoked.
func (cs *Connections) keep(ctx context.Context, sub string, me zoom.ZoomUser, g zoom.Grant) (store.Connection, error) {
	const op = "keep the Zoom connection"
	sealed, err := cs.keys.Seal(sub, store.NewToken(g.RefreshToken.Reveal()))
	if err != nil {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return store.Connection{}, fmt.Errorf("%s: seal: %w", op, err)
	}
	now := cs.now()
	c := store.Connection{Sub: sub, ZoomUserID: me.ID, Email: me.Email, AccountID: me.AccountID,
		Status: store.StatusConnected, ConnectedAt: now, RefreshedAt: now, Scopes: g.Scopes, Refresh: sealed}
	if _, err := cs.store.Put(cs.withEvent(ctx, EventConnected, c, ""), c); err != nil {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return store.Connection{}, fmt.Errorf("%s: store: %w", op, err)
	}
	cs.remember(sub, g)
	cs.log.Info("connections: connected", "sub", sub, "zoom_user", me.ID, "account", me.AccountID)
	cs.publish(ctx, sub, "connected", "")
	cs.kick()
	stored, err := cs.store.Get(ctx, sub)
	if err != nil {
		return store.Connection{}, fmt.Errorf("%s: %w", op, err)
	}
	return stored, nil
}

// revokeReplaced revokes at Zoom the grant of a connection just replaced.
// Its lease is not taken: a refresh of the old grant under way fails to
// store its token (the version moved on), which is what is wanted.
func (cs *Connections) revokeReplaced(ctx context.Context, old store.Connection) {
	rt, err := cs.keys.Open(old.Sub, old.Refresh)
	if err != nil {
		cs.log.Warn("connections: the replaced grant's refresh token does not open; it is not revoked", "sub", old.Sub, "err", err)
		return
	}
	if err := cs.zoom.Revoke(ctx, cs.app, secret.New(rt.Reveal())); err != nil && !errors.Is(err, apperr.ErrConnectionLost) {
		cs.log.Warn("connections: could not revoke the replaced grant at Zoom", "sub", old.Sub, "err", err)
		return
	}
	cs.log.Info("connections: the replaced grant was revoked at Zoom", "sub", old.Sub, "zoom_user", old.ZoomUserID)
}
