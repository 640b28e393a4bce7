package callbacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// Tokens mints ZAK and OBF tokens for bots (*services.Meetings): the path
// of start and join, without a caller's role check and without a push.
type Tokens interface {
	BotToken(ctx context.Context, mr zoom.MintRequest) (services.Minted, error)
}

// AccessTokens answers a user's own OAuth access token valid for at least
// minValid more (*services.Connections).
type AccessTokens interface {
	AccessToken(ctx context.Context, user zoom.UserID, minValid time.Duration) (secret.Value, time.Time, error)
}

// JoinTokens mints a meeting's local-recording join token as its host
// (Zoom's GET /meetings/{id}/jointoken/local_recording); the server gives
// services.MeetingInfo.RecordingToken, asked as that host.
type JoinTokens interface {
	JoinToken(ctx context.Context, host zoom.UserID, meeting zoom.MeetingID) (secret.Value, error)
}

// Candidates chooses, among an OBF URL's candidates, the one to mint for
// (*awaits.Awaits): the first present in the meeting, in list order;
// where the meeting's presence is unknown, the first listed; known and none
// present, apperr.ErrNoCandidate.
type Candidates interface {
	ChooseCandidate(ctx context.Context, meeting zoom.MeetingID, users []zoom.UserID) (awaits.CandidateChoice, error)
}

// Makers says whether the caller that made a URL (Claims.Maker) is still
// one this server accepts: for an API key, that it is still in API_KEYS.
type Makers interface {
	Accepts(maker services.Identity) bool
}

// RecallMinValid is how long an access token must still be valid when it is
// answered: Recall.ai refuses one with less than 120 s left.
const RecallMinValid = 120 * time.Second

// DefaultMaxLifetime is the longest a signed URL may live by default:
// long enough for a bot scheduled days ahead, short enough to bound a leak.
const DefaultMaxLifetime = 30 * 24 * time.Hour

// URLsConfig configures URLs.
type URLsConfig struct {
	Signer      *Signer
	State       State        // nil: a Memory
	Tokens      Tokens       // ZAK and OBF
	Access      AccessTokens // nil: users' OAuth is not configured; access_token URLs answer 404
	Join        JoinTokens   // nil: join tokens are not available; join_token URLs answer 404
	Candidates  Candidates   // chooses among an OBF URL's candidates; nil: presence never known, the first listed is minted for
	MaxLifetime time.Duration
	// Allow limits how often one URL may be answered (the per-caller
	// limiter, keyed by the URL's id); nil: no limit.
	Allow func(key string) (ok bool, retryAfter time.Duration)
	// Makers says whether a URL's maker is still a caller this server
	// accepts; nil: every maker is (the role rule is re-applied still).
	Makers Makers
	Now    func() time.Time
	Logger *slog.Logger
}

// URLs makes, answers and revokes signed callback URLs.
type URLs struct {
	cfg URLsConfig
}

// NewURLs returns the signed-URL service.
func NewURLs(cfg URLsConfig) (*URLs, error) {
	if cfg.Signer == nil || cfg.Tokens == nil {
		return nil, fmt.Errorf("callbacks: a signer and a minter are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.State == nil {
		cfg.State = NewMemory(0, cfg.Now)
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &URLs{cfg: cfg}, nil
}

// CreateInput asks for a signed URL.
type CreateInput struct {
	Kind      Kind
	User      zoom.UserID
	Users     []zoom.UserID // candidates (kind obf), in place of User
	Meeting   zoom.MeetingID
	ExpiresIn time.Duration
	Once      bool
}

// Created is a signed URL and what it says.
type Created struct {
	URL    string
	Claims Claims
}

type createRequest struct {
	Kind             json.RawMessage `json:"kind"`
	UserID           json.RawMessage `json:"userId"`
	UserIDs          json.RawMessage `json:"userIds"`
	MeetingID        json.RawMessage `json:"meetingId"`
	ExpiresInSeconds json.RawMessage `json:"expiresInSeconds"`
	SingleUse        json.RawMessage `json:"singleUse"`
}

// DecodeCreate parses {kind, userId | userIds, meetingId?, expiresInSeconds,
// singleUse?}: userIds (kind obf only) lists 1 to awaits.MaxCandidates
// candidates in place of userId.
func (u *URLs) DecodeCreate(body []byte) (CreateInput, error) {
	const op = "create callback URL"
	var r createRequest
	if err := jsonbody.Decode(op, body, &r); err != nil {
		return CreateInput{}, err
	}
	var in CreateInput
	var f jsonbody.Fields
	in.Kind = decodeKind(&f, r.Kind)
	if jsonbody.Present(r.UserIDs) {
		in.Users = decodeUsers(&f, in.Kind, r.UserID, r.UserIDs)
	} else if f.Required("userId", r.UserID, "is required") {
		in.User = decodeUser(&f, "userId", r.UserID)
	}
	switch {
	case in.Kind == "":
	case in.Kind.NeedsMeeting():
		m, reason := zoom.ParseMeetingID(r.MeetingID)
		if reason != "" {
			f.Add("meetingId", reason+" for kind "+string(in.Kind))
		}
		in.Meeting = m
	case jsonbody.Present(r.MeetingID):
		f.Add("meetingId", "does not apply to kind "+string(in.Kind)+" (only obf and join_token name a meeting)")
	}
	in.ExpiresIn = decodeExpiresIn(&f, r.ExpiresInSeconds, int64(u.cfg.MaxLifetime/time.Second))
	if jsonbody.Present(r.SingleUse) {
		in.Once, _ = f.Bool("singleUse", r.SingleUse, "must be true or false")
	}
	if err := f.Err(op); err != nil {
		return CreateInput{}, err
	}
	return in, nil
}

// decodeKind reads kind (required); "" when it is wrong.
func decodeKind(f *jsonbody.Fields, raw json.RawMessage) Kind {
	if !f.Required("kind", raw, "is required: obf, zak, join_token or access_token") {
		return ""
	}
	s, ok := f.String("kind", raw, "must be a string: obf, zak, join_token or access_token")
	if !ok {
		return ""
	}
	k, ok := ParseKind(s)
	if !ok {
		f.Add("kind", "must be obf, zak, join_token or access_token")
		return ""
	}
	return k
}

// decodeUser reads the field name: a Zoom user id or email.
func decodeUser(f *jsonbody.Fields, name string, raw json.RawMessage) zoom.UserID {
	s, ok := f.String(name, raw, "must be a string (a Zoom user id or email)")
	if !ok {
		return zoom.UserID{}
	}
	id, reason := zoom.ParseUserID(s)
	if reason != "" {
		f.Add(name, reason)
		return zoom.UserID{}
	}
	return id
}

// decodeUsers reads userIds: 1 to awaits.MaxCandidates candidates, each
// a Zoom user id or email, no two the same user, all of them short enough
// to go in a URL; only for kind obf, never with userId. A wrong element is
// named by its place (userIds[2]).
func decodeUsers(f *jsonbody.Fields, kind Kind, single, raw json.RawMessage) []zoom.UserID {
	before := f.Len()
	switch {
	case jsonbody.Present(single):
		f.Add("userIds", "goes in place of userId: send one of them")
		return nil
	case kind != "" && kind != KindOBF:
		f.Add("userIds", "applies to kind obf only (candidates for an OBF); kind "+string(kind)+" takes one userId")
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.Add("userIds", "must be an array of Zoom user ids or emails, in order of preference")
		return nil
	}
	if len(items) == 0 || len(items) > awaits.MaxCandidates {
		f.Add("userIds", fmt.Sprintf("must list 1 to %d candidates (it lists %d)", awaits.MaxCandidates, len(items)))
		return nil
	}
	out := make([]zoom.UserID, 0, len(items))
	at := make([]int, 0, len(items)) // each of out's place in the list
	for i, it := range items {
		name := fmt.Sprintf("userIds[%d]", i)
		u := decodeUser(f, name, it)
		if u.IsZero() {
			continue
		}
		if j := slices.IndexFunc(out, u.Same); j >= 0 {
			f.Add(name, fmt.Sprintf("names the same user as userIds[%d]: list each candidate once", at[j]))
			continue
		}
		out, at = append(out, u), append(at, i)
	}
	if f.Len() == before {
		if reason := UsersTooLong(out); reason != "" {
			f.Add("userIds", reason)
		}
	}
	return out
}

// decodeExpiresIn reads expiresInSeconds (required): whole seconds from 1
// to maxSecs.
func decodeExpiresIn(f *jsonbody.Fields, raw json.RawMessage, maxSecs int64) time.Duration {
	if !f.Required("expiresInSeconds", raw, fmt.Sprintf("is required: how long the URL stays usable, 1 to %d seconds", maxSecs)) {
		return 0
	}
	wrong := fmt.Sprintf("must be a whole number of seconds from 1 to %d", maxSecs)
	secs, ok := f.Int("expiresInSeconds", raw, wrong)
	if !ok {
		return 0
	}
	if secs < 1 || secs > maxSecs {
		f.Add("expiresInSeconds", wrong)
		return 0
	}
	return time.Duration(secs) * time.Second
}

// mayActFor: an admin for any user; a host for its own user only.
func mayActFor(op string, caller services.Identity, user zoom.UserID) error {
	switch {
	case caller.Role == services.RoleAdmin:
		return nil
	case caller.Role == services.RoleHost && caller.User.Same(user):
		return nil
	case caller.Role == services.RoleHost:
		return &apperr.Error{Kind: apperr.ErrForbidden, Op: op, Message: "A host may make callback URLs for its own user only."}
	}
	return &apperr.Error{Kind: apperr.ErrForbidden, Op: op, Message: "Only a host (for its own user) or an admin may make callback URLs."}
}

// mayActForAll applies mayActFor to each of users; with candidates, a
// refusal names the first user refused.
func mayActForAll(op string, caller services.Identity, users []zoom.UserID) error {
	for _, u := range users {
		err := mayActFor(op, caller, u)
		if err == nil {
			continue
		}
		if len(users) == 1 {
			return err
		}
		return &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: fmt.Sprintf("You may not make a callback URL that mints for %s: %s", u.String(), apperr.PublicMessage(err))}
	}
	return nil
}

// RoleMayCreate refuses, before the body is read, a caller whose role may
// never make a callback URL.
func RoleMayCreate(caller services.Identity) error {
	if caller.Role == services.RoleAdmin || caller.Role == services.RoleHost {
		return nil
	}
	return mayActFor("create callback URL", caller, zoom.UserID{})
}

// Create signs a URL for in, if caller may act for its user. It logs the
// URL's kind and id only.
func (u *URLs) Create(ctx context.Context, caller services.Identity, in CreateInput) (Created, error) {
	const op = "create callback URL"
	c := Claims{Kind: in.Kind, User: in.User, Users: in.Users, Meeting: in.Meeting, ID: NewID(), Once: in.Once,
		Expires: u.cfg.Now().Add(in.ExpiresIn).Truncate(time.Second)}
	if len(in.Users) > 0 {
		c.User = zoom.UserID{}
	}
	if err := mayActForAll(op, caller, c.Candidates()); err != nil {
		return Created{}, err
	}
	c.By, c.ByRole = MakerOf(caller)
	u.cfg.Logger.Info("callback URL made", "kind", string(c.Kind), "callback_id", c.ID, "single_use", c.Once,
		"candidates", len(c.Users), "expires_at", c.Expires.UTC().Format(time.RFC3339))
	return Created{URL: u.cfg.Signer.URL(c), Claims: c}, nil
}

// Answer is what a callback URL answers: the token, as plain text.
type Answer struct {
	Token  secret.Value
	Claims Claims
	Via    string // for ZAK and OBF: services.ViaConnection or ViaAccount
	// User is whom a ZAK or OBF was minted for: for candidates, the one
	// chosen.
	User zoom.UserID
}

// Redeem answers a callback URL: kind from its path, q its query. It checks
// the signature and expiry, then revocation and (single use) whether it was
// spent, then mints through the same paths as start and join. A token that
// cannot be minted for this URL (no connection, not the meeting's host, …)
// is ErrNotFound, with the reason: never a 200 with a bad body.
func (u *URLs) Redeem(ctx context.Context, kind string, q url.Values) (Answer, error) {
	const op = "answer callback URL"
	c, err := u.cfg.Signer.Verify(kind, q, u.cfg.Now())
	if err != nil {
		return Answer{}, err
	}
	if u.cfg.Allow != nil {
		if ok, wait := u.cfg.Allow("callback-url:" + c.ID); !ok {
			return Answer{Claims: c}, &apperr.Error{Kind: apperr.ErrRateLimited, Op: op, RetryAfter: wait,
				Message: "This callback URL is being called faster than this server allows; wait for Retry-After seconds."}
		}
	}
	if err := u.makerMay(c); err != nil {
		u.cfg.Logger.Warn("callback URL refused: its maker may no longer mint for its user", "kind", string(c.Kind), "callback_id", c.ID)
		return Answer{Claims: c}, err
	}
	switch use, err := u.cfg.State.Use(ctx, c.ID, c.Once, c.Expires); {
	case err != nil:
		return Answer{Claims: c}, err
	case use == UseRevoked:
		return Answer{Claims: c}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op, Message: "This callback URL was revoked."}
	case use == UseSpent:
		return Answer{Claims: c}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op, Message: "This single-use callback URL was already used."}
	}
	a, err := u.mint(ctx, c)
	if err != nil {
		if c.Once {
			_ = u.cfg.State.Unspend(ctx, c.ID) // nothing was minted: the platform may try again
		}
		u.cfg.Logger.Warn("callback URL minted nothing", "kind", string(c.Kind), "callback_id", c.ID, "code", apperr.Code(err))
		return Answer{Claims: c}, notMintable(op, c.Kind, err)
	}
	u.cfg.Logger.Info("callback URL answered", "kind", string(c.Kind), "callback_id", c.ID, "via", a.Via)
	return a, nil
}

// makerMay re-checks, at each use, that the caller that made the URL may
// still mint for its user: the maker is still accepted (Makers: an API key
// still configured) and the rule of Create (mayActFor) still allows it.
// Either refusal is 403 forbidden, as a revoked URL is.
func (u *URLs) makerMay(c Claims) error {
	const op = "answer callback URL"
	maker := c.Maker()
	if u.cfg.Makers != nil && !u.cfg.Makers.Accepts(maker) {
		return &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: "The caller that made this callback URL is no longer accepted by this server (its API key was removed, or its kind of credential is no longer configured).",
			Hint:    "Make a new URL with a current credential."}
	}
	for _, user := range c.Candidates() {
		if err := mayActFor(op, maker, user); err != nil {
			whom := "its user"
			if len(c.Users) > 0 {
				whom = "its candidate " + user.String()
			}
			return &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
				Message: "The caller that made this callback URL may no longer mint for " + whom + ": " + apperr.PublicMessage(err)}
		}
	}
	return nil
}

func (u *URLs) mint(ctx context.Context, c Claims) (Answer, error) {
	a := Answer{Claims: c}
	switch c.Kind {
	case KindOBF:
		user, err := u.choose(ctx, c)
		if err != nil {
			return a, err
		}
		m, err := u.cfg.Tokens.BotToken(ctx, zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: user, MeetingID: c.Meeting})
		a.Token, a.Via, a.User = m.Value, m.Via, user
		return a, err
	case KindZAK:
		m, err := u.cfg.Tokens.BotToken(ctx, zoom.MintRequest{Type: zoom.TokenZAK, UserID: c.User})
		a.Token, a.Via, a.User = m.Value, m.Via, c.User
		return a, err
	case KindAccessToken:
		if u.cfg.Access == nil {
			return a, unavailable("Users' own Zoom connections are not configured on this server, so it holds no user access tokens (it never gives out its account's token).")
		}
		v, _, err := u.cfg.Access.AccessToken(ctx, c.User, RecallMinValid)
		a.Token, a.Via = v, services.ViaConnection
		return a, err
	case KindJoinToken:
		if u.cfg.Join == nil {
			return a, unavailable("This server cannot mint local-recording join tokens yet.")
		}
		v, err := u.cfg.Join.JoinToken(ctx, c.User, c.Meeting)
		a.Token = v
		return a, err
	}
	return a, unavailable("Unknown callback kind.")
}

// choose is whom an OBF URL mints for: its one user; or, of its
// candidates, the one Candidates chooses (the first present; where presence
// is unknown, the first listed), just before the mint.
func (u *URLs) choose(ctx context.Context, c Claims) (zoom.UserID, error) {
	if len(c.Users) == 0 {
		return c.User, nil
	}
	if u.cfg.Candidates == nil {
		return c.Users[0], nil
	}
	ch, err := u.cfg.Candidates.ChooseCandidate(ctx, c.Meeting, c.Users)
	if err != nil {
		return zoom.UserID{}, err
	}
	return ch.User, nil
}

func unavailable(msg string) error {
	return &apperr.Error{Kind: apperr.ErrNotFound, Op: "mint for callback URL", Message: msg}
}

// notMintable turns a failure that retrying cannot mend (no connection, a
// lost one, an unknown user, Zoom's refusal, a user who is not the host)
// into ErrNotFound: Recall.ai asks for a 404 when no token can be had.
// Transient failures (Zoom down, quotas) keep their own codes.
func notMintable(op string, kind Kind, err error) error {
	switch apperr.Code(err) {
	case apperr.CodeNotFound, apperr.CodeNotConnected, apperr.CodeConnectionLost, apperr.CodeUserNotFound,
		apperr.CodeZoomRejected, apperr.CodeForbidden, apperr.CodeInvalidRequest, apperr.CodeMeetingNotFound,
		apperr.CodeNoCandidate:
		// The cause is kept for logs as text only: its kind must not
		// outrank ErrNotFound when the code is chosen.
		return &apperr.Error{Kind: apperr.ErrNotFound, Op: op, Err: errors.New(err.Error()),
			Message: fmt.Sprintf("No %s can be minted for this callback URL: %s", kind, apperr.PublicMessage(err))}
	}
	return err
}

// RevokeInput names the URL to revoke: the URL itself, or (admins) its id.
type RevokeInput struct {
	URL string
	ID  string
}

type revokeRequest struct {
	URL json.RawMessage `json:"url"`
	ID  json.RawMessage `json:"id"`
}

// DecodeRevoke parses {url} or {id}.
func DecodeRevoke(body []byte) (RevokeInput, error) {
	const op = "revoke callback URL"
	var r revokeRequest
	if err := jsonbody.Decode(op, body, &r); err != nil {
		return RevokeInput{}, err
	}
	// One reason at most, the first found: a field of the wrong type, else
	// neither or both given, else a value that cannot be a callback URL's.
	var in RevokeInput
	var f jsonbody.Fields
	ok := true
	if jsonbody.Present(r.URL) {
		in.URL, ok = f.String("url", r.URL, "must be a string: the callback URL")
	}
	if ok && jsonbody.Present(r.ID) {
		in.ID, _ = f.String("id", r.ID, "must be a string: the callback URL's id")
	}
	switch {
	case f.Len() > 0:
	case (in.URL == "") == (in.ID == ""):
		f.Add("url", "or id is required (one of them)")
	case len(in.URL) > 4096:
		f.Add("url", "is longer than 4096 characters")
	case in.ID != "" && !validID(in.ID):
		f.Add("id", "is not a callback URL id")
	}
	return in, f.Err(op)
}

// Revoked says what Revoke did.
type Revoked struct {
	ID        string
	ExpiresAt time.Time
	Revoked   bool // false: the URL had expired already, so there was nothing to revoke
}

// Revoke refuses every later use of a URL. With the URL, its user's host
// (or its user) or an admin may revoke it; by id alone, only an admin (the
// server keeps no list of URLs, so it cannot tell whose an id is).
func (u *URLs) Revoke(ctx context.Context, caller services.Identity, in RevokeInput) (Revoked, error) {
	const op = "revoke callback URL"
	now := u.cfg.Now()
	if in.ID != "" {
		if caller.Role != services.RoleAdmin {
			return Revoked{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
				Message: "Only an admin may revoke a callback URL by its id; send the URL itself instead."}
		}
		until := now.Add(u.cfg.MaxLifetime)
		if err := u.cfg.State.Revoke(ctx, in.ID, until); err != nil {
			return Revoked{}, err
		}
		u.cfg.Logger.Info("callback URL revoked", "callback_id", in.ID)
		return Revoked{ID: in.ID, ExpiresAt: until, Revoked: true}, nil
	}
	pu, err := url.Parse(in.URL)
	if err != nil {
		return Revoked{}, apperr.InvalidInput(op, apperr.FieldError{Field: "url", Reason: "is not a URL"})
	}
	_, kind, ok := strings.Cut(pu.Path, "/api/callbacks/")
	if !ok {
		return Revoked{}, apperr.InvalidInput(op, apperr.FieldError{Field: "url", Reason: "is not a callback URL of this server (/api/callbacks/{kind})"})
	}
	// Verify at the URL's own expiry, so an expired URL is recognised as
	// signed, and reported as expired rather than forged.
	c, err := u.cfg.Signer.Verify(kind, pu.Query(), time.Time{})
	if err != nil {
		return Revoked{}, err
	}
	if caller.Role != services.RoleAdmin && !slices.ContainsFunc(c.Candidates(), caller.User.Same) {
		return Revoked{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: op,
			Message: "You may revoke callback URLs of your own user only (or those naming it among their candidates)."}
	}
	if !now.Before(c.Expires) {
		return Revoked{ID: c.ID, ExpiresAt: c.Expires}, nil
	}
	if err := u.cfg.State.Revoke(ctx, c.ID, c.Expires); err != nil {
		return Revoked{}, err
	}
	u.cfg.Logger.Info("callback URL revoked", "kind", string(c.Kind), "callback_id", c.ID)
	return Revoked{ID: c.ID, ExpiresAt: c.Expires, Revoked: true}, nil
}
