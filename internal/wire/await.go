package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Awaiting a user's presence: meeting:await and meeting:cancel-await over
// Socket.IO, POST /api/meetings/await over REST.
const (
	EventAwait       = "meeting:await"
	EventCancelAwait = "meeting:cancel-await"
	EventAwaiting    = "meeting:awaiting"
	EventUserLeft    = "meeting:user-left"
)

// How long an await may wait: a socket up to an hour (bots have waited ten
// minutes for their user), a REST long poll up to a minute.
const (
	AwaitSocketDefault = 10 * time.Minute
	AwaitSocketMax     = time.Hour
	AwaitRESTDefault   = 60 * time.Second
	AwaitRESTMax       = 60 * time.Second
)

type awaitRequest struct {
	MeetingID          json.RawMessage `json:"meetingId"`
	OnBehalfOf         json.RawMessage `json:"onBehalfOf"`
	ParticipantUserID  json.RawMessage `json:"participantUserId"`
	ParticipantUserIDs json.RawMessage `json:"participantUserIds"`
	ExcludeUserIDs     json.RawMessage `json:"excludeUserIds"`
	Follow             json.RawMessage `json:"follow"`
	TimeoutSeconds     json.RawMessage `json:"timeoutSeconds"`
}

// DecodeAwait parses {meetingId, onBehalfOf | participantUserId |
// participantUserIds, excludeUserIds?, follow?, timeoutSeconds?}: the user is
// named by onBehalfOf (meeting:await: one id, or a list of candidates) or
// participantUserId / participantUserIds (the REST route). timeoutSeconds is
// 1 to most (REST: 0 too, for an answer without waiting); absent, def.
// follow is for sockets only (rest false): a long poll answers once.
func DecodeAwait(body []byte, def, most time.Duration, rest bool) (awaits.AwaitInput, error) {
	var r awaitRequest
	if err := jsonbody.Decode("await", body, &r); err != nil {
		return awaits.AwaitInput{}, err
	}
	f := newFields()
	in := awaits.AwaitInput{MeetingID: f.meetingID("meetingId", r.MeetingID), Timeout: def}
	f.awaitUsers(&in, r)
	if jsonbody.Present(r.Follow) {
		if b, ok := f.Bool("follow", r.Follow, "must be true or false"); ok && b && rest {
			f.Add("follow", "is for meeting:await over Socket.IO: a long poll answers once")
		} else {
			in.Follow = b
		}
	}
	if jsonbody.Present(r.TimeoutSeconds) {
		in.Timeout = f.awaitTimeout(r.TimeoutSeconds, in.Timeout, most, rest)
	}
	if len(in.Candidates) > 0 {
		in.User = in.Candidates[0]
	}
	return in, f.Err("await")
}

// awaitUsers reads who is awaited: one user, or candidates (Listed).
func (f *fields) awaitUsers(in *awaits.AwaitInput, r awaitRequest) {
	switch a, b, c := jsonbody.Present(r.OnBehalfOf), jsonbody.Present(r.ParticipantUserID), jsonbody.Present(r.ParticipantUserIDs); {
	case a && c, b && c:
		f.Add("participantUserIds", "names the users again: send one of onBehalfOf, participantUserId, participantUserIds")
	case c:
		in.Candidates, in.Listed = f.candidates("participantUserIds", r.ParticipantUserIDs), true
	case a && isArray(r.OnBehalfOf):
		in.Candidates, in.Listed = f.candidates("onBehalfOf", r.OnBehalfOf), true
		if b {
			f.Add("participantUserId", "names the user again: send one of onBehalfOf and participantUserId")
		}
	case a && b:
		u, v := f.userID("onBehalfOf", r.OnBehalfOf), f.userID("participantUserId", r.ParticipantUserID)
		if !u.IsZero() && !v.IsZero() && !u.Same(v) {
			f.Add("participantUserId", "names another user than onBehalfOf: send one of them")
		}
		in.User = u
	case b:
		in.User = f.userID("participantUserId", r.ParticipantUserID)
	default:
		in.User = f.userID("onBehalfOf", r.OnBehalfOf)
	}
	switch {
	case jsonbody.Present(r.ExcludeUserIDs) && !in.Listed:
		f.Add("excludeUserIds", "goes with a list of candidates")
	case in.Listed:
		in.Exclude = f.excluded("excludeUserIds", r.ExcludeUserIDs)
	}
}

// awaitTimeout reads timeoutSeconds: 1 to most (REST: 0 too).
func (f *fields) awaitTimeout(raw json.RawMessage, def, most time.Duration, zeroOK bool) time.Duration {
	lo := int64(1)
	if zeroOK {
		lo = 0
	}
	hi := int64(most / time.Second)
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	v, err := int64(0), d.Decode(&n)
	if err == nil {
		v, err = n.Int64()
	}
	if err != nil || v < lo || v > hi {
		f.Add("timeoutSeconds", fmt.Sprintf("must be a whole number of seconds from %d to %d", lo, hi))
		return def
	}
	return time.Duration(v) * time.Second
}

// DecodeCancelAwait parses {meetingId}.
func DecodeCancelAwait(body []byte) (zoom.MeetingID, error) {
	var r awaitRequest
	if err := jsonbody.Decode("cancel await", body, &r); err != nil {
		return zoom.MeetingID{}, err
	}
	f := newFields()
	m := f.meetingID("meetingId", r.MeetingID)
	return m, f.Err("cancel await")
}

// Awaiting is the body of meeting:await's answer (meeting:awaiting, or its
// ack) and of the REST route's 202.
type Awaiting struct {
	Success           bool           `json:"success"`
	MeetingID         zoom.MeetingID `json:"meetingId"`
	ParticipantUserID zoom.UserID    `json:"participantUserId"`
	Presence          presence.State `json:"presence"` // present, waiting, unknown or ended
	// Candidates: the users awaited, in order of preference, when a list
	// was given.
	Candidates     []zoom.UserID `json:"candidates,omitempty"`
	Follow         bool          `json:"follow,omitempty"`
	TimeoutSeconds int           `json:"timeoutSeconds"`
	Message        string        `json:"message"`
	Timestamp      time.Time     `json:"timestamp"`
}

// NewAwaiting builds the answer for presence p.
func NewAwaiting(in awaits.AwaitInput, p presence.State, now time.Time) Awaiting {
	msg := map[presence.State]string{
		presence.Present: "The user is in the meeting: the OBF token follows as meeting:credentials.",
		presence.Waiting: "The user is not in the meeting yet: the OBF token is minted the moment the user joins (meeting:credentials, or the long poll's answer).",
		presence.Unknown: "This server gets no events for this meeting, so it cannot tell when the user joins: join with retries (meeting:join mints a fresh OBF each time).",
		presence.Ended:   "The meeting ended: the await is over.",
	}[p]
	if in.Listed {
		msg = map[presence.State]string{
			presence.Present: "A candidate is in the meeting: the OBF token follows as meeting:credentials.",
			presence.Waiting: "No candidate is in the meeting now: the OBF token of the first to join follows as meeting:credentials.",
			presence.Unknown: "This server gets no events for this meeting, so it cannot tell who is in it: join with candidates (POST /api/meetings/join with participantUserIds), which takes them in list order.",
			presence.Ended:   "The meeting ended: the await is over.",
		}[p]
	}
	var cands []zoom.UserID
	if in.Listed {
		cands = in.Candidates
	}
	return Awaiting{Success: true, MeetingID: in.MeetingID, ParticipantUserID: in.User, Presence: p, Candidates: cands, Follow: in.Follow,
		TimeoutSeconds: int(in.Timeout / time.Second), Message: msg, Timestamp: now.UTC()}
}

// UserLeft is the body of meeting:user-left: the user a bot joined for left
// the meeting (Zoom removes the OBF's bot then).
type UserLeft struct {
	MeetingID zoom.MeetingID `json:"meetingId"`
	UserID    zoom.UserID    `json:"userId"`
	Timestamp time.Time      `json:"timestamp"`
}

// CancelledAwaits answers meeting:cancel-await.
type CancelledAwaits struct {
	Success   bool           `json:"success"`
	MeetingID zoom.MeetingID `json:"meetingId"`
	Cancelled int            `json:"cancelled"`
}
