package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/zoomtoken/tokenserver/apperr"
	"github.com/zoomtoken/tokenserver/jsonbody"
	"github.com/zoomtoken/tokenserver/services"
	"github.com/zoomtoken/tokenserver/zoom"
)

// Request bodies are parsed here, once, for REST and Socket.IO alike, so a
// request gets the same answer on both, into typed values (zoom.UserID,
// zoom.MeetingID) that the domain and the Zoom client never check again.
// Fields are read as raw JSON so that each wrong type gets its own reason;
// unknown fields are ignored, as the original service did.

type startRequest struct {
	MeetingID  json.RawMessage `json:"meetingId"`
	HostUserID json.RawMessage `json:"hostUserId"`
	TTL        json.RawMessage `json:"ttl"`
}

// DecodeStart parses {meetingId, hostUserId, ttl?}.
func DecodeStart(body []byte) (services.StartInput, error) {
	var r startRequest
	if err := jsonbody.Decode("start", body, &r); err != nil {
		return services.StartInput{}, err
	}
	var f fields
	in := services.StartInput{MeetingID: f.meetingID("meetingId", r.MeetingID), HostUserID: f.userID("hostUserId", r.HostUserID), TTL: f.ttl("ttl", r.TTL)}
	return in, f.err("start")
}

type joinRequest struct {
	MeetingID         json.RawMessage `json:"meetingId"`
	ParticipantUserID json.RawMessage `json:"participantUserId"`
	TTL               json.RawMessage `json:"ttl"`
}

// DecodeJoin parses {meetingId, participantUserId, ttl?}.
func DecodeJoin(body []byte) (services.JoinInput, error) {
	var r joinRequest
	if err := jsonbody.Decode("join", body, &r); err != nil {
		return services.JoinInput{}, err
	}
	var f fields
	in := services.JoinInput{MeetingID: f.meetingID("meetingId", r.MeetingID), ParticipantUserID: f.userID("participantUserId", r.ParticipantUserID), TTL: f.ttl("ttl", r.TTL)}
	return in, f.err("join")
}

type batchRequest struct {
	MeetingID          json.RawMessage `json:"meetingId"`
	HostUserID         json.RawMessage `json:"hostUserId"`
	ParticipantUserIDs json.RawMessage `json:"participantUserIds"`
	TTL                json.RawMessage `json:"ttl"`
}

// DecodeBatch parses {meetingId, participantUserIds}.
func DecodeBatch(body []byte, most int) (services.BatchInput, error) {
	var r batchRequest
	if err := jsonbody.Decode("batch-join", body, &r); err != nil {
		return services.BatchInput{}, err
	}
	var f fields
	in := services.BatchInput{MeetingID: f.meetingID("meetingId", r.MeetingID), ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, true, most)}
	return in, f.err("batch-join")
}

// DecodeDistribute parses {meetingId, hostUserId, participantUserIds}.
func DecodeDistribute(body []byte, most int) (services.DistributeInput, error) {
	var r batchRequest
	if err := jsonbody.Decode("distribute", body, &r); err != nil {
		return services.DistributeInput{}, err
	}
	var f fields
	in := services.DistributeInput{HostUserID: f.userID("hostUserId", r.HostUserID), BatchInput: services.BatchInput{
		MeetingID: f.meetingID("meetingId", r.MeetingID), ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, true, most)}}
	return in, f.err("distribute")
}

type callerTokenRequest struct {
	Sub  json.RawMessage `json:"sub"`
	Role json.RawMessage `json:"role"`
}

// DecodeCallerToken parses {sub, role?}, the body of the sandbox's POST /sandbox/tokens.
func DecodeCallerToken(body []byte) (services.Identity, error) {
	var r callerTokenRequest
	if err := jsonbody.Decode("caller token", body, &r); err != nil {
		return services.Identity{}, err
	}
	var f fields
	sub := f.userID("sub", r.Sub)
	id := services.Identity{Subject: sub.String(), User: sub, Role: services.RoleParticipant, Method: "jwt"}
	if !isNull(r.Role) {
		var s string
		_ = json.Unmarshal(r.Role, &s)
		switch role := services.Role(s); role {
		case services.RoleAdmin, services.RoleHost, services.RoleParticipant:
			id.Role = role
		default:
			f.add("role", "must be admin, host or participant")
		}
	}
	return id, f.err("caller token")
}

// DecodeSetup parses {meetingId, hostUserId, participantUserIds?, ttl?}.
func DecodeSetup(body []byte, most int) (services.SetupInput, error) {
	var r batchRequest
	if err := jsonbody.Decode("setup", body, &r); err != nil {
		return services.SetupInput{}, err
	}
	var f fields
	in := services.SetupInput{MeetingID: f.meetingID("meetingId", r.MeetingID), HostUserID: f.userID("hostUserId", r.HostUserID),
		ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, false, most), TTL: f.ttl("ttl", r.TTL)}
	return in, f.err("setup")
}

// MaxDetails is how many field problems one error lists: a body of 100,000
// wrong items gets a short answer, not one a hundred times its size.
const MaxDetails = 20

// fields collects the reasons a request's fields are wrong, the first
// MaxDetails of them, and counts the rest.
type fields struct {
	details []apperr.FieldError
	more    int
	tooMany error // a list over its limit: answered alone
}

func (f *fields) add(field, reason string) {
	if len(f.details) >= MaxDetails {
		f.more++
		return
	}
	f.details = append(f.details, apperr.FieldError{Field: field, Reason: reason})
}

func (f *fields) err(op string) error {
	if f.tooMany != nil {
		return f.tooMany
	}
	if len(f.details) == 0 {
		return nil
	}
	e := apperr.InvalidInput(op, f.details...)
	if f.more > 0 {
		e.Message = fmt.Sprintf("The request is not valid: %d fields are wrong; details lists the first %d.", len(f.details)+f.more, MaxDetails)
	}
	return e
}

func (f *fields) meetingID(name string, raw json.RawMessage) zoom.MeetingID {
	m, reason := zoom.ParseMeetingID(raw)
	if reason != "" {
		f.add(name, reason)
	}
	return m
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// userID reads a required user id.
func (f *fields) userID(name string, raw json.RawMessage) zoom.UserID {
	if isNull(raw) {
		f.add(name, "is required")
		return zoom.UserID{}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.add(name, "must be a string (a Zoom user id or email)")
		return zoom.UserID{}
	}
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		f.add(name, reason)
	}
	return u
}

// userIDs reads an array of user ids: required, or optional. Over most
// items, it stops at once: the answer is 413, whatever else is wrong.
func (f *fields) userIDs(name string, raw json.RawMessage, required bool, most int) []zoom.UserID {
	if isNull(raw) {
		if required {
			f.add(name, "is required: an array of Zoom user ids or emails")
		}
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.add(name, "must be an array of strings")
		return nil
	}
	if required && len(items) == 0 {
		f.add(name, "must list at least one user")
	}
	if most > 0 && len(items) > most {
		f.tooMany = &apperr.Error{Kind: apperr.ErrTooLarge, Op: "decode",
			Message: fmt.Sprintf("%s lists %d users; at most %d (BATCH_MAX) may be asked for at once.", name, len(items), most)}
		return nil
	}
	out := make([]zoom.UserID, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			f.add(fmt.Sprintf("%s[%d]", name, i), "must be a string")
			continue
		}
		u, reason := zoom.ParseUserID(s)
		if reason != "" {
			f.add(fmt.Sprintf("%s[%d]", name, i), reason)
			continue
		}
		out = append(out, u)
	}
	return out
}

// ttl reads an optional lifetime in whole seconds.
func (f *fields) ttl(name string, raw json.RawMessage) int {
	if isNull(raw) {
		return 0
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		f.add(name, "must be a whole number of seconds")
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > zoom.MaxTTLSeconds {
		f.add(name, fmt.Sprintf("must be a whole number of seconds from 1 to %d", zoom.MaxTTLSeconds))
		return 0
	}
	return int(v)
}
