package sdk_test

import (
	"slices"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// The target: signing adds under 50 µs to an answer at p50. Besides the
// mean (ns/op), each benchmark reports the median of its calls (p50-ns),
// from the last 4096 of them.

// timed runs f in a b.Loop, timing each call, and reports the median.
func timed(b *testing.B, f func() error) {
	var ring [4096]time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		ring[n%len(ring)] = time.Since(start)
		n++
	}
	got := ring[:min(n, len(ring))]
	slices.Sort(got)
	b.ReportMetric(float64(got[len(got)/2].Nanoseconds()), "p50-ns")
}

func BenchmarkSignMeeting(b *testing.B) {
	sec := secret.New(testSecret)
	req := sdk.MeetingRequest{MeetingNumber: "12345678901", Role: 1, VideoWebRTCMode: intp(1)}
	now := time.Now()
	timed(b, func() error {
		_, err := sdk.SignMeeting(testKey, sec, req, now)
		return err
	})
}

func BenchmarkSignVideo(b *testing.B) {
	sec := secret.New(testSecret)
	req := sdk.VideoRequest{SessionName: "my session", Role: 1, SessionKey: "key-1", UserIdentity: "user-1",
		GeoRegions: []string{"US", "DE"}, CloudRecordingOption: intp(1), CloudRecordingElection: intp(0),
		TelemetryTrackingID: "tt", VideoWebRTCMode: intp(1), AudioWebRTCMode: intp(0)}
	now := time.Now()
	timed(b, func() error {
		_, err := sdk.SignVideo(testKey, sec, req, now)
		return err
	})
}

// Decoding a body and signing it: what a request adds before the answer is written.
func BenchmarkDecodeAndSignMeeting(b *testing.B) {
	sec := secret.New(testSecret)
	body := []byte(`{"meetingNumber":"12345678901","role":1,"expirationSeconds":3600,"videoWebRtcMode":1}`)
	now := time.Now()
	timed(b, func() error {
		req, err := sdk.DecodeMeetingRequest(body)
		if err != nil {
			return err
		}
		_, err = sdk.SignMeeting(testKey, sec, req, now)
		return err
	})
}
