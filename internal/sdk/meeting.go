package sdk

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

const opMeeting = "sdk signature"

// MeetingRequest is what a Meeting SDK signature is signed for.
//
// MeetingNumber empty (and Role 0) asks for a signature with neither mn nor
// role, as the native SDKs use; Zoom's sample allows meetingNumber and role
// both present (web) or both absent (native), never one alone.
type MeetingRequest struct {
	MeetingNumber     string // 9 to 11 digits
	Role              int    // 0 join, 1 host
	ExpirationSeconds int    // 0: DefaultExpirationSeconds; else 1800–172800
	VideoWebRTCMode   *int   // 0|1; nil leaves video_webrtc_mode out
}

// Validate checks r as SignMeeting does, listing every bad field.
func (r MeetingRequest) Validate() error {
	var f fields
	r.check(&f)
	return f.Err(opMeeting)
}

func (r MeetingRequest) check(f *fields) {
	if r.MeetingNumber == "" {
		if r.Role != 0 {
			f.Add("meetingNumber", "is required when role is given (web); send neither for a native SDK signature")
		}
	} else {
		checkMeetingNumber(f, "meetingNumber", r.MeetingNumber)
		checkZeroOrOne(f, "role", r.Role)
	}
	checkExpiration(f, "expirationSeconds", r.ExpirationSeconds)
	checkOptionalZeroOrOne(f, "videoWebRtcMode", r.VideoWebRTCMode)
}

func checkMeetingNumber(f *fields, name, s string) bool {
	if len(s) < 9 || len(s) > 11 {
		f.Add(name, "must be 9 to 11 digits")
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			f.Add(name, "must be 9 to 11 digits")
			return false
		}
	}
	return true
}

type meetingBody struct {
	MeetingNumber     json.RawMessage `json:"meetingNumber"`
	Role              json.RawMessage `json:"role"`
	ExpirationSeconds json.RawMessage `json:"expirationSeconds"`
	VideoWebRTCMode   json.RawMessage `json:"videoWebRtcMode"`
}

// DecodeMeetingRequest parses the body of Zoom's Meeting SDK sample
// endpoint, {meetingNumber, role, expirationSeconds?, videoWebRtcMode?}.
// meetingNumber is a JSON string or number; the other fields are numbers or
// strings holding an integer, as the sample coerces them. Unknown fields are
// ignored, as the sample does. The error lists every bad field.
func DecodeMeetingRequest(body []byte) (MeetingRequest, error) {
	var b meetingBody
	if err := jsonbody.Decode(opMeeting, body, &b); err != nil {
		return MeetingRequest{}, err
	}
	var f fields
	var r MeetingRequest
	hasMN, hasRole := jsonbody.Present(b.MeetingNumber), jsonbody.Present(b.Role)
	switch {
	case hasMN && !hasRole:
		f.Add("role", "is required when meetingNumber is given (web); send neither for a native SDK signature")
	case hasRole && !hasMN:
		f.Add("meetingNumber", "is required when role is given (web); send neither for a native SDK signature")
	}
	if hasMN {
		r.MeetingNumber = f.meetingNumber("meetingNumber", b.MeetingNumber)
	}
	if hasRole {
		if n, ok := f.integer("role", b.Role); ok && checkZeroOrOne(&f, "role", n) {
			r.Role = n
		}
	}
	r.ExpirationSeconds = f.expiration("expirationSeconds", b.ExpirationSeconds)
	r.VideoWebRTCMode = f.zeroOrOne("videoWebRtcMode", b.VideoWebRTCMode)
	if err := f.Err(opMeeting); err != nil {
		return MeetingRequest{}, err
	}
	return r, nil
}

// meetingNumber reads a meeting number sent as a JSON string or number.
func (f *fields) meetingNumber(name string, raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			f.Add(name, "must be a string or a number")
			return ""
		}
	} else if raw[0] >= '0' && raw[0] <= '9' || raw[0] == '-' {
		s = string(raw) // a JSON number: 1.5e9 or -1 fail the digit check
	} else {
		f.Add(name, "must be a string or a number")
		return ""
	}
	if !checkMeetingNumber(f, name, s) {
		return ""
	}
	return s
}

// SignMeeting signs a Meeting SDK JWT (HS256) with the SDK key and secret:
// {appKey, sdkKey, mn, role, iat, exp, tokenExp, video_webrtc_mode?}, where
// appKey = sdkKey = key, iat is now − 30 s, exp = tokenExp = iat +
// the expiration. mn and role are left out for a native signature (no
// meeting number). req is validated first.
func SignMeeting(key string, sec secret.Value, req MeetingRequest, now time.Time) (signature string, err error) {
	if err := req.Validate(); err != nil {
		return "", err
	}
	w := window(now, req.ExpirationSeconds)
	claims := meetingClaims{AppKey: key, SDKKey: key, issued: w, TokenExp: w.ExpiresAt, VideoWebRTCMode: req.VideoWebRTCMode}
	if req.MeetingNumber != "" {
		claims.MN, claims.Role = req.MeetingNumber, &req.Role
	}
	return sign(opMeeting, key, sec, claims)
}

// meetingClaims is the Meeting SDK payload. mn is a string: the web SDK
// sends the meeting number as one, and Zoom's sample passes it on as given.
type meetingClaims struct {
	AppKey string `json:"appKey"`
	SDKKey string `json:"sdkKey"`
	MN     string `json:"mn,omitempty"`
	Role   *int   `json:"role,omitempty"`
	issued
	TokenExp        int64 `json:"tokenExp"`
	VideoWebRTCMode *int  `json:"video_webrtc_mode,omitempty"`
}
