package webhooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// The events the server reads; others are acknowledged and ignored.
const (
	EventURLValidation       = "endpoint.url_validation"
	EventMeetingStarted      = "meeting.started"
	EventMeetingEnded        = "meeting.ended"
	EventParticipantJoined   = "meeting.participant_joined"
	EventParticipantLeft     = "meeting.participant_left"
	EventAppDeauthorized     = "app_deauthorized"
	maxField                 = 256 // longest identifier kept; longer ones are dropped
	maxPlainToken            = 256
	maxEventName             = 64
	maxMeetingNumberInEvents = 11
)

// Known reports whether the server reads event; metrics label every other
// event "other", so that a sender cannot grow the label set.
func Known(event string) bool {
	switch event {
	case EventURLValidation, EventMeetingStarted, EventMeetingEnded, EventParticipantJoined,
		EventParticipantLeft, EventAppDeauthorized:
		return true
	}
	return IsRTMS(event)
}

// Label is event as a metric label: the event's name when Known, else "other".
func Label(event string) string {
	if Known(event) {
		return event
	}
	return "other"
}

// Event is one webhook event, as far as the server reads it.
type Event struct {
	Name string
	At   time.Time // event_ts; zero when absent
	// Key identifies the event across Zoom's retries: the name, event_ts and
	// the payload (compacted), hashed.
	Key string

	PlainToken string // endpoint.url_validation

	AccountID   string
	Meeting     Meeting      // meeting.*
	Participant *Participant // participant_joined / participant_left
	Deauth      *Deauthorization
	RTMS        *RTMS // the rtms_started, rtms_stopped and rtms_interrupted events (rtms.go)
}

// Meeting is payload.object of a meeting event.
type Meeting struct {
	Number string // the meeting number (payload.object.id), digits; "" when absent or malformed
	UUID   string // this occurrence of the meeting
	HostID string
	Start  time.Time
	End    time.Time
}

// Participant is payload.object.participant. UserID is a per-meeting number
// that changes when the participant joins again; the Zoom user id is ID
// (signed-in users) or ParticipantUserID (often empty); Email may be withheld.
type Participant struct {
	UserID            string
	UUID              string // participant_uuid
	ID                string
	ParticipantUserID string
	Email             string
	Name              string
	Time              time.Time // join_time or leave_time
	LeaveReason       string
}

// Deauthorization is the payload of app_deauthorized.
type Deauthorization struct {
	AccountID string
	UserID    string
	ClientID  string
	At        time.Time
	Retention bool // user_data_retention: the app may keep the user's data
}

type envelope struct {
	Event   json.RawMessage `json:"event"`
	EventTS json.RawMessage `json:"event_ts"`
	Payload json.RawMessage `json:"payload"`
}

type payload struct {
	PlainToken          json.RawMessage `json:"plainToken"`
	AccountID           json.RawMessage `json:"account_id"`
	UserID              json.RawMessage `json:"user_id"`
	ClientID            json.RawMessage `json:"client_id"`
	DeauthorizationTime json.RawMessage `json:"deauthorization_time"`
	UserDataRetention   json.RawMessage `json:"user_data_retention"`
	Object              *struct {
		ID          json.RawMessage `json:"id"`
		UUID        json.RawMessage `json:"uuid"`
		HostID      json.RawMessage `json:"host_id"`
		StartTime   json.RawMessage `json:"start_time"`
		EndTime     json.RawMessage `json:"end_time"`
		Participant *struct {
			UserID            json.RawMessage `json:"user_id"`
			UserName          json.RawMessage `json:"user_name"`
			ID                json.RawMessage `json:"id"`
			ParticipantUUID   json.RawMessage `json:"participant_uuid"`
			ParticipantUserID json.RawMessage `json:"participant_user_id"`
			Email             json.RawMessage `json:"email"`
			JoinTime          json.RawMessage `json:"join_time"`
			LeaveTime         json.RawMessage `json:"leave_time"`
			LeaveReason       json.RawMessage `json:"leave_reason"`
		} `json:"participant"`
	} `json:"object"`
}

func malformed(reason string) error {
	return apperr.InvalidInput("webhook", apperr.FieldError{Field: "body", Reason: reason})
}

// Parse reads a webhook body. Only the envelope must be right (a JSON object
// with an event name); fields the server reads are taken when they have a
// usable value and left empty otherwise, since Zoom sends some of them as
// numbers in one event and strings in another.
func Parse(body []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return Event{}, malformed("is not a JSON object")
	}
	name := ""
	if t := bytes.TrimSpace(env.Event); len(t) > 0 && t[0] == '"' {
		name = text(t, maxEventName)
	}
	if name == "" {
		return Event{}, malformed("has no event name")
	}
	e := Event{Name: name, At: unixMillis(env.EventTS)}
	var compact bytes.Buffer
	if len(env.Payload) > 0 && json.Compact(&compact, env.Payload) != nil {
		return Event{}, malformed("has a payload that is not JSON")
	}
	sum := sha256.New()
	sum.Write([]byte(name + "\x00" + string(bytes.TrimSpace(env.EventTS)) + "\x00"))
	sum.Write(compact.Bytes())
	e.Key = hex.EncodeToString(sum.Sum(nil)[:16])

	var p payload
	if len(env.Payload) > 0 && !bytes.Equal(bytes.TrimSpace(env.Payload), []byte("null")) {
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return Event{}, malformed("has a payload that is not a JSON object")
		}
	}
	e.AccountID = text(p.AccountID, maxField)
	switch name {
	case EventURLValidation:
		e.PlainToken = text(p.PlainToken, maxPlainToken)
		if e.PlainToken == "" {
			return Event{}, malformed("is a url_validation without payload.plainToken")
		}
	case EventAppDeauthorized:
		e.Deauth = &Deauthorization{AccountID: e.AccountID, UserID: text(p.UserID, maxField), ClientID: text(p.ClientID, maxField),
			At: timeField(p.DeauthorizationTime), Retention: truthy(p.UserDataRetention)}
	}
	if product, kind, ok := rtmsEvent(name); ok {
		e.RTMS = parseRTMS(product, kind, env.Payload)
	}
	if o := p.Object; o != nil {
		e.Meeting = Meeting{Number: meetingNumber(o.ID), UUID: text(o.UUID, maxField), HostID: text(o.HostID, maxField),
			Start: timeField(o.StartTime), End: timeField(o.EndTime)}
		if q := o.Participant; q != nil {
			part := &Participant{UserID: text(q.UserID, maxField), UUID: text(q.ParticipantUUID, maxField), ID: text(q.ID, maxField),
				ParticipantUserID: text(q.ParticipantUserID, maxField), Email: text(q.Email, maxField), Name: text(q.UserName, maxField),
				LeaveReason: text(q.LeaveReason, maxField)}
			part.Time = timeField(q.JoinTime)
			if t := timeField(q.LeaveTime); !t.IsZero() {
				part.Time = t
			}
			e.Participant = part
		}
	}
	return e, nil
}

// text reads a JSON string, or a number as its digits; "" for anything else,
// for what is longer than most, or for what holds control characters.
func text(raw json.RawMessage, most int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return ""
		}
		s = n.String()
	default:
		return ""
	}
	s = strings.TrimSpace(s)
	if len(s) > most {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return s
}

// meetingNumber reads payload.object.id, a number in some events and a
// string in others: 9 to 11 digits, else "".
func meetingNumber(raw json.RawMessage) string {
	s := text(raw, maxMeetingNumberInEvents)
	if len(s) < 9 {
		return ""
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return s
}

// timeField reads an RFC 3339 time, or Unix milliseconds; zero otherwise.
func timeField(raw json.RawMessage) time.Time {
	s := text(raw, 64)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.UnixMilli(n)
	}
	return time.Time{}
}

func unixMillis(raw json.RawMessage) time.Time {
	s := text(raw, 20)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func truthy(raw json.RawMessage) bool {
	switch strings.ToLower(text(raw, 8)) {
	case "true", "1":
		return true
	}
	return bytes.Equal(bytes.TrimSpace(raw), []byte("true"))
}
