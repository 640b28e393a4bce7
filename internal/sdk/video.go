package sdk

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

const opVideo = "video sdk signature"

// Length limits of the Video SDK JWT's strings: each value must be shorter.
const (
	MaxSessionNameLen  = 200 // tpc: under 200 characters
	MaxSessionKeyLen   = 36  // session_key: under 36
	MaxUserIdentityLen = 36  // user_identity: under 36
)

// isGeoRegion reports whether g is a data-center region geo_regions may name.
func isGeoRegion(g string) bool {
	switch g {
	case "AU", "BR", "CA", "CN", "DE", "HK", "IN", "JP", "MX", "NL", "SG", "US":
		return true
	}
	return false
}

const geoRegionsReason = "must be a comma list or an array of AU, BR, CA, CN, DE, HK, IN, JP, MX, NL, SG, US"

// VideoRequest is what a Video SDK JWT is signed for; the fields of Zoom's
// videosdk-auth-endpoint-sample. Pointers and empty strings are left out of
// the token.
type VideoRequest struct {
	SessionName            string   // tpc; required, under 200 characters
	Role                   int      // role_type: 0 participant, 1 host
	SessionKey             string   // session_key; under 36 characters
	UserIdentity           string   // user_identity; under 36 characters
	GeoRegions             []string // geo_regions, joined with commas
	CloudRecordingOption   *int     // cloud_recording_option: 0|1
	CloudRecordingElection *int     // cloud_recording_election: 0|1
	TelemetryTrackingID    string   // telemetry_tracking_id
	ExpirationSeconds      int      // 0: DefaultExpirationSeconds; else 1800–172800
	VideoWebRTCMode        *int     // video_webrtc_mode: 0|1
	AudioWebRTCMode        *int     // audio_webrtc_mode: 0|1
}

// Validate checks r as SignVideo does, listing every bad field.
func (r VideoRequest) Validate() error {
	var f fields
	r.check(&f)
	return f.Err(opVideo)
}

func (r VideoRequest) check(f *fields) {
	checkSessionName(f, "sessionName", r.SessionName)
	checkZeroOrOne(f, "role", r.Role)
	checkShorter(f, "sessionKey", r.SessionKey, MaxSessionKeyLen)
	checkShorter(f, "userIdentity", r.UserIdentity, MaxUserIdentityLen)
	if r.GeoRegions != nil {
		checkGeoRegions(f, "geoRegions", r.GeoRegions)
	}
	checkOptionalZeroOrOne(f, "cloudRecordingOption", r.CloudRecordingOption)
	checkOptionalZeroOrOne(f, "cloudRecordingElection", r.CloudRecordingElection)
	checkExpiration(f, "expirationSeconds", r.ExpirationSeconds)
	checkOptionalZeroOrOne(f, "videoWebRtcMode", r.VideoWebRTCMode)
	checkOptionalZeroOrOne(f, "audioWebRtcMode", r.AudioWebRTCMode)
}

func checkSessionName(f *fields, name, s string) {
	if s == "" {
		f.Add(name, "is required")
		return
	}
	checkShorter(f, name, s, MaxSessionNameLen)
}

func checkShorter(f *fields, name, s string, limit int) bool {
	if length(s) >= limit {
		f.Add(name, "must be shorter than "+itoa(limit)+" characters")
		return false
	}
	return true
}

func checkGeoRegions(f *fields, name string, regions []string) bool {
	if len(regions) == 0 {
		f.Add(name, "is empty; "+geoRegionsReason)
		return false
	}
	for _, g := range regions {
		if !isGeoRegion(g) {
			f.Add(name, geoRegionsReason+" (got "+quoteShort(g)+")")
			return false
		}
	}
	return true
}

type videoBody struct {
	SessionName            json.RawMessage `json:"sessionName"`
	Role                   json.RawMessage `json:"role"`
	SessionKey             json.RawMessage `json:"sessionKey"`
	UserIdentity           json.RawMessage `json:"userIdentity"`
	GeoRegions             json.RawMessage `json:"geoRegions"`
	CloudRecordingOption   json.RawMessage `json:"cloudRecordingOption"`
	CloudRecordingElection json.RawMessage `json:"cloudRecordingElection"`
	TelemetryTrackingID    json.RawMessage `json:"telemetryTrackingId"`
	ExpirationSeconds      json.RawMessage `json:"expirationSeconds"`
	VideoWebRTCMode        json.RawMessage `json:"videoWebRtcMode"`
	AudioWebRTCMode        json.RawMessage `json:"audioWebRtcMode"`
}

// DecodeVideoRequest parses the body of Zoom's Video SDK sample endpoint:
// {sessionName, role, sessionKey?, userIdentity?, geoRegions?,
// cloudRecordingOption?, cloudRecordingElection?, telemetryTrackingId?,
// expirationSeconds?, videoWebRtcMode?, audioWebRtcMode?}. Numbers may come
// as strings holding an integer, as the sample coerces them; geoRegions is a
// comma list or an array of strings, in any letter case. Unknown fields are
// ignored. The error lists every bad field.
func DecodeVideoRequest(body []byte) (VideoRequest, error) {
	var b videoBody
	if err := jsonbody.Decode(opVideo, body, &b); err != nil {
		return VideoRequest{}, err
	}
	var f fields
	var r VideoRequest
	if !jsonbody.Present(b.SessionName) {
		f.Add("sessionName", "is required")
	} else if s, ok := f.str("sessionName", b.SessionName); ok {
		checkSessionName(&f, "sessionName", s)
		r.SessionName = s
	}
	if !jsonbody.Present(b.Role) {
		f.Add("role", "is required")
	} else if n, ok := f.integer("role", b.Role); ok && checkZeroOrOne(&f, "role", n) {
		r.Role = n
	}
	if s, ok := f.str("sessionKey", b.SessionKey); ok && checkShorter(&f, "sessionKey", s, MaxSessionKeyLen) {
		r.SessionKey = s
	}
	if s, ok := f.str("userIdentity", b.UserIdentity); ok && checkShorter(&f, "userIdentity", s, MaxUserIdentityLen) {
		r.UserIdentity = s
	}
	if jsonbody.Present(b.GeoRegions) {
		if g, ok := f.geoRegions("geoRegions", b.GeoRegions); ok {
			r.GeoRegions = g
		}
	}
	r.CloudRecordingOption = f.zeroOrOne("cloudRecordingOption", b.CloudRecordingOption)
	r.CloudRecordingElection = f.zeroOrOne("cloudRecordingElection", b.CloudRecordingElection)
	if s, ok := f.str("telemetryTrackingId", b.TelemetryTrackingID); ok {
		r.TelemetryTrackingID = s
	}
	r.ExpirationSeconds = f.expiration("expirationSeconds", b.ExpirationSeconds)
	r.VideoWebRTCMode = f.zeroOrOne("videoWebRtcMode", b.VideoWebRTCMode)
	r.AudioWebRTCMode = f.zeroOrOne("audioWebRtcMode", b.AudioWebRTCMode)
	if err := f.Err(opVideo); err != nil {
		return VideoRequest{}, err
	}
	return r, nil
}

// geoRegions reads "US,DE" or ["US","DE"]: items trimmed and upper-cased.
func (f *fields) geoRegions(name string, raw json.RawMessage) ([]string, bool) {
	raw = bytes.TrimSpace(raw)
	var items []string
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			f.Add(name, geoRegionsReason)
			return nil, false
		}
		if strings.TrimSpace(s) != "" {
			items = strings.Split(s, ",")
		}
	case '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			f.Add(name, geoRegionsReason)
			return nil, false
		}
	default:
		f.Add(name, geoRegionsReason)
		return nil, false
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = strings.ToUpper(strings.TrimSpace(it))
	}
	if !checkGeoRegions(f, name, out) {
		return nil, false
	}
	return out, true
}

// SignVideo signs a Video SDK JWT (HS256) with the Video SDK key and
// secret: {app_key, role_type, tpc, version: 1, iat, exp, user_identity?,
// session_key?, geo_regions?, cloud_recording_option?,
// cloud_recording_election?, telemetry_tracking_id?, video_webrtc_mode?,
// audio_webrtc_mode?}, iat now − 30 s, exp iat + the expiration. req is
// validated first.
//
// The user's identity goes out as user_identity, the name Zoom's sample and
// its payload table use; user_key is only known as the newer name in the
// Sessions API's answers, and a claim Zoom might not read is no help.
func SignVideo(key string, sec secret.Value, req VideoRequest, now time.Time) (string, error) {
	if err := req.Validate(); err != nil {
		return "", err
	}
	claims := videoClaims{AppKey: key, RoleType: req.Role, Topic: req.SessionName, Version: 1, issued: window(now, req.ExpirationSeconds),
		UserIdentity: req.UserIdentity, SessionKey: req.SessionKey, GeoRegions: strings.Join(req.GeoRegions, ","),
		CloudRecordingOption: req.CloudRecordingOption, CloudRecordingElection: req.CloudRecordingElection,
		TelemetryTrackingID: req.TelemetryTrackingID, VideoWebRTCMode: req.VideoWebRTCMode, AudioWebRTCMode: req.AudioWebRTCMode}
	return sign(opVideo, key, sec, claims)
}

// videoClaims is the Video SDK payload; empty optional claims are left out,
// as the sample leaves out what it was not given.
type videoClaims struct {
	AppKey   string `json:"app_key"`
	RoleType int    `json:"role_type"`
	Topic    string `json:"tpc"`
	Version  int    `json:"version"`
	issued
	UserIdentity           string `json:"user_identity,omitempty"`
	SessionKey             string `json:"session_key,omitempty"`
	GeoRegions             string `json:"geo_regions,omitempty"`
	CloudRecordingOption   *int   `json:"cloud_recording_option,omitempty"`
	CloudRecordingElection *int   `json:"cloud_recording_election,omitempty"`
	TelemetryTrackingID    string `json:"telemetry_tracking_id,omitempty"`
	VideoWebRTCMode        *int   `json:"video_webrtc_mode,omitempty"`
	AudioWebRTCMode        *int   `json:"audio_webrtc_mode,omitempty"`
}
