package sdk_test

import (
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/sdk"
	"github.com/zoomtoken/tokenserver/secret"
)

// The target: signing adds under 50 µs to an answer at p50.

func BenchmarkSignMeeting(b *testing.B) {
	sec := secret.New(testSecret)
	req := sdk.MeetingRequest{MeetingNumber: "12345678901", Role: 1, VideoWebRTCMode: intp(1)}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sdk.SignMeeting(testKey, sec, req, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignVideo(b *testing.B) {
	sec := secret.New(testSecret)
	req := sdk.VideoRequest{SessionName: "my session", Role: 1, SessionKey: "key-1", UserIdentity: "user-1",
		GeoRegions: []string{"US", "DE"}, CloudRecordingOption: intp(1), CloudRecordingElection: intp(0),
		TelemetryTrackingID: "tt", VideoWebRTCMode: intp(1), AudioWebRTCMode: intp(0)}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sdk.SignVideo(testKey, sec, req, now); err != nil {
			b.Fatal(err)
		}
	}
}

// Decoding a body and signing it: what a request adds before the answer is written.
func BenchmarkDecodeAndSignMeeting(b *testing.B) {
	sec := secret.New(testSecret)
	body := []byte(`{"meetingNumber":"12345678901","role":1,"expirationSeconds":3600,"videoWebRtcMode":1}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		req, err := sdk.DecodeMeetingRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sdk.SignMeeting(testKey, sec, req, now); err != nil {
			b.Fatal(err)
		}
	}
}
