package services

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// zoomOAuth is what the connections domain needs of the Zoom client's
// user-OAuth side; *zoom.Client is one.
type zoomOAuth interface {
	ExchangeCode(ctx context.Context, app zoom.OAuthApp, code string, verifier secret.Value) (zoom.Grant, error)
	Refresh(ctx context.Context, app zoom.OAuthApp, refresh secret.Value) (zoom.Grant, error)
	Me(ctx context.Context, access secret.Value) (zoom.ZoomUser, error)
	Revoke(ctx context.Context, app zoom.OAuthApp, token secret.Value) error
}

// ConnectionsConfig configures Connections. Zero durations get defaults.
type ConnectionsConfig struct {
	Zoom    zoomOAuth
	App     zoom.OAuthApp
	Store   store.Store
	Keyring *store.Keyring
	Events  Publisher // ConnectionChanged events; nil: none published
	Now     func() time.Time
	Logger  *slog.Logger

	StateTTL      time.Duration // how long an authorize link lives; 10 minutes
	MaxPending    int           // authorize links awaiting their callback, all callers together; 10,000 (with States nil)
	RefreshMargin time.Duration // an access token is reused until expires_in minus this; 5 minutes (at most half its life)
	LeaseFor      time.Duration // how long a refresher holds a refresh token (Claim); 30 s

	// RedirectURLs: the app's own redirect URLs (ZOOM_OAUTH_REDIRECT_URLS)
	// whose codes Connect accepts, beside App.RedirectURL.
	RedirectURLs []string
	// RecordEvents: each change of a connection records its event in the
	// store's outbox (EVENTS_URL set); EventRecorded, when set, is called after.
	RecordEvents  bool
	EventRecorded func()

	// States keeps the pending authorize links; nil: this process's memory
	// (store.NewMemoryPending with MaxPending). A shared one lets Zoom's redirect
	// reach any instance.
	States PendingStates
}

// Connections is the domain of users' own Zoom grants ("connections"):
// the connect flow (Authorize, then Complete on Zoom's redirect), who may
// list, see and delete them, and each connected user's TokenSource for
// minting (SourceFor).
//
// Refresh. Zoom rotates the refresh token on every refresh and the old one
// dies, so a refresh token must never be sent twice. In the process, one
// refresh per user at a time (single flight by sub); across processes
// sharing the store, a refresher first Claims the token (a lease, compared
// and swapped on the row's version), refreshes at Zoom within the lease,
// seals the new refresh token (with the current key, which re-seals records
// of an older one) and stores it (SwapRefresh, which ends the lease) before
// the access token is used. A refresher that finds the token leased waits
// and reads again. invalid_grant marks the connection disconnected,
// publishes ConnectionChanged and answers ErrConnectionLost. Access tokens
// live in memory only; refresh tokens are stored only sealed; nothing here
// logs or returns a token.
type Connections struct {
	zoom  zoomOAuth
	app   zoom.OAuthApp
	store store.Store
	keys  *store.Keyring
	pub   Publisher
	now   func() time.Time
	log   *slog.Logger
	cfg   ConnectionsConfig

	states PendingStates

	mu     sync.Mutex
	access map[string]accessToken // by sub: the access token in memory

	flight singleflight.Group
}

type accessToken struct {
	value     secret.Value
	refreshAt time.Time
	expires   time.Time // when Zoom said it expires (expires_in)
}

// NewConnections returns the connections domain.
func NewConnections(cfg ConnectionsConfig) (*Connections, error) {
	if cfg.Zoom == nil || cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("connections: the Zoom client, the store and the keyring are required")
	}
	if err := cfg.App.Validate(); err != nil {
		return nil, err
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&cfg.StateTTL, 10*time.Minute)
	set(&cfg.RefreshMargin, 5*time.Minute)
	set(&cfg.LeaseFor, 30*time.Second)
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = store.DefaultMaxPending
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.States == nil {
		cfg.States = store.NewMemoryPending(cfg.MaxPending, store.MaxPendingPerSub, cfg.Now)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Connections{zoom: cfg.Zoom, app: cfg.App, store: availableStore{cfg.Store}, keys: cfg.Keyring, pub: cfg.Events,
		now: cfg.Now, log: cfg.Logger, cfg: cfg, states: cfg.States, access: map[string]accessToken{}}, nil
}

// subOf is the sub a caller's connection is kept under: the caller's Zoom
// user id or email in canonical form (emails in ASCII lower case).
func subOf(caller Identity) (string, error) {
	if caller.User.IsZero() {
		return "", forbidden("connect", "An API key is no Zoom user: connect with a user's own token, whose sub is that user's Zoom user id or email.")
	}
	return caller.User.Key(), nil
}

// Authorize starts the connect flow for the caller's own sub: it returns
// Zoom's consent URL and how long it stays usable. The URL carries a
// single-use state bound to the caller and a PKCE S256 challenge whose
// verifier is kept, sealed, in PendingStates (this process's memory, or
// the cluster's Redis, so that the callback may reach another instance).
func (cs *Connections) Authorize(ctx context.Context, caller Identity) (string, time.Duration, error) {
	const op = "authorize a Zoom connection"
	sub, err := subOf(caller)
	if err != nil {
		return "", 0, err
	}
	state := randomState()
	verifier := zoom.NewPKCEVerifier()
	u, err := cs.app.ConsentURL(state, verifier)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", op, err)
	}
	sealed, err := cs.sealVerifier(state, sub, verifier)
	if err != nil {
		return "", 0, fmt.Errorf("%s: seal the PKCE verifier: %w", op, err)
	}
	wait, err := cs.states.Put(ctx, state, sub, clientAddrFrom(ctx), sealed, cs.now().Add(cs.cfg.StateTTL))
	if err != nil {
		return "", 0, err
	}
	if wait > 0 {
		return "", 0, &apperr.Error{Kind: apperr.ErrRateLimited, Op: op, RetryAfter: wait,
			Message: fmt.Sprintf("Too many Zoom connect links are open from your address (at most %d at a time); use one you have, or try again after Retry-After seconds.", store.MaxPendingPerAddr)}
	}
	return u, cs.cfg.StateTTL, nil
}

func randomState() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// Complete ends the connect flow on Zoom's redirect: state, code and error
// are the query's. It refuses an unknown, used or expired state; reports a
// denied consent; exchanges the code with the state's PKCE verifier; checks
// the granted scopes include user:read:token; reads who the user is
// (/users/me), who must be the caller who asked for the link; and stores the
// connection, its refresh token sealed. Every error says what to do.
func (cs *Connections) Complete(ctx context.Context, state, code, errParam string) (store.Connection, error) {
	const op = "complete the Zoom connection"
	p, ok := cs.takeState(ctx, state)
	if !ok {
		return store.Connection{}, &apperr.Error{Kind: apperr.ErrInvalidInput, Op: op,
			Message: "This connection link is unknown, was already used, or has expired (links last 10 minutes).",
			Hint:    "Start again from the Connect button."}
	}
	switch {
	case errParam == "access_denied":
		return store.Connection{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: "Consent was denied on Zoom's page, so no connection was made.",
			Hint:    "To connect, start again and choose Allow."}
	case errParam != "":
		return store.Connection{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op,
			Message: fmt.Sprintf("Zoom did not authorize the app (%s).", oauthLabel(errParam)),
			Hint:    "Check that the app is a General app (user-managed OAuth), published or added for this account, then start again."}
	case code == "":
		return store.Connection{}, apperr.InvalidInput(op, apperr.FieldError{Field: "code", Reason: "is required"})
	}
	g, me, err := cs.exchange(ctx, op, cs.app, code, p.verifier)
	if err != nil {
		return store.Connection{}, err
	}
	if !zoom.SameUser(p.sub, me.ID) && !zoom.SameUser(p.sub, me.Email) {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return store.Connection{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: fmt.Sprintf("You signed in to Zoom as %s, but asked to connect %s.", me.Email, p.sub),
			Hint:    "Sign out of Zoom in this browser, then start again and sign in as yourself."}
	}
	return cs.keep(ctx, p.sub, me, g)
}

// taken is a pending state once taken: its sub and PKCE verifier.
type taken struct {
	sub      string
	verifier secret.Value
}

// takeState removes state from the pending ones (it is single use) and
// opens its verifier. One that does not open (altered, or sealed with a
// key no longer in CONNECTIONS_KEY) is as good as unknown.
func (cs *Connections) takeState(ctx context.Context, state string) (taken, bool) {
	if state == "" || len(state) > 128 {
		return taken{}, false
	}
	sub, sealed, ok := cs.states.Take(ctx, state)
	if !ok {
		return taken{}, false
	}
	v, err := cs.openVerifier(state, sub, sealed)
	if err != nil {
		cs.log.Warn("connections: a pending connect link's PKCE verifier does not open; the link is refused", "sub", sub, "err", err)
		return taken{}, false
	}
	return taken{sub: sub, verifier: v}, true
}

// oauthLabel keeps an OAuth error word from the query to a-z and _.
func oauthLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 40 {
			break
		}
	}
	if b.Len() == 0 {
		return "unknown error"
	}
	return b.String()
}

func (cs *Connections) revokeQuietly(ctx context.Context, token secret.Value) {
	if err := cs.zoom.Revoke(ctx, cs.app, token); err != nil {
		cs.log.Warn("connections: could not revoke a grant that is not kept", "err", err)
	}
}

// List returns the caller's own connection; an admin's, every connection.
func (cs *Connections) List(ctx context.Context, caller Identity) ([]store.Connection, error) {
	if caller.Role == RoleAdmin {
		list, err := cs.store.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		return list, nil
	}
	sub, err := subOf(caller)
	if err != nil {
		return nil, err
	}
	c, err := cs.store.Get(ctx, sub)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return []store.Connection{}, nil
	case err != nil:
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return []store.Connection{c}, nil
}

// Get returns the connection of sub (a Zoom user id or email): the caller's
// own, or any for an admin.
func (cs *Connections) Get(ctx context.Context, caller Identity, sub string) (store.Connection, error) {
	key, err := authorizeConnection(caller, "get connection", sub)
	if err != nil {
		return store.Connection{}, err
	}
	c, err := cs.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Connection{}, notConnected("get connection", key)
	}
	if err != nil {
		return store.Connection{}, fmt.Errorf("get connection: %w", err)
	}
	return c, nil
}

// Delete revokes the grant of sub at Zoom, then forgets it: the caller's
// own, or any for an admin. It first takes the refresh token's lease, so no
// refresh is under way while it revokes. When Zoom cannot be reached the
// connection is kept, so that the grant is not left alive at Zoom unknown to
// the server; a grant Zoom no longer knows is forgotten.
func (cs *Connections) Delete(ctx context.Context, caller Identity, sub string) error {
	const op = "delete connection"
	key, err := authorizeConnection(caller, op, sub)
	if err != nil {
		return err
	}
	c, claimed, _, err := cs.claim(ctx, key, false)
	switch {
	case errors.Is(err, apperr.ErrNotFound):
		return err
	case errors.Is(err, apperr.ErrConnectionLost):
		// Disconnected: nothing to revoke.
	case err != nil:
		return err
	default:
		rt, err := cs.keys.Open(key, c.Refresh)
		if err != nil {
			cs.log.Warn("connections: a stored refresh token does not open (its key is not in CONNECTIONS_KEY, or differs); forgetting it without revoking",
				"sub", key, "key_id", c.Refresh.KeyID, "err", err)
		} else if err := cs.zoom.Revoke(ctx, cs.app, secret.New(rt.Reveal())); err != nil {
			cs.release(key, claimed)
			return err
		}
	}
	cs.forget(key)
	if err := cs.store.Delete(cs.withEvent(ctx, EventDisconnected, c, "deleted"), key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", op, err)
	}
	cs.log.Info("connections: deleted", "sub", key)
	cs.publish(ctx, key, "disconnected", "deleted")
	cs.kick()
	return nil
}

// authorizeConnection gives the canonical sub, if caller may see it.
func authorizeConnection(caller Identity, op, sub string) (string, error) {
	key := zoom.UserKey(sub)
	if key == "" {
		return "", apperr.InvalidInput(op, apperr.FieldError{Field: "sub", Reason: "is required"})
	}
	if caller.Role == RoleAdmin || (!caller.User.IsZero() && caller.User.Key() == key) {
		return key, nil
	}
	return "", forbidden(op, "You may only see and delete your own Zoom connection.")
}

func notConnected(op, sub string) error {
	return &apperr.Error{Kind: apperr.ErrNotFound, Op: op,
		Message: fmt.Sprintf("%s has no Zoom connection.", sub)}
}

// SourceFor returns the token source of user's connection (found by sub,
// Zoom user id, or email) and the Zoom account it belongs to, for
// zoom.Client.MintAs. ok is false when the user has no connection; a
// disconnected one answers ErrConnectionLost.
func (cs *Connections) SourceFor(ctx context.Context, user zoom.UserID) (zoom.TokenSource, string, bool, error) {
	c, err := cs.store.FindByUser(ctx, user.Key())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, "", false, nil
	case err != nil:
		return nil, "", false, fmt.Errorf("find connection: %w", err)
	case c.Status != store.StatusConnected:
		return nil, c.AccountID, true, lostErr(c.Reason)
	}
	return &userSource{cs: cs, sub: c.Sub}, c.AccountID, true, nil
}

// Reasons a connection is lost without Zoom saying so: its refresh token,
// stored sealed, does not open with this server's CONNECTIONS_KEY.
const (
	reasonKeyMissing  = "key_missing"  // sealed with a key id no longer in the keyring
	reasonKeyMismatch = "key_mismatch" // the key under its id does not open it (changed, or the row altered)
)

func lostErr(reason string) error {
	msg := "The user's Zoom connection was lost"
	switch reason {
	case reasonKeyMissing, reasonKeyMismatch:
		msg = "The user's Zoom connection can no longer be used: this server no longer holds the key its grant was stored with (CONNECTIONS_KEY was changed)"
	case "":
	default:
		msg += " (" + oauthLabel(reason) + ")"
	}
	return &apperr.Error{Kind: apperr.ErrConnectionLost, Op: "use the Zoom connection",
		Message: msg + ".", Hint: "The user must connect their Zoom account again."}
}

// userSource is one user's access token, a zoom.TokenSource.
type userSource struct {
	cs  *Connections
	sub string
}

// Token implements zoom.TokenSource.
func (s *userSource) Token(ctx context.Context) (secret.Value, error) {
	if v, ok := s.cs.cached(s.sub); ok {
		return v, nil
	}
	ch := s.cs.flight.DoChan(s.sub, func() (any, error) {
		// Detached from the first caller: its cancellation must not fail the
		// others, nor leave a spent refresh token unstored.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*s.cs.cfg.LeaseFor)
		defer cancel()
		return s.cs.refresh(fctx, s.sub)
	})
	select {
	case <-ctx.Done():
		return secret.Value{}, &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: "refresh the user's Zoom grant", Err: ctx.Err(),
			Message: "The user's Zoom access token could not be refreshed in time; try again shortly."}
	case r := <-ch:
		if r.Err != nil {
			return secret.Value{}, r.Err
		}
		return r.Val.(secret.Value), nil
	}
}

// Invalidate implements zoom.TokenSource: it drops failed if it is still
// the cached access token.
func (s *userSource) Invalidate(failed secret.Value) {
	s.cs.mu.Lock()
	defer s.cs.mu.Unlock()
	if t, ok := s.cs.access[s.sub]; ok && t.value == failed {
		delete(s.cs.access, s.sub)
	}
}

func (cs *Connections) cached(sub string) (secret.Value, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	t, ok := cs.access[sub]
	if !ok || !cs.now().Before(t.refreshAt) {
		return secret.Value{}, false
	}
	return t.value, true
}

// remember keeps g's access token in memory until expires_in minus the margin.
func (cs *Connections) remember(sub string, g zoom.Grant) {
	margin := min(cs.cfg.RefreshMargin, g.ExpiresIn/2)
	now := cs.now()
	cs.mu.Lock()
	cs.access[sub] = accessToken{value: g.AccessToken, refreshAt: now.Add(g.ExpiresIn - margin), expires: now.Add(g.ExpiresIn)}
	cs.mu.Unlock()
}

func (cs *Connections) forget(sub string) {
	cs.mu.Lock()
	delete(cs.access, sub)
	cs.mu.Unlock()
}

// refresh gets a new access token for sub: claim the refresh token, spend
// it at Zoom, store the new one sealed, and only then use the access token.
func (cs *Connections) refresh(ctx context.Context, sub string) (secret.Value, error) {
	const op = "refresh the user's Zoom grant"
	c, claimed, fresh, err := cs.claim(ctx, sub, true)
	if err != nil || !fresh.Empty() {
		return fresh, err
	}
	rt, err := cs.keys.Open(sub, c.Refresh)
	if err != nil {
		// The grant cannot be used without its refresh token: the user
		// must connect again, as after invalid_grant. Nothing was sent to
		// Zoom, so nothing was spent.
		reason, why := reasonKeyMismatch, "a stored refresh token does not open with its key (altered, or the key under that id changed in CONNECTIONS_KEY)"
		if errors.Is(err, store.ErrUnknownKey) {
			reason, why = reasonKeyMissing, "a stored refresh token is sealed with a key no longer in CONNECTIONS_KEY"
		}
		cs.log.Warn("connections: "+why+"; the connection is marked lost and the user must connect again", "sub", sub, "key_id", c.Refresh.KeyID,
			"keys", cs.keys.KeyIDs())
		return secret.Value{}, cs.lose(ctx, c, claimed, reason)
	}
	// Stop trying to spend the token well before the lease ends, so no one
	// else may claim it while this request could still reach Zoom.
	rctx, cancel := context.WithTimeout(ctx, cs.cfg.LeaseFor*3/4)
	g, err := cs.zoom.Refresh(rctx, cs.app, secret.New(rt.Reveal()))
	cancel()
	if errors.Is(err, apperr.ErrConnectionLost) {
		return secret.Value{}, cs.lose(ctx, c, claimed, "invalid_grant")
	}
	if err != nil {
		cs.release(sub, claimed)
		return secret.Value{}, err
	}
	// The old token is spent: store the new one whatever happens to the caller.
	sealed, err := cs.keys.Seal(sub, store.NewToken(g.RefreshToken.Reveal()))
	if err == nil {
		_, err = cs.store.SwapRefresh(ctx, sub, claimed, sealed, cs.now())
	}
	if err != nil {
		cs.log.Error("connections: the rotated refresh token could not be stored; the grant may be lost", "sub", sub, "err", err)
		return secret.Value{}, fmt.Errorf("%s: store the new refresh token: %w", op, err)
	}
	if c.Refresh.KeyID != sealed.KeyID {
		cs.log.Info("connections: refresh token re-sealed with the current key", "sub", sub, "from", c.Refresh.KeyID, "to", sealed.KeyID)
	}
	cs.remember(sub, g)
	return g.AccessToken, nil
}

// claim reads sub's connection and leases its refresh token, waiting while
// another refresher holds it. It answers the connection as read and the
// claimed version; or, when useCached, an access token that another
// refresher of this process stored meanwhile (nothing claimed).
func (cs *Connections) claim(ctx context.Context, sub string, useCached bool) (store.Connection, int64, secret.Value, error) {
	const op = "refresh the user's Zoom grant"
	for {
		// A refresh that ended just before this one began may have done the work.
		if v, ok := cs.cached(sub); ok && useCached {
			return store.Connection{}, 0, v, nil
		}
		c, err := cs.store.Get(ctx, sub)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return c, 0, secret.Value{}, notConnected(op, sub)
		case err != nil:
			return c, 0, secret.Value{}, fmt.Errorf("%s: %w", op, err)
		case c.Status != store.StatusConnected:
			return c, 0, secret.Value{}, lostErr(c.Reason)
		}
		now := cs.now()
		if !c.LeaseUntil.After(now) {
			claimed, err := cs.store.Claim(ctx, sub, c.Version, now.Add(cs.cfg.LeaseFor))
			switch {
			case err == nil:
				return c, claimed, secret.Value{}, nil
			case errors.Is(err, store.ErrDisconnected):
				continue // read the reason
			case !errors.Is(err, store.ErrLeased) && !errors.Is(err, store.ErrConflict):
				return c, 0, secret.Value{}, fmt.Errorf("%s: %w", op, err)
			}
		}
		// Someone else is refreshing: wait a little, then read what it stored.
		t := time.NewTimer(20*time.Millisecond + mrand.N(30*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return c, 0, secret.Value{}, &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: op, Err: ctx.Err(),
				Message: "Another refresh of the user's Zoom grant did not finish in time; try again shortly."}
		case <-t.C:
		}
	}
}

// release gives up a lease after a refresh that Zoom did not answer with a
// new token.
func (cs *Connections) release(sub string, claimed int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cs.store.Release(ctx, sub, claimed); err != nil {
		cs.log.Warn("connections: could not release a refresh lease; it runs out by itself", "sub", sub, "err", err)
	}
}

// lose marks the connection disconnected after Zoom said its grant is dead
// (or its refresh token does not open here), and tells the user's sockets.
func (cs *Connections) lose(ctx context.Context, c store.Connection, claimed int64, reason string) error {
	cs.forget(c.Sub)
	_, err := cs.store.MarkDisconnected(cs.withEvent(ctx, EventLost, c, reason), c.Sub, claimed, reason, cs.now())
	if err != nil {
		// A reconnect (Put) since the claim wins: it holds a new grant.
		cs.log.Warn("connections: could not mark a dead grant disconnected", "sub", c.Sub, "err", err)
		return lostErr(reason)
	}
	cs.log.Warn("connections: the grant cannot be used; disconnected", "sub", c.Sub, "zoom_user", c.ZoomUserID, "reason", reason)
	cs.publish(ctx, c.Sub, "disconnected", reason)
	cs.kick()
	return lostErr(reason)
}

func (cs *Connections) publish(ctx context.Context, sub, status, reason string) {
	if cs.pub == nil {
		return
	}
	u, bad := zoom.ParseUserID(sub)
	if bad != "" {
		return
	}
	cs.pub.Publish(ctx, Event{Kind: ConnectionChanged, User: u, Status: status, Reason: reason})
}

// exchange trades an authorization code for the user's grant, as app (its
// redirect URL the one the code was issued for), and reads who the user
// is. A grant without the scope minting needs, or whose user cannot be
// read, is revoked at once.
func (cs *Connections) exchange(ctx context.Context, op string, app zoom.OAuthApp, code string, verifier secret.Value) (zoom.Grant, zoom.ZoomUser, error) {
	g, err := cs.zoom.ExchangeCode(ctx, app, code, verifier)
	if err != nil {
		return zoom.Grant{}, zoom.ZoomUser{}, err
	}
	if !zoom.HasTokenScope(g.Scopes) {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return zoom.Grant{}, zoom.ZoomUser{}, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op,
			Message: "The Zoom app did not grant the scope user:read:token, which minting ZAK and OBF tokens needs.",
			Hint:    "Add user:read:token (and user:read:user) to the General app's scopes in the Zoom App Marketplace (the app, then Scopes), then connect again."}
	}
	me, err := cs.zoom.Me(ctx, g.AccessToken)
	if err != nil {
		cs.revokeQuietly(ctx, g.RefreshToken)
		return zoom.Grant{}, zoom.ZoomUser{}, err
	}
	return g, me, nil
}
