package services

import (
	"context"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// SDKBundle is the Meeting SDK signature that goes with a ZAK or an OBF:
// signed for the same meeting, role 1 beside a host's ZAK, 0 beside an OBF.
type SDKBundle struct {
	Signature     string `json:"signature"`
	SDKKey        string `json:"sdkKey"`
	MeetingNumber string `json:"meetingNumber"`
	Role          int    `json:"role"`
}

// Signer signs Meeting SDK and Video SDK JWTs with the apps' keys. A zero
// key leaves that kind of signature off.
type Signer struct {
	MeetingKey    string
	MeetingSecret secret.Value
	VideoKey      string
	VideoSecret   secret.Value
	Now           func() time.Time
}

func (s *Signer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// meetingOn reports whether Meeting SDK signatures can be made.
func (s *Signer) meetingOn() bool {
	return s != nil && s.MeetingKey != "" && !s.MeetingSecret.Empty()
}

// bundle signs the SDK JWT for a minted token's meeting; nil when no SDK
// key is configured. A ZAK is for a host (role 1), an OBF for a participant.
func (s *Signer) bundle(tok zoom.Token) (*SDKBundle, error) {
	if !s.meetingOn() || tok.MeetingID.IsZero() {
		return nil, nil
	}
	role := 0
	if tok.Type == zoom.TokenZAK {
		role = 1
	}
	sig, err := sdk.SignMeeting(s.MeetingKey, s.MeetingSecret, sdk.MeetingRequest{MeetingNumber: tok.MeetingID.String(), Role: role}, s.now())
	if err != nil {
		return nil, err
	}
	return &SDKBundle{Signature: sig, SDKKey: s.MeetingKey, MeetingNumber: tok.MeetingID.String(), Role: role}, nil
}

// Signature is POST /api/sdk/signature: a Meeting SDK JWT. A participant may
// sign role 0 only; a host or an admin 0 or 1.
func (m *Meetings) Signature(_ context.Context, caller Identity, req sdk.MeetingRequest) (string, string, error) {
	const op = "sdk signature"
	if !m.signer.meetingOn() {
		return "", "", &apperr.Error{Kind: apperr.ErrNotFound, Op: op,
			Message: "Meeting SDK signing is not configured on this server.", Hint: "Set ZOOM_SDK_KEY and ZOOM_SDK_SECRET (or a General app)."}
	}
	if req.Role == 1 && caller.Role == RoleParticipant {
		return "", "", forbidden(op, "A participant may sign role 0 (join) only; role 1 (host) needs a host or an admin.")
	}
	sig, err := sdk.SignMeeting(m.signer.MeetingKey, m.signer.MeetingSecret, req, m.signer.now())
	return sig, m.signer.MeetingKey, err
}

// VideoSignature is POST /api/videosdk/signature: a Video SDK JWT, for any caller.
func (m *Meetings) VideoSignature(_ context.Context, _ Identity, req sdk.VideoRequest) (string, error) {
	if m.signer == nil || m.signer.VideoKey == "" || m.signer.VideoSecret.Empty() {
		return "", &apperr.Error{Kind: apperr.ErrNotFound, Op: "video sdk signature",
			Message: "Video SDK signing is not configured on this server.", Hint: "Set ZOOM_VIDEOSDK_KEY and ZOOM_VIDEOSDK_SECRET."}
	}
	return sdk.SignVideo(m.signer.VideoKey, m.signer.VideoSecret, req, m.signer.now())
}
