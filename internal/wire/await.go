package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
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
	MeetingID         json.RawMessage `json:"meetingId"`
	OnBehalfOf        json.RawMessage `json:"onBehalfOf"`
	ParticipantUserID json.RawMessage `json:"participantUserId"`
	TimeoutSeconds    json.RawMessage `json:"timeoutSeconds"`
}

// DecodeAwait parses {meetingId, onBehalfOf | participantUserId,
// timeoutSeconds?}: the user is named by either field (meeting:await says
// onBehalfOf, the REST route participantUserId). timeoutSeconds is 1 to most
// (REST: 0 too, for an answer without waiting); absent, def.
func DecodeAwait(body []byte, def, most time.Duration, zeroOK bool) (services.AwaitInput, error) {
	var r awaitRequest
	if err := jsonbody.Decode("await", body, &r); err != nil {
		return services.AwaitInput{}, err
	}
	f := newFields()
	in := services.AwaitInput{MeetingID: f.meetingID("meetingId", r.MeetingID), Timeout: def}
	switch a, b := jsonbody.Present(r.OnBehalfOf), jsonbody.Present(r.ParticipantUserID); {
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
	if jsonbody.Present(r.TimeoutSeconds) {
		lo := int64(1)
		if zeroOK {
			lo = 0
		}
		hi := int64(most / time.Second)
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(r.TimeoutSeconds))
		d.UseNumber()
		v, err := int64(0), d.Decode(&n)
		if err == nil {
			v, err = n.Int64()
		}
		if err != nil || v < lo || v > hi {
			f.Add("timeoutSeconds", fmt.Sprintf("must be a whole number of seconds from %d to %d", lo, hi))
		} else {
			in.Timeout = time.Duration(v) * time.Second
		}
	}
	return in, f.Err("await")
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
	Presence          presence.State `json:"presence"` // present, waiting or unknown
	TimeoutSeconds    int            `json:"timeoutSeconds"`
	Message           string         `json:"message"`
	Timestamp         time.Time      `json:"timestamp"`
}

// NewAwaiting builds the answer for presence p.
func NewAwaiting(in services.AwaitInput, p presence.State, now time.Time) Awaiting {
	msg := map[presence.State]string{
		presence.Present: "The user is in the meeting: the OBF token follows as meeting:credentials.",
		presence.Waiting: "The user is not in the meeting yet: the OBF token is minted the moment the user joins (meeting:credentials, or the long poll's answer).",
		presence.Unknown: "This server gets no events for this meeting, so it cannot tell when the user joins: join with retries (meeting:join mints a fresh OBF each time).",
	}[p]
	return Awaiting{Success: true, MeetingID: in.MeetingID, ParticipantUserID: in.User, Presence: p,
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
