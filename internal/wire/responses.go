package wire

import (
	"fmt"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// The shapes below are the bodies of the REST responses, the Socket.IO acks
// (which carry the same objects) and the pushed events. Field names follow
// the original Node service; fields were added, none renamed.

// TokenFields describe a token's lifetime.
type TokenFields struct {
	ExpiresIn        string    `json:"expiresIn"`
	ExpiresInSeconds int64     `json:"expiresInSeconds"`
	ExpiresAt        time.Time `json:"expiresAt"`
}

func tokenFields(t zoom.Token) TokenFields {
	return TokenFields{
		ExpiresIn:        HumanDuration(t.ExpiresIn),
		ExpiresInSeconds: int64(t.ExpiresIn / time.Second),
		ExpiresAt:        t.ExpiresAt.UTC().Truncate(time.Second),
	}
}

// StartResponse answers POST /api/meetings/start and meeting:start.
type StartResponse struct {
	Success    bool                `json:"success"`
	MeetingID  zoom.MeetingID      `json:"meetingId"`
	HostUserID zoom.UserID         `json:"hostUserId"`
	ZAKToken   string              `json:"zakToken"`
	Via        string              `json:"via"`           // "connection": minted with the user's own grant; "account": with the account's S2S app
	SDK        *services.SDKBundle `json:"sdk,omitempty"` // the Meeting SDK signature for the same meeting
	TokenFields
	Delivered bool   `json:"delivered"`
	Message   string `json:"message"`
}

// NewStartResponse builds the answer to a start.
func NewStartResponse(m services.Minted) StartResponse {
	return StartResponse{Success: true, MeetingID: m.MeetingID, HostUserID: m.UserID, ZAKToken: m.Value.Reveal(),
		Via: m.Via, SDK: m.SDK, TokenFields: tokenFields(m.Token), Delivered: m.Delivered,
		Message: "ZAK token minted: use it as the SDK's zak to start or join the meeting as the host."}
}

// JoinResponse answers POST /api/meetings/join and meeting:join.
type JoinResponse struct {
	Success           bool                `json:"success"`
	MeetingID         zoom.MeetingID      `json:"meetingId"`
	ParticipantUserID zoom.UserID         `json:"participantUserId"`
	OBFToken          string              `json:"obfToken"`
	Via               string              `json:"via"`
	SDK               *services.SDKBundle `json:"sdk,omitempty"` // the Meeting SDK signature for the same meeting
	TokenFields
	Delivered bool   `json:"delivered"`
	Message   string `json:"message"`
}

// NewJoinResponse builds the answer to a join.
func NewJoinResponse(m services.Minted) JoinResponse {
	return JoinResponse{Success: true, MeetingID: m.MeetingID, ParticipantUserID: m.UserID, OBFToken: m.Value.Reveal(),
		Via: m.Via, SDK: m.SDK, TokenFields: tokenFields(m.Token), Delivered: m.Delivered,
		Message: "OBF token minted: single use, valid only while its user is in the meeting."}
}

// ParticipantToken is one participant's OBF in a batch or setup.
type ParticipantToken struct {
	UserID   zoom.UserID         `json:"userId"`
	OBFToken string              `json:"obfToken"`
	Via      string              `json:"via"`
	SDK      *services.SDKBundle `json:"sdk,omitempty"` // the Meeting SDK signature for the same meeting
	TokenFields
	Delivered bool `json:"delivered"`
}

// FailedUser is one participant whose OBF could not be minted.
type FailedUser struct {
	UserID zoom.UserID `json:"userId"`
	Error  string      `json:"error"`
	Code   string      `json:"code"`
}

// Summary counts a batch.
type Summary struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
	Delivered  int `json:"delivered"`
}

func participants(r services.BatchResult) ([]ParticipantToken, []FailedUser, Summary) {
	ok := make([]ParticipantToken, 0, len(r.Successful))
	sum := Summary{Total: r.Total, Successful: len(r.Successful), Failed: len(r.Failed)}
	for _, m := range r.Successful {
		ok = append(ok, ParticipantToken{UserID: m.UserID, OBFToken: m.Value.Reveal(), Via: m.Via, SDK: m.SDK, TokenFields: tokenFields(m.Token), Delivered: m.Delivered})
		if m.Delivered {
			sum.Delivered++
		}
	}
	failed := make([]FailedUser, 0, len(r.Failed))
	for _, f := range r.Failed {
		failed = append(failed, FailedUser{UserID: f.UserID, Error: apperr.PublicMessage(f.Err), Code: apperr.Code(f.Err)})
	}
	return ok, failed, sum
}

// BatchResponse answers POST /api/meetings/batch-join.
type BatchResponse struct {
	Success   bool           `json:"success"`
	MeetingID zoom.MeetingID `json:"meetingId"`
	Results   struct {
		Successful []ParticipantToken `json:"successful"`
		Failed     []FailedUser       `json:"failed"`
	} `json:"results"`
	Summary Summary `json:"summary"`
}

// NewBatchResponse builds the answer to a batch-join.
func NewBatchResponse(meeting zoom.MeetingID, r services.BatchResult) BatchResponse {
	b := BatchResponse{Success: true, MeetingID: meeting}
	b.Results.Successful, b.Results.Failed, b.Summary = participants(r)
	return b
}

// HostToken is the host's ZAK in a setup.
type HostToken struct {
	UserID   zoom.UserID         `json:"userId"`
	ZAKToken string              `json:"zakToken"`
	Via      string              `json:"via"`           // "connection": minted with the user's own grant; "account": with the account's S2S app
	SDK      *services.SDKBundle `json:"sdk,omitempty"` // the Meeting SDK signature for the same meeting
	TokenFields
	Delivered bool `json:"delivered"`
}

// SetupResponse answers POST /api/meetings/setup.
type SetupResponse struct {
	Success      bool               `json:"success"`
	MeetingID    zoom.MeetingID     `json:"meetingId"`
	Host         HostToken          `json:"host"`
	Participants []ParticipantToken `json:"participants"`
	Failed       []FailedUser       `json:"failed"`
	Summary      Summary            `json:"summary"`
	Timestamp    time.Time          `json:"timestamp"`
}

// NewSetupResponse builds the answer to a setup.
func NewSetupResponse(meeting zoom.MeetingID, r services.SetupResult, now time.Time) SetupResponse {
	s := SetupResponse{Success: true, MeetingID: meeting, Timestamp: now.UTC(),
		Host: HostToken{UserID: r.Host.UserID, ZAKToken: r.Host.Value.Reveal(), Via: r.Host.Via, SDK: r.Host.SDK, TokenFields: tokenFields(r.Host.Token), Delivered: r.Host.Delivered}}
	s.Participants, s.Failed, s.Summary = participants(r.BatchResult)
	return s
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Success bool                `json:"success"`
	Error   string              `json:"error"`
	Code    string              `json:"code"`
	Details []apperr.FieldError `json:"details,omitempty"`
	// AuthorizeURL, with not_connected when the caller is that user: the
	// link to connect its Zoom account.
	AuthorizeURL string `json:"authorizeUrl,omitempty"`
}

// NewErrorResponse builds the error body for err. Internal errors say nothing more.
func NewErrorResponse(err error) ErrorResponse {
	r := ErrorResponse{Error: apperr.PublicMessage(err), Code: apperr.Code(err)}
	if e, ok := apperr.As(err); ok {
		switch r.Code {
		case apperr.CodeInvalidRequest:
			r.Details = e.Details
		case apperr.CodeNotConnected, apperr.CodeConnectionLost:
			r.AuthorizeURL = e.AuthorizeURL
		}
	}
	return r
}

// HumanDuration writes d the way the original service did: "2 hours".
func HumanDuration(d time.Duration) string {
	s := int64(d / time.Second)
	unit := func(n int64, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	switch {
	case s >= 86400 && s%86400 == 0:
		return unit(s/86400, "day")
	case s >= 3600 && s%3600 == 0:
		return unit(s/3600, "hour")
	case s >= 60 && s%60 == 0:
		return unit(s/60, "minute")
	default:
		return unit(s, "second")
	}
}
