package webhooks

import "testing"

func TestParseRTMS(t *testing.T) {
	cases := []struct {
		name, body, problem string
		want                RTMS
	}{
		{"under payload", `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"a/b+c==","rtms_stream_id":"s1","server_urls":"wss://x/y","meeting_id":812345678}}`, "",
			RTMS{Kind: EventRTMSStarted, Product: "meeting", StreamID: "s1", MeetingUUID: "a/b+c==", ServerURLs: "wss://x/y", MeetingID: "812345678"}},
		{"under payload.object", `{"event":"webinar.rtms_interrupted","payload":{"account_id":"x","object":{"meeting_uuid":"u","rtms_stream_id":"s2","server_urls":"wss://x","webinar_id":"912345678"}}}`, "",
			RTMS{Kind: EventRTMSInterrupted, Product: "webinar", StreamID: "s2", MeetingUUID: "u", ServerURLs: "wss://x", MeetingID: "912345678"}},
		{"session", `{"event":"session.rtms_stopped","payload":{"session_id":"sess","rtms_stream_id":"s3","stop_reason":6}}`, "",
			RTMS{Kind: EventRTMSStopped, Product: "session", StreamID: "s3", SessionID: "sess", StopReason: "6"}},
		{"no stream", `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","server_urls":"wss://x"}}`, "payload.rtms_stream_id is missing", RTMS{}},
		{"odd stream", `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"a b","server_urls":"wss://x"}}`, "payload.rtms_stream_id has characters a stream id does not have", RTMS{}},
		{"no urls", `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s"}}`, "payload.server_urls is missing or is not a ws:// or wss:// URL", RTMS{}},
		{"session without id", `{"event":"session.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s","server_urls":"wss://x"}}`, "payload.session_id is missing", RTMS{}},
	}
	for _, c := range cases {
		ev, err := Parse([]byte(c.body))
		if err != nil || ev.RTMS == nil {
			t.Fatalf("%s: %v %v", c.name, err, ev.RTMS)
		}
		if ev.RTMS.Problem != c.problem {
			t.Errorf("%s: problem %q, want %q", c.name, ev.RTMS.Problem, c.problem)
		}
		if c.problem == "" && *ev.RTMS != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, *ev.RTMS, c.want)
		}
	}
	for _, name := range []string{"phone.rtms_started", "meeting.rtms_paused", "rtms_started", "contact_center.voice_rtms_started"} {
		if IsRTMS(name) || Known(name) {
			t.Errorf("%s is read as RTMS", name)
		}
	}
}
