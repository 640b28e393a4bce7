package wire

import (
	"context"
	"encoding/json"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// MeetingInfo is what the meeting-info operations need of the domain
// (*services.MeetingInfo): a meeting's access, and its host's
// local-recording join token.
type MeetingInfo interface {
	Access(ctx context.Context, caller services.Identity, id zoom.MeetingID) (services.Access, error)
	RecordingToken(ctx context.Context, caller services.Identity, in services.RecordingInput) (services.RecordingToken, error)
}

// errNoMeetingInfo answers when the server was built without MeetingInfo.
func errNoMeetingInfo(op string) error {
	return &apperr.Error{Kind: apperr.ErrNotFound, Op: op, Message: "Meeting information is not served by this server."}
}

type recordingRequest struct {
	MeetingID         json.RawMessage `json:"meetingId"`
	BypassWaitingRoom json.RawMessage `json:"bypassWaitingRoom"`
}

// DecodeRecording parses {meetingId, bypassWaitingRoom?}.
func DecodeRecording(body []byte) (services.RecordingInput, error) {
	var r recordingRequest
	if err := jsonbody.Decode("recording-token", body, &r); err != nil {
		return services.RecordingInput{}, err
	}
	f := newFields()
	in := services.RecordingInput{MeetingID: f.meetingID("meetingId", r.MeetingID)}
	if jsonbody.Present(r.BypassWaitingRoom) {
		in.BypassWaitingRoom, _ = f.Bool("bypassWaitingRoom", r.BypassWaitingRoom, "must be true or false")
	}
	return in, f.Err("recording-token")
}

// RecordingTokenResponse answers POST /api/meetings/recording-token.
type RecordingTokenResponse struct {
	Success           bool           `json:"success"`
	MeetingID         zoom.MeetingID `json:"meetingId"`
	Token             string         `json:"token"`
	ExpiresInSeconds  int64          `json:"expiresInSeconds"`
	ExpiresAt         time.Time      `json:"expiresAt"`
	BypassWaitingRoom bool           `json:"bypassWaitingRoom"`
	Via               string         `json:"via"`
	Message           string         `json:"message"`
}

// NewRecordingTokenResponse builds the answer to a recording-token request.
func NewRecordingTokenResponse(in services.RecordingInput, t services.RecordingToken) RecordingTokenResponse {
	return RecordingTokenResponse{Success: true, MeetingID: in.MeetingID, Token: t.Value.Reveal(),
		ExpiresInSeconds: int64(t.ExpiresIn / time.Second), ExpiresAt: t.ExpiresAt.UTC().Truncate(time.Second),
		BypassWaitingRoom: in.BypassWaitingRoom, Via: t.Via,
		Message: "Local-recording join token: give it to the Meeting SDK at join (it lets the bot record without asking the host); it is short-lived, use it at once."}
}

// AccessResponse answers GET /api/meetings/{meetingId}/access.
type AccessResponse struct {
	Success       bool           `json:"success"`
	MeetingID     zoom.MeetingID `json:"meetingId"`
	Internal      bool           `json:"internal"`
	OBFRequired   bool           `json:"obfRequired"`
	PresenceKnown bool           `json:"presenceKnown"`
	Reason        string         `json:"reason"`
}

// MeetingAccess runs the access operation on a meeting id given as text
// (a path segment): it is checked here, as a body's would be.
func MeetingAccess(ctx context.Context, info MeetingInfo, caller services.Identity, raw string) (AccessResponse, error) {
	if info == nil {
		return AccessResponse{}, errNoMeetingInfo("meeting access")
	}
	id, reason := zoom.MeetingIDFromString(raw)
	if reason != "" {
		return AccessResponse{}, apperr.InvalidInput("meeting access", apperr.FieldError{Field: "meetingId", Reason: reason})
	}
	a, err := info.Access(ctx, caller, id)
	if err != nil {
		return AccessResponse{}, err
	}
	return AccessResponse{Success: true, MeetingID: a.MeetingID, Internal: a.Internal, OBFRequired: a.OBFRequired,
		PresenceKnown: a.PresenceKnown, Reason: a.Reason}, nil
}
