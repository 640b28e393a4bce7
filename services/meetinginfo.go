package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// meetingAPI is what the meeting-info operations need of the Zoom client
// (*zoom.Client is one).
type meetingAPI interface {
	HasS2S() bool
	GetMeeting(ctx context.Context, id zoom.MeetingID) (zoom.Meeting, error)
	LocalRecordingToken(ctx context.Context, id zoom.MeetingID, bypass bool) (zoom.JoinToken, error)
	LocalRecordingTokenAs(ctx context.Context, src zoom.TokenSource, account string, id zoom.MeetingID, bypass bool) (zoom.JoinToken, error)
}

// PresenceTracker says whether meeting events (webhooks) have been seen for
// a meeting, so that who is in it is known. It may be nil.
type PresenceTracker interface {
	Tracks(id zoom.MeetingID) bool
}

// MeetingInfoConfig configures MeetingInfo.
type MeetingInfoConfig struct {
	Zoom   meetingAPI
	Grants Grants // users' own connections; nil: not configured
	// WebhooksConfigured: Zoom sends this server meeting events (for the
	// meetings of its account, and of accounts that installed the app).
	WebhooksConfigured bool
	Presence           PresenceTracker // nil: none
	CacheTTL           time.Duration   // how long one meeting's access is reused; 0: 60 s
	CacheMax           int             // most meetings remembered; 0: 10,000
	Now                func() time.Time
	Logger             *slog.Logger
}

// MeetingInfo answers what a meeting needs to be joined (Access) and gives
// its host the local-recording join token (RecordingToken).
type MeetingInfo struct {
	zoom     meetingAPI
	grants   Grants
	webhooks bool
	presence PresenceTracker
	ttl      time.Duration
	max      int
	now      func() time.Time
	log      *slog.Logger

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[string]meetingFacts // meeting number -> what Zoom said
}

// meetingFacts is what Zoom said of a meeting, and when: no token.
type meetingFacts struct {
	internal  bool // Zoom knows it in the account (200); false: 3001
	hostID    string
	hostEmail string
	until     time.Time
}

// NewMeetingInfo returns the meeting-info operations.
func NewMeetingInfo(cfg MeetingInfoConfig) *MeetingInfo {
	mi := &MeetingInfo{zoom: cfg.Zoom, grants: cfg.Grants, webhooks: cfg.WebhooksConfigured, presence: cfg.Presence,
		ttl: cfg.CacheTTL, max: cfg.CacheMax, now: cfg.Now, log: cfg.Logger, cache: map[string]meetingFacts{}}
	if mi.ttl <= 0 {
		mi.ttl = 60 * time.Second
	}
	if mi.max <= 0 {
		mi.max = 10000
	}
	if mi.now == nil {
		mi.now = time.Now
	}
	if mi.log == nil {
		mi.log = slog.New(slog.DiscardHandler)
	}
	return mi
}

// Access is what a meeting needs to be joined by this server's Meeting SDK app.
type Access struct {
	MeetingID     zoom.MeetingID
	Internal      bool // the meeting belongs to this server's Zoom account
	OBFRequired   bool // joining it needs an OBF token (or the host's ZAK)
	PresenceKnown bool // this server learns who is in it (meeting events)
	Reason        string
}

// The reasons Access gives.
const (
	reasonInternal = "Zoom knows this meeting in this server's account (the Server-to-Server app reads it): " +
		"a Meeting SDK app of the same account joins it with its SDK signature alone. Zoom requires a ZAK or an OBF " +
		"token (since 2 March 2026) only for meetings outside the SDK app's own account."
	reasonOutside = "Zoom does not know this meeting in this server's account (code 3001): it is hosted in another " +
		"account, or has ended, or does not exist. A Meeting SDK app joining a meeting outside its own account needs " +
		"an OBF token (or the host's ZAK) beside its SDK signature, and an OBF works only while its user is in the meeting."
)

// Access tells, for any caller, whether a meeting is of this server's
// account (GET /v2/meetings/{id} with the S2S app) and so whether an OBF is
// needed to join it. Zoom's answer (200 or 3001) is reused for the cache's
// life; other failures are not kept. Without an S2S app: ErrNotConnected.
func (mi *MeetingInfo) Access(ctx context.Context, _ Identity, id zoom.MeetingID) (Access, error) {
	if !mi.zoom.HasS2S() {
		return Access{}, &apperr.Error{Kind: apperr.ErrNotConnected, Op: "meeting access",
			Message: "This server has no Server-to-Server OAuth app, so it cannot ask Zoom whether a meeting belongs to its account.",
			Hint:    "Set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET (an S2S app with the scope meeting:read:meeting:admin)."}
	}
	f, err := mi.facts(ctx, id)
	if err != nil {
		return Access{}, err
	}
	a := Access{MeetingID: id, Internal: f.internal, OBFRequired: !f.internal, Reason: reasonOutside}
	if f.internal {
		a.Reason = reasonInternal
	}
	a.PresenceKnown = (mi.presence != nil && mi.presence.Tracks(id)) || (mi.webhooks && f.internal)
	return a, nil
}

// facts is what Zoom says of a meeting, from the cache or from Zoom; the
// callers that miss together share one call.
func (mi *MeetingInfo) facts(ctx context.Context, id zoom.MeetingID) (meetingFacts, error) {
	key := id.String()
	if f, ok := mi.cached(key); ok {
		return f, nil
	}
	ch := mi.flight.DoChan(key, func() (any, error) {
		if f, ok := mi.cached(key); ok { // stored by a flight that ended between the miss and this one
			return f, nil
		}
		// Not cancelled with the first caller: the others wait on it too.
		// The Zoom client bounds it by its own deadline.
		m, err := mi.zoom.GetMeeting(context.WithoutCancel(ctx), id)
		var f meetingFacts
		switch {
		case err == nil:
			f = meetingFacts{internal: true, hostID: m.HostID, hostEmail: m.HostEmail}
		case errors.Is(err, apperr.ErrMeetingNotFound):
			f = meetingFacts{}
		default:
			return nil, err
		}
		mi.store(key, f)
		return f, nil
	})
	select {
	case <-ctx.Done():
		return meetingFacts{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: "meeting access", Err: ctx.Err(),
			Message: "The request was cancelled."}
	case r := <-ch:
		if r.Err != nil {
			return meetingFacts{}, r.Err
		}
		return r.Val.(meetingFacts), nil
	}
}

func (mi *MeetingInfo) cached(key string) (meetingFacts, bool) {
	mi.mu.Lock()
	defer mi.mu.Unlock()
	f, ok := mi.cache[key]
	if !ok || !mi.now().Before(f.until) {
		return meetingFacts{}, false
	}
	return f, true
}

// store keeps f for the cache's life. A full cache first drops what has
// expired, then, if still full, any one entry: it never grows past max.
func (mi *MeetingInfo) store(key string, f meetingFacts) {
	now := mi.now()
	f.until = now.Add(mi.ttl)
	mi.mu.Lock()
	defer mi.mu.Unlock()
	if _, ok := mi.cache[key]; !ok && len(mi.cache) >= mi.max {
		for k, v := range mi.cache {
			if !now.Before(v.until) {
				delete(mi.cache, k)
			}
		}
		for k := range mi.cache {
			if len(mi.cache) < mi.max {
				break
			}
			delete(mi.cache, k)
		}
	}
	mi.cache[key] = f
}

// RecordingInput asks for a meeting's local-recording join token.
type RecordingInput struct {
	MeetingID         zoom.MeetingID
	BypassWaitingRoom bool
}

// RecordingToken is a local-recording join token and how it was had.
type RecordingToken struct {
	zoom.JoinToken
	Via string // ViaConnection or ViaAccount
}

// RoleMayRecord refuses, before its body is read, a caller whose role may
// never get a local-recording join token: a participant.
func RoleMayRecord(id Identity) error {
	return hostOrAdmin("recording token", "Only the meeting's host or an admin may get a local-recording join token.", id)
}

// RecordingToken gives the local-recording join token of a meeting
// (GET /v2/meetings/{id}/jointoken/local_recording). A host gets it for a
// meeting it hosts: through its own connection when it has one (Zoom
// answers only for the meetings of that user), else through the account's
// S2S app once Zoom's record of the meeting names it as the host. An admin
// gets it for any meeting of the account (S2S), or through its own
// connection when no S2S app is configured. The token is never logged nor
// kept.
func (mi *MeetingInfo) RecordingToken(ctx context.Context, caller Identity, in RecordingInput) (RecordingToken, error) {
	const op = "recording token"
	if err := RoleMayRecord(caller); err != nil {
		return RecordingToken{}, err
	}
	if caller.Role == RoleAdmin && mi.zoom.HasS2S() {
		tok, err := mi.zoom.LocalRecordingToken(ctx, in.MeetingID, in.BypassWaitingRoom)
		return RecordingToken{JoinToken: tok, Via: ViaAccount}, err
	}
	if mi.grants != nil && !caller.User.IsZero() {
		src, account, ok, err := mi.grants.SourceFor(ctx, caller.User)
		if err != nil {
			return RecordingToken{}, err
		}
		if ok {
			tok, err := mi.zoom.LocalRecordingTokenAs(ctx, src, account, in.MeetingID, in.BypassWaitingRoom)
			return RecordingToken{JoinToken: tok, Via: ViaConnection}, err
		}
	}
	if !mi.zoom.HasS2S() || caller.User.IsZero() {
		return RecordingToken{}, mi.notConnected(ctx, caller)
	}
	// A host without a connection: the S2S app can get the token of any
	// meeting of the account, so the host must be the meeting's.
	f, err := mi.facts(ctx, in.MeetingID)
	if err != nil {
		return RecordingToken{}, err
	}
	if !f.internal && mi.grants != nil {
		// Hosted in another account, maybe the caller's: its own
		// connection would reach it.
		return RecordingToken{}, mi.notConnected(ctx, caller)
	}
	if !f.internal {
		return RecordingToken{}, &apperr.Error{Kind: apperr.ErrMeetingNotFound, Op: op, ZoomCode: 3001,
			Message: fmt.Sprintf("Zoom has no meeting %s in this server's account (code 3001): it is hosted in another account, has ended, or does not exist.", in.MeetingID.String())}
	}
	if !zoom.SameUser(caller.User.String(), f.hostID) && (f.hostEmail == "" || !zoom.SameUser(caller.User.String(), f.hostEmail)) {
		return RecordingToken{}, forbidden(op, "You are not the host of this meeting: a host may get the local-recording join token only for the meetings it hosts.")
	}
	tok, err := mi.zoom.LocalRecordingToken(ctx, in.MeetingID, in.BypassWaitingRoom)
	return RecordingToken{JoinToken: tok, Via: ViaAccount}, err
}

// notConnected: no credential can ask Zoom for the caller.
func (mi *MeetingInfo) notConnected(ctx context.Context, caller Identity) error {
	e := &apperr.Error{Kind: apperr.ErrNotConnected, Op: "recording token",
		Message: "This server cannot ask Zoom for this meeting's join token for you: you have not connected your Zoom account, and the server's own account (if any) does not hold the meeting.",
		Hint:    "Connect once through GET /api/connections/zoom/authorize."}
	if mi.grants != nil && !caller.User.IsZero() {
		if u, _, err := mi.grants.Authorize(ctx, caller); err == nil {
			e.AuthorizeURL = u
			e.Hint = "Open authorizeUrl to connect your Zoom account, then try again."
		}
	}
	return e
}
