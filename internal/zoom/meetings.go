package zoom

// Meetings and join tokens (docs/ZOOM.md, "Meetings and join tokens"):
// GET /v2/meetings/{meetingId}, which tells a meeting of the account from an
// outside one, and GET /v2/meetings/{meetingId}/jointoken/local_recording.
// Both take the path of every GET to Zoom (call.go: do).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// The scopes the meeting calls need: granular names, as Zoom's docs give them.
const (
	ScopeMeetingReadAdmin        = "meeting:read:meeting:admin"               // GET /meetings/{id}, S2S
	ScopeLocalRecordingAdmin     = "meeting:read:local_recording_token:admin" // jointoken/local_recording, S2S
	ScopeLocalRecordingUserGrant = "meeting:read:local_recording_token"       // jointoken/local_recording, a user's grant
)

// DefaultLocalRecordingLife is the life of a local-recording join token when
// Zoom's answer lacks expire_in (Zoom documents 120 s).
const DefaultLocalRecordingLife = 120 * time.Second

// Meeting is what GET /v2/meetings/{meetingId} says of a meeting of the
// account: its number and its host. No token.
type Meeting struct {
	ID        MeetingID
	HostID    string
	HostEmail string
}

// JoinToken is a local-recording join token. Value never prints.
type JoinToken struct {
	MeetingID MeetingID
	Value     secret.Value
	ExpiresIn time.Duration
	ExpiresAt time.Time
}

// GetMeeting reads a meeting with the account's S2S app. A meeting Zoom
// does not know in the account (3001) is ErrMeetingNotFound. Without an S2S
// app it answers ErrNotConnected.
func (c *Client) GetMeeting(ctx context.Context, id MeetingID) (Meeting, error) {
	const op = "read the meeting"
	if c.s2s == nil {
		return Meeting{}, errNoS2S(op)
	}
	if id.IsZero() {
		return Meeting{}, fmt.Errorf("%s: %w", op, errNoMeeting)
	}
	a, err := c.do(ctx, call{
		op: op, endpoint: "meeting", src: c.s2s, acct: c.own, quota: quotaMeetings,
		url:     func() (string, error) { return c.apiURL + "/meetings/" + url.PathEscape(id.String()), nil },
		subject: subject{meeting: id, meetings: true, scope: ScopeMeetingReadAdmin + " (classic: meeting:read:admin)"},
	})
	if err != nil {
		return Meeting{}, err
	}
	var r struct {
		ID        json.Number `json:"id"`
		HostID    string      `json:"host_id"`
		HostEmail string      `json:"host_email"`
	}
	if json.Unmarshal(a.body, &r) != nil || r.HostID == "" {
		return Meeting{}, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
			Message: "Zoom answered the meeting without its host."}
	}
	return Meeting{ID: id, HostID: r.HostID, HostEmail: r.HostEmail}, nil
}

// LocalRecordingToken asks, with the account's S2S app, for the join token
// for local recording of a meeting of the account (bypass: the bot skips the
// waiting room too). Without an S2S app it answers ErrNotConnected.
func (c *Client) LocalRecordingToken(ctx context.Context, id MeetingID, bypass bool) (JoinToken, error) {
	const op = "get the local-recording join token"
	if c.s2s == nil {
		return JoinToken{}, errNoS2S(op)
	}
	return c.recordingToken(ctx, call{op: op, endpoint: "jointoken_local_recording", src: c.s2s, acct: c.own,
		subject: subject{scope: ScopeLocalRecordingAdmin}}, id, bypass)
}

// LocalRecordingTokenAs asks for it with a user's own grant (src, of a user
// of the Zoom account account): Zoom answers only for a meeting that user
// hosts, and 3001 otherwise.
func (c *Client) LocalRecordingTokenAs(ctx context.Context, src TokenSource, account string, id MeetingID, bypass bool) (JoinToken, error) {
	const op = "get the local-recording join token with the user's connection"
	return c.recordingToken(ctx, call{op: op, endpoint: "me_jointoken_local_recording", src: src, acct: c.accountFor(account),
		subject: subject{userGrant: true, scope: ScopeLocalRecordingUserGrant}}, id, bypass)
}

func (c *Client) recordingToken(ctx context.Context, g call, id MeetingID, bypass bool) (JoinToken, error) {
	if id.IsZero() {
		return JoinToken{}, fmt.Errorf("%s: %w", g.op, errNoMeeting)
	}
	g.quota = quotaMeetings
	g.subject.meeting, g.subject.meetings, g.subject.token = id, true, true
	g.url = func() (string, error) {
		u := c.apiURL + "/meetings/" + url.PathEscape(id.String()) + "/jointoken/local_recording"
		if bypass {
			u += "?bypass_waiting_room=true"
		}
		return u, nil
	}
	a, err := c.do(ctx, g)
	if err != nil {
		return JoinToken{}, err
	}
	var r struct {
		ExpireIn int64 `json:"expire_in"`
	}
	_ = json.Unmarshal(a.body, &r)
	life := DefaultLocalRecordingLife
	if r.ExpireIn > 0 && r.ExpireIn <= MaxTTLSeconds {
		life = time.Duration(r.ExpireIn) * time.Second
	}
	return JoinToken{MeetingID: id, Value: secret.New(a.token), ExpiresIn: life, ExpiresAt: c.now().Add(life)}, nil
}

var errNoMeeting = errors.New("no meeting id")
