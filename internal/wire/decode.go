package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
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
	f := newFields()
	in := services.StartInput{MeetingID: f.meetingID("meetingId", r.MeetingID), HostUserID: f.userID("hostUserId", r.HostUserID), TTL: f.ttl("ttl", r.TTL)}
	return in, f.Err("start")
}

type joinRequest struct {
	MeetingID          json.RawMessage `json:"meetingId"`
	ParticipantUserID  json.RawMessage `json:"participantUserId"`
	ParticipantUserIDs json.RawMessage `json:"participantUserIds"`
	ExcludeUserIDs     json.RawMessage `json:"excludeUserIds"`
	TTL                json.RawMessage `json:"ttl"`
}

// DecodeJoin parses {meetingId, participantUserId | participantUserIds,
// excludeUserIds?, ttl?}: one user, or 1 to 50 candidates (Candidates).
func DecodeJoin(body []byte) (services.JoinInput, error) {
	var r joinRequest
	if err := jsonbody.Decode("join", body, &r); err != nil {
		return services.JoinInput{}, err
	}
	f := newFields()
	in := services.JoinInput{MeetingID: f.meetingID("meetingId", r.MeetingID), TTL: f.ttl("ttl", r.TTL)}
	switch one, many := jsonbody.Present(r.ParticipantUserID), jsonbody.Present(r.ParticipantUserIDs); {
	case one && many:
		f.Add("participantUserIds", "goes in place of participantUserId: send one of them")
	case many:
		in.Candidates = f.candidates("participantUserIds", r.ParticipantUserIDs)
		in.Exclude = f.excluded("excludeUserIds", r.ExcludeUserIDs)
	default:
		in.ParticipantUserID = f.userID("participantUserId", r.ParticipantUserID)
		if jsonbody.Present(r.ExcludeUserIDs) {
			f.Add("excludeUserIds", "goes with participantUserIds (candidates)")
		}
	}
	return in, f.Err("join")
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
	f := newFields()
	in := services.BatchInput{MeetingID: f.meetingID("meetingId", r.MeetingID), ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, true, most)}
	return in, f.Err("batch-join")
}

// DecodeDistribute parses {meetingId, hostUserId, participantUserIds}.
func DecodeDistribute(body []byte, most int) (services.DistributeInput, error) {
	var r batchRequest
	if err := jsonbody.Decode("distribute", body, &r); err != nil {
		return services.DistributeInput{}, err
	}
	f := newFields()
	in := services.DistributeInput{HostUserID: f.userID("hostUserId", r.HostUserID), BatchInput: services.BatchInput{
		MeetingID: f.meetingID("meetingId", r.MeetingID), ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, true, most)}}
	return in, f.Err("distribute")
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
	f := newFields()
	sub := f.userID("sub", r.Sub)
	id := services.Identity{Subject: sub.String(), User: sub, Role: services.RoleParticipant, Method: "jwt"}
	if jsonbody.Present(r.Role) {
		var s string
		_ = json.Unmarshal(r.Role, &s)
		switch role := services.Role(s); role {
		case services.RoleAdmin, services.RoleHost, services.RoleParticipant, services.RoleWorker: // worker: RTMS workers (docs/API.md)
			id.Role = role
		default:
			f.Add("role", "must be admin, host or participant")
		}
	}
	return id, f.Err("caller token")
}

// DecodeSetup parses {meetingId, hostUserId, participantUserIds?, ttl?}.
func DecodeSetup(body []byte, most int) (services.SetupInput, error) {
	var r batchRequest
	if err := jsonbody.Decode("setup", body, &r); err != nil {
		return services.SetupInput{}, err
	}
	f := newFields()
	in := services.SetupInput{MeetingID: f.meetingID("meetingId", r.MeetingID), HostUserID: f.userID("hostUserId", r.HostUserID),
		ParticipantUserIDs: f.userIDs("participantUserIds", r.ParticipantUserIDs, false, most), TTL: f.ttl("ttl", r.TTL)}
	return in, f.Err("setup")
}

// MaxDetails is how many field problems one error lists: a body of 100,000
// wrong items gets a short answer, not one a hundred times its size.
const MaxDetails = 20

// fields collects the reasons a request's fields are wrong, the first
// MaxDetails of them, and counts the rest; its methods read the fields
// this server types (meeting ids, user ids, lifetimes).
type fields struct{ jsonbody.Fields }

func newFields() fields { return fields{jsonbody.Fields{Max: MaxDetails}} }

func (f *fields) meetingID(name string, raw json.RawMessage) zoom.MeetingID {
	m, reason := zoom.ParseMeetingID(raw)
	if reason != "" {
		f.Add(name, reason)
	}
	return m
}

// userID reads a required user id.
func (f *fields) userID(name string, raw json.RawMessage) zoom.UserID {
	if !f.Required(name, raw, "is required") {
		return zoom.UserID{}
	}
	s, ok := f.String(name, raw, "must be a string (a Zoom user id or email)")
	if !ok {
		return zoom.UserID{}
	}
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		f.Add(name, reason)
	}
	return u
}

// userIDs reads an array of user ids: required, or optional. Over most
// items, it stops at once: the answer is 413, whatever else is wrong.
func (f *fields) userIDs(name string, raw json.RawMessage, required bool, most int) []zoom.UserID {
	if !jsonbody.Present(raw) {
		if required {
			f.Add(name, "is required: an array of Zoom user ids or emails")
		}
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.Add(name, "must be an array of strings")
		return nil
	}
	if required && len(items) == 0 {
		f.Add(name, "must list at least one user")
	}
	if most > 0 && len(items) > most {
		f.Stop(&apperr.Error{Kind: apperr.ErrTooLarge, Op: "decode",
			Message: fmt.Sprintf("%s lists %d users; at most %d (BATCH_MAX) may be asked for at once.", name, len(items), most)})
		return nil
	}
	out := make([]zoom.UserID, 0, len(items))
	for i, it := range items {
		s, ok := f.String(fmt.Sprintf("%s[%d]", name, i), it, "must be a string")
		if !ok {
			continue
		}
		u, reason := zoom.ParseUserID(s)
		if reason != "" {
			f.Add(fmt.Sprintf("%s[%d]", name, i), reason)
			continue
		}
		out = append(out, u)
	}
	return out
}

// ttl reads an optional lifetime in whole seconds.
func (f *fields) ttl(name string, raw json.RawMessage) int {
	if !jsonbody.Present(raw) {
		return 0
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		f.Add(name, "must be a whole number of seconds")
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > zoom.MaxTTLSeconds {
		f.Add(name, fmt.Sprintf("must be a whole number of seconds from 1 to %d", zoom.MaxTTLSeconds))
		return 0
	}
	return int(v)
}
