package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

const (
	rtmsClientID     = "rtms-client-id-0001"
	rtmsClientSecret = "rtms-client-secret-do-not-leak-42"
)

// rtmsServer is a zoom-mode server accepting signed webhooks, with an RTMS
// app and RTMS_REASSIGN_SECONDS=1.
func rtmsServer(t *testing.T) *testServer {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{})
	return hookServer(t, sb, map[string]string{"ZOOM_RTMS_CLIENT_ID": rtmsClientID,
		"ZOOM_RTMS_CLIENT_SECRET": rtmsClientSecret, "RTMS_REASSIGN_SECONDS": "1"})
}

// rtmsBody is an RTMS webhook; object puts the fields under payload.object.
func rtmsBody(event, streamID, uuid, urls string, at time.Time, object bool, extra string) string {
	fields := fmt.Sprintf(`"meeting_uuid":%q,"rtms_stream_id":%q,"server_urls":%q,"operator_id":"op"%s`, uuid, streamID, urls, extra)
	if object {
		fields = `"account_id":"acc","object":{` + fields + `}`
	}
	return fmt.Sprintf(`{"event":%q,"event_ts":%d,"payload":{%s}}`, event, at.UnixMilli(), fields)
}

func rtmsSign(meetingOrSession, streamID string) string {
	m := hmac.New(sha256.New, []byte(rtmsClientSecret))
	m.Write([]byte(rtmsClientID + "," + meetingOrSession + "," + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

func rtmsWorker(t *testing.T, ts *testServer, sub string, capacity int) *wsClient {
	t.Helper()
	c := authedSocket(t, ts, sub, "worker")
	if got := c.emitAck("rtms:ready", map[string]any{"capacity": capacity}); got["success"] != true {
		t.Fatalf("rtms:ready = %v", got)
	}
	return c
}

// takeAssign waits for rtms:assign on any of cs; it returns the worker, the
// body and the ack id.
func takeAssign(t *testing.T, within time.Duration, cs ...*wsClient) (*wsClient, map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, c := range cs {
			if e, ok := c.WaitEvent("rtms:assign", 0); ok {
				var body map[string]any
				_ = json.Unmarshal(e.Args[0], &body)
				return c, body, e.AckID
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, nil, -1
}

func TestRTMSExactlyOnceFailoverStopAndSignature(t *testing.T) {
	ts := rtmsServer(t)
	a, b := rtmsWorker(t, ts, "worker-a", 5), rtmsWorker(t, ts, "worker-b", 5)
	uuid, stream := "abc/DEF+ghi==", "0123456789abcdef0123456789abcdef"
	start := time.Now()
	body := rtmsBody("meeting.rtms_started", stream, uuid, "wss://rtms.zoom.example/signaling", start, false, `,"meeting_id":812345678`)
	if r := ts.hook(body, webhookSecret, start); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook = %d %v", r.Status, r.Body)
	}
	if r := ts.hook(body, webhookSecret, start); r.Status != 200 || r.Body["status"] != "duplicate" { // Zoom's retry
		t.Fatalf("retry = %d %v", r.Status, r.Body)
	}
	holder, got, ackID := takeAssign(t, 5*time.Second, a, b)
	if holder == nil {
		t.Fatal("no rtms:assign")
	}
	want := map[string]any{"streamId": stream, "product": "meeting", "meetingUuid": uuid, "meetingId": "812345678",
		"serverUrls": "wss://rtms.zoom.example/signaling", "clientId": rtmsClientID, "signature": rtmsSign(uuid, stream)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("rtms:assign %s = %v, want %v", k, got[k], v)
		}
	}
	holder.Ack(ackID, map[string]any{"ok": true})
	holder.Ack(ackID, map[string]any{"ok": true})
	waitFor(t, func() bool {
		r := ts.do("GET", "/api/rtms/streams", nil, adminKey)
		s, _ := field(r.Body, "streams").([]any)
		return len(s) == 1 && field(s[0].(map[string]any), "state") == "assigned"
	})
	// Failover: a new delivery for the held stream, then an interruption.
	later := start.Add(time.Second)
	ts.hook(rtmsBody("meeting.rtms_started", stream, uuid, "wss://rtms2.zoom.example/s", later, true, ""), webhookSecret, later)
	rc, ok := holder.waitEvent("rtms:reconnect", 5*time.Second)
	if !ok || rc["reason"] != "restarted" || rc["serverUrls"] != "wss://rtms2.zoom.example/s" || rc["signature"] != rtmsSign(uuid, stream) {
		t.Fatalf("rtms:reconnect = %v", rc)
	}
	ts.hook(rtmsBody("meeting.rtms_interrupted", stream, uuid, "wss://rtms3.zoom.example/s", later.Add(time.Second), false, ""), webhookSecret, later)
	if rc, ok := holder.waitEvent("rtms:reconnect", 5*time.Second); !ok || rc["reason"] != "interrupted" {
		t.Fatalf("rtms:reconnect after rtms_interrupted = %v", rc)
	}
	// The signature over REST: a worker and an admin; not a host.
	r := ts.do("POST", "/api/rtms/signature", map[string]any{"streamId": stream, "meetingUuid": uuid}, bearer(t, "worker-a", "worker"))
	if r.Status != 200 || r.Body["signature"] != rtmsSign(uuid, stream) || r.Body["clientId"] != rtmsClientID {
		t.Fatalf("signature = %d %v", r.Status, r.Body)
	}
	if r := ts.do("POST", "/api/rtms/signature", map[string]any{"streamId": "nope", "meetingUuid": uuid}, adminKey); r.Status != 404 || r.Body["code"] != "not_found" {
		t.Errorf("signature of an unknown stream = %d %v", r.Status, r.Body)
	}
	if r := ts.do("POST", "/api/rtms/signature", map[string]any{"streamId": stream, "meetingUuid": uuid}, bearer(t, "h@example.com", "host")); r.Status != 403 {
		t.Errorf("a host's signature = %d %v", r.Status, r.Body)
	}
	if r := ts.do("GET", "/api/rtms/streams", nil, bearer(t, "worker-a", "worker")); r.Status != 403 {
		t.Errorf("a worker listing streams = %d", r.Status)
	}
	if r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": "812345678", "hostUserId": "worker-a"}, bearer(t, "worker-a", "worker")); r.Status != 403 {
		t.Errorf("a worker starting a meeting = %d %v", r.Status, r.Body)
	}
	// Stop: the holder is told, with Zoom's stop_reason.
	ts.hook(rtmsBody("meeting.rtms_stopped", stream, uuid, "", later.Add(2*time.Second), false, `,"stop_reason":6`), webhookSecret, later)
	if st, ok := holder.waitEvent("rtms:stopped", 5*time.Second); !ok || st["reason"] != "6" || st["streamId"] != stream {
		t.Fatalf("rtms:stopped = %v", st)
	}
	if a.Count("rtms:assign")+b.Count("rtms:assign") != 0 {
		t.Error("a second assignment")
	}
	ts.assertNoSecretsLogged(rtmsClientSecret)
}

func TestRTMSLostWorkerAndNoAck(t *testing.T) {
	ts := rtmsServer(t)
	first := rtmsWorker(t, ts, "first", 1)
	now := time.Now()
	ts.hook(rtmsBody("webinar.rtms_started", "s1", "w/uuid==", "wss://x.example/s1", now, false, ""), webhookSecret, now)
	_, got, id := takeAssign(t, 5*time.Second, first)
	if got["product"] != "webinar" {
		t.Fatalf("rtms:assign = %v", got)
	}
	first.Ack(id)
	second := rtmsWorker(t, ts, "second", 1)
	waitFor(t, func() bool {
		s, _ := field(ts.do("GET", "/api/rtms/streams", nil, adminKey).Body, "streams").([]any)
		return len(s) == 1 && field(s[0].(map[string]any), "workerSub") == "first"
	})
	first.close()
	lost := time.Now()
	_, got, id = takeAssign(t, 5*time.Second, second)
	if got["streamId"] != "s1" || time.Since(lost) < 900*time.Millisecond {
		t.Fatalf("after the lost worker: %v after %v", got, time.Since(lost))
	}
	second.Ack(id)
	// A worker that never acks: after 5 s the stream goes to another.
	mute := rtmsWorker(t, ts, "mute", 1)
	ts.hook(`{"event":"session.rtms_started","event_ts":1,"payload":{"session_id":"sess-1","rtms_stream_id":"s2","server_urls":"wss://x.example/s2"}}`, webhookSecret, time.Now())
	if _, got, _ := takeAssign(t, 5*time.Second, mute); got["sessionId"] != "sess-1" || got["signature"] != rtmsSign("sess-1", "s2") {
		t.Fatalf("session assignment = %v", got)
	}
	spare := rtmsWorker(t, ts, "spare", 1)
	if _, got, id := takeAssign(t, 8*time.Second, spare); got["streamId"] != "s2" {
		t.Fatalf("no ack: the stream did not move on (%v)", got)
	} else {
		spare.Ack(id)
	}
	waitFor(t, func() bool {
		m := ts.do("GET", "/metrics", nil, nil).Raw
		return strings.Contains(m, `rtms_reassignments_total{reason="worker_lost"} 1`) &&
			strings.Contains(m, `rtms_reassignments_total{reason="ack_timeout"} 1`) &&
			strings.Contains(m, `rtms_streams{state="assigned"} 2`) && strings.Contains(m, "rtms_assignment_seconds_count 3")
	})
	if m := ts.do("GET", "/metrics", nil, nil).Raw; strings.Contains(m, rtmsClientSecret) {
		t.Error("the client secret is in the metrics")
	}
	ts.assertNoSecretsLogged(rtmsClientSecret)
}

func TestRTMSBadWebhooks(t *testing.T) {
	ts := rtmsServer(t)
	w := rtmsWorker(t, ts, "w", 10)
	now := time.Now()
	for name, body := range map[string]string{
		"no stream id":    `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","server_urls":"wss://x"}}`,
		"no uuid":         `{"event":"meeting.rtms_started","payload":{"rtms_stream_id":"s","server_urls":"wss://x"}}`,
		"no server urls":  `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s"}}`,
		"http url":        `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s","server_urls":"http://x"}}`,
		"odd stream id":   `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s<script> x","server_urls":"wss://x"}}`,
		"odd uuid":        `{"event":"meeting.rtms_started","payload":{"meeting_uuid":"u\u0000v","rtms_stream_id":"s","server_urls":"wss://x"}}`,
		"unknown product": `{"event":"phone.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s","server_urls":"wss://x"}}`,
		"session no id":   `{"event":"session.rtms_started","payload":{"meeting_uuid":"u","rtms_stream_id":"s","server_urls":"wss://x"}}`,
		"ids as objects":  `{"event":"meeting.rtms_started","payload":{"meeting_uuid":{},"rtms_stream_id":[1],"server_urls":"wss://x"}}`,
		"stop unknown":    `{"event":"meeting.rtms_stopped","payload":{"meeting_uuid":"u","rtms_stream_id":"never","stop_reason":1}}`,
	} {
		if r := ts.hook(body, webhookSecret, now); r.Status != 200 {
			t.Errorf("%s: %d %v", name, r.Status, r.Body)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := w.Count("rtms:assign"); n != 0 {
		t.Errorf("%d assignments from bad webhooks", n)
	}
	if s, _ := field(ts.do("GET", "/api/rtms/streams", nil, adminKey).Body, "streams").([]any); len(s) != 0 {
		t.Errorf("streams from bad webhooks: %v", s)
	}
	// The socket's bad input.
	if got := w.emitAck("rtms:ready", map[string]any{"capacity": 1e9}); got["code"] != "invalid_request" {
		t.Errorf("capacity 1e9: %v", got)
	}
	if got := w.emitAck("rtms:release", map[string]any{"streamId": "never"}); got["code"] != "invalid_request" {
		t.Errorf("release of a stream not held: %v", got)
	}
	p := authedSocket(t, ts, "p@example.com", "participant")
	if got := p.emitAck("rtms:ready", map[string]any{"capacity": 1}); got["code"] != "forbidden" {
		t.Errorf("a participant's rtms:ready: %v", got)
	}
	if r := ts.do("GET", "/api/health", nil, nil); r.Status != 200 {
		t.Errorf("health after bad input: %d", r.Status)
	}
}

func TestRTMSConfig(t *testing.T) {
	base := func(kv ...string) func(string) string {
		m := map[string]string{"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": "secret", "API_KEYS": "key-0123456789abcdef"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := loadConfig(base())
	if err != nil || c.RTMSClientID != "" || c.RTMSReassign != 10*time.Second {
		t.Fatalf("defaults: %v %q %v", err, c.RTMSClientID, c.RTMSReassign)
	}
	c, err = loadConfig(base("ZOOM_OAUTH_CLIENT_ID", "gid", "ZOOM_OAUTH_CLIENT_SECRET", "gsecret",
		"ZOOM_OAUTH_REDIRECT_URL", "https://x.example/api/connections/zoom/callback", "CONNECTIONS_KEY", "k1:"+strings.Repeat("A", 43)+"="))
	if err != nil || c.RTMSClientID != "gid" || c.RTMSClientSecret.Reveal() != "gsecret" {
		t.Fatalf("the General app's: %v %q", err, c.RTMSClientID)
	}
	c, err = loadConfig(base("ZOOM_RTMS_CLIENT_ID", "rid", "ZOOM_RTMS_CLIENT_SECRET", "rsecret", "RTMS_REASSIGN_SECONDS", "1"))
	if err != nil || c.RTMSClientID != "rid" || c.RTMSReassign != time.Second {
		t.Fatalf("set: %v %q %v", err, c.RTMSClientID, c.RTMSReassign)
	}
	for _, bad := range [][]string{{"RTMS_REASSIGN_SECONDS", "0"}, {"RTMS_REASSIGN_SECONDS", "x"}, {"ZOOM_RTMS_CLIENT_ID", "rid"}} {
		if _, err := loadConfig(base(bad...)); err == nil || !strings.Contains(err.Error(), bad[0][:len("ZOOM_RTMS_CLIENT_")]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
