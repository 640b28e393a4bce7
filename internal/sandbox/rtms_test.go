package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

const rtmsWebhookSecret = "sandbox-rtms-webhook-secret"

// hookDelivery is one request the receiver got, with its signature checked.
type hookDelivery struct {
	stamp, signature string
	body             []byte
	verified         bool
	event            struct {
		Event   string         `json:"event"`
		Payload map[string]any `json:"payload"`
	}
}

// hookReceiver is the app's webhook endpoint: answer says how to answer
// the n-th delivery (from 1): a status, after a delay.
type hookReceiver struct {
	mu     sync.Mutex
	got    []hookDelivery
	answer func(n int) (int, time.Duration)
	srv    *httptest.Server
}

func startReceiver(t *testing.T, answer func(n int) (int, time.Duration)) *hookReceiver {
	t.Helper()
	h := &hookReceiver{answer: answer}
	v := webhooks.NewVerifier([]secret.Value{secret.New(rtmsWebhookSecret)})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := hookDelivery{stamp: r.Header.Get("x-zm-request-timestamp"), signature: r.Header.Get("x-zm-signature"), body: body}
		_, _, err := v.Verify(d.stamp, d.signature, body)
		d.verified = err == nil
		_ = json.Unmarshal(body, &d.event)
		h.mu.Lock()
		h.got = append(h.got, d)
		n := len(h.got)
		h.mu.Unlock()
		status, delay := 200, time.Duration(0)
		if h.answer != nil {
			status, delay = h.answer(n)
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait returns the deliveries once there are n of them.
func (h *hookReceiver) wait(t *testing.T, n int) []hookDelivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		got := append([]hookDelivery(nil), h.got...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rtmsSandbox is a started sandbox with a meeting that has begun, its
// controls served over HTTP, and webhooks sent to a receiver.
type rtmsSandbox struct {
	*Sandbox
	t        *testing.T
	controls *httptest.Server
	hooks    *hookReceiver
	meeting  Meeting
}

func startRTMS(t *testing.T, opts Options, answer func(n int) (int, time.Duration)) *rtmsSandbox {
	t.Helper()
	if opts.RTMSMessageEvery == 0 {
		opts.RTMSMessageEvery = 10 * time.Millisecond
	}
	sb := New(opts)
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	r := &rtmsSandbox{Sandbox: sb, t: t, controls: httptest.NewServer(sb.ControlHandler()), hooks: startReceiver(t, answer)}
	t.Cleanup(r.controls.Close)
	if _, err := sb.CreateMeeting("host@example.com", "987654321"); err != nil {
		t.Fatal(err)
	}
	m, err := sb.AddParticipant("987654321", "host@example.com")
	if err != nil {
		t.Fatal(err)
	}
	r.meeting = m
	sb.SetWebhook(r.hooks.srv.URL, rtmsWebhookSecret) // from now on: the meeting's start is not sent
	return r
}

// control calls a control route on the server's port.
func (r *rtmsSandbox) control(method, path, body string) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.controls.URL+path, bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (r *rtmsSandbox) start() RTMSStream {
	r.t.Helper()
	st, m := r.control("POST", "/sandbox/meetings/987654321/rtms", "")
	if st != 201 || m["state"] != "active" {
		r.t.Fatalf("start = %d %v", st, m)
	}
	str, err := r.RTMSStream(m["rtms_stream_id"].(string))
	if err != nil {
		r.t.Fatal(err)
	}
	return str
}

// dial opens the signaling websocket and sends a handshake with signature.
func (r *rtmsSandbox) dial(str RTMSStream, signature string) *websocket.Conn {
	r.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(str.ServerURLs, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteJSON(map[string]any{"msg_type": 1, "protocol_version": 1, "sequence": 7,
		"meeting_uuid": str.MeetingUUID, "rtms_stream_id": str.StreamID, "signature": signature}); err != nil {
		r.t.Fatal(err)
	}
	return ws
}

func (r *rtmsSandbox) signature(str RTMSStream) string {
	id, sec := r.RTMSApp()
	return RTMSSignature(id, sec, str.MeetingUUID, str.StreamID)
}

// read reads the next message, or the close code (msg nil).
func read(t *testing.T, ws *websocket.Conn) (map[string]any, int) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg map[string]any
	err := ws.ReadJSON(&msg)
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return nil, ce.Code
	case err != nil:
		t.Fatalf("read: %v", err)
	}
	return msg, 0
}

// readType skips messages until one of type want (failing on a close).
func readType(t *testing.T, ws *websocket.Conn, want float64) map[string]any {
	t.Helper()
	for {
		msg, code := read(t, ws)
		if msg == nil {
			t.Fatalf("closed with %d while waiting for msg_type %v", code, want)
		}
		if msg["msg_type"] == want {
			return msg
		}
	}
}

// meeting.rtms_started is sent with Zoom's shape, signed with the webhook
// secret; a delivery answered 500, then one answered too late, are retried
// with the very same body and timestamp; the stop sends rtms_stopped.
func TestRTMSWebhooksSignedAndRetried(t *testing.T) {
	r := startRTMS(t, Options{WebhookRetryDelays: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		WebhookTimeout: 300 * time.Millisecond}, func(n int) (int, time.Duration) {
		switch n {
		case 1:
			return 500, 0
		case 2:
			return 200, 2 * time.Second // later than WebhookTimeout
		}
		return 200, 0
	})
	str := r.start()
	got := r.hooks.wait(t, 3)
	first := got[0]
	p := first.event.Payload
	if !first.verified || first.event.Event != "meeting.rtms_started" {
		t.Fatalf("first delivery %s verified %v", first.body, first.verified)
	}
	if p["meeting_uuid"] != r.meeting.UUID || p["rtms_stream_id"] != str.StreamID || p["server_urls"] != r.RTMSSignalingURL() ||
		p["operator_id"] != r.meeting.HostID || p["account_id"] != r.meeting.AccountID || p["meeting_id"] != float64(r.meeting.ID) {
		t.Fatalf("payload %v, meeting %+v, stream %+v", p, r.meeting, str)
	}
	if !strings.HasPrefix(str.ServerURLs, "ws://127.0.0.1:") {
		t.Fatalf("server_urls %q", str.ServerURLs)
	}
	for i, d := range got[1:3] {
		if !d.verified || !bytes.Equal(d.body, first.body) || d.stamp != first.stamp {
			t.Fatalf("retry %d differs from the first delivery: %s at %s", i+1, d.body, d.stamp)
		}
	}
	var attempts, statuses []int
	for deadline := time.Now().Add(5 * time.Second); len(attempts) < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		attempts, statuses = attempts[:0], statuses[:0]
		for _, d := range r.WebhookDeliveries() {
			attempts, statuses = append(attempts, d.Attempt), append(statuses, d.Status)
		}
	}
	// 0: the second was not answered within WebhookTimeout.
	if fmt.Sprint(attempts, statuses) != "[1 2 3] [500 0 200]" {
		t.Fatalf("attempts %v, statuses %v", attempts, statuses)
	}

	if st, m := r.control("DELETE", "/sandbox/meetings/987654321/rtms?stop_reason=2", ""); st != 200 || m["state"] != "stopped" ||
		m["stop_reason"] != float64(2) {
		t.Fatalf("stop = %d %v", st, m)
	}
	stopped := r.hooks.wait(t, 4)[3]
	if !stopped.verified || stopped.event.Event != "meeting.rtms_stopped" || stopped.event.Payload["rtms_stream_id"] != str.StreamID ||
		stopped.event.Payload["stop_reason"] != float64(2) || stopped.event.Payload["meeting_uuid"] != r.meeting.UUID {
		t.Fatalf("stop delivery %s", stopped.body)
	}
}

// A right signature is accepted, transcript messages arrive, keep-alives
// go both ways; the stop tells the connection and closes it.
func TestRTMSSignalingAcceptsTheRightSignature(t *testing.T) {
	r := startRTMS(t, Options{RTMSTranscripts: 3, RTMSKeepAlive: 20 * time.Millisecond}, nil)
	str := r.start()
	ws := r.dial(str, r.signature(str))
	if msg := readType(t, ws, 2); msg["status_code"] != float64(0) || msg["sequence"] != float64(7) {
		t.Fatalf("handshake answer %v", msg)
	}
	for i := range 3 {
		msg := readType(t, ws, 17)
		c, _ := msg["content"].(map[string]any)
		if msg["rtms_stream_id"] != str.StreamID || c["data"] == "" || c["user_name"] == nil || c["timestamp"] == nil {
			t.Fatalf("transcript %d: %v", i, msg)
		}
	}
	readType(t, ws, 12)
	if err := ws.WriteJSON(map[string]any{"msg_type": 13, "timestamp": time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"msg_type": 12, "timestamp": time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	readType(t, ws, 13)
	if cur, _ := r.RTMSStream(str.StreamID); !cur.Connected || cur.Handshakes != 1 || cur.KeepAlives < 1 {
		t.Fatalf("stream %+v", cur)
	}
	if st, m := r.control("DELETE", "/sandbox/meetings/987654321/rtms", ""); st != 200 || m["stop_reason"] != float64(RTMSStopMeetingEnded) {
		t.Fatalf("stop = %d %v", st, m)
	}
	if msg := readType(t, ws, 8); msg["state"] != float64(4) || msg["reason"] != float64(RTMSStopMeetingEnded) {
		t.Fatalf("stream state %v", msg)
	}
	for {
		msg, code := read(t, ws)
		if msg == nil {
			if code != rtmsCloseStopped {
				t.Fatalf("closed with %d", code)
			}
			break
		}
	}
	events := r.hooks.wait(t, 2)
	if events[1].event.Event != "meeting.rtms_stopped" {
		t.Fatalf("second event %s", events[1].body)
	}
}

// A wrong signature, another stream's, or a stream that does not exist is
// refused with a non-zero status, then the connection is closed.
func TestRTMSSignalingRefusesAWrongSignature(t *testing.T) {
	r := startRTMS(t, Options{}, nil)
	str := r.start()
	id, _ := r.RTMSApp()
	for name, tc := range map[string]struct {
		str  RTMSStream
		sig  string
		want float64
	}{
		"other secret": {str, RTMSSignature(id, "not-the-secret", str.MeetingUUID, str.StreamID), RTMSStatusInvalidSignature},
		"other uuid":   {str, RTMSSignature(id, "x", "other", str.StreamID), RTMSStatusInvalidSignature},
		"empty":        {str, "", RTMSStatusInvalidSignature},
		"no stream":    {RTMSStream{StreamID: "nope", MeetingUUID: str.MeetingUUID, ServerURLs: str.ServerURLs}, r.signature(str), RTMSStatusStreamNotFound},
	} {
		ws := r.dial(tc.str, tc.sig)
		if msg, _ := read(t, ws); msg == nil || msg["msg_type"] != float64(2) || msg["status_code"] != tc.want {
			t.Fatalf("%s: answer %v", name, msg)
		}
		if msg, code := read(t, ws); msg != nil || code != rtmsCloseRefused {
			t.Fatalf("%s: after the refusal %v %d", name, msg, code)
		}
	}
	// The right signature of a wrong meeting_uuid is refused too.
	wrong := str
	wrong.MeetingUUID = "someone-else"
	ws := r.dial(wrong, r.signature(str))
	if msg, _ := read(t, ws); msg["status_code"] != float64(RTMSStatusInvalidSignature) {
		t.Fatalf("wrong uuid: %v", msg)
	}
	if cur, _ := r.RTMSStream(str.StreamID); cur.Refused != 4 || cur.Handshakes != 0 || cur.Connected {
		t.Fatalf("stream %+v", cur)
	}
}

// A second good connection for a stream kicks out the first, as Zoom does.
func TestRTMSSecondConnectionKicksTheFirst(t *testing.T) {
	r := startRTMS(t, Options{RTMSTranscripts: 1}, nil)
	str := r.start()
	first := r.dial(str, r.signature(str))
	readType(t, first, 17)
	second := r.dial(str, r.signature(str))
	readType(t, second, 2)
	for {
		msg, code := read(t, first)
		if msg == nil {
			if code != rtmsCloseKicked {
				t.Fatalf("first closed with %d", code)
			}
			break
		}
	}
	readType(t, second, 17)
	if cur, _ := r.RTMSStream(str.StreamID); !cur.Connected || cur.Handshakes != 2 || cur.Kicked != 1 {
		t.Fatalf("stream %+v", cur)
	}
}

// The controls: one stream per meeting at a time, a meeting with nobody in
// it has none, failover re-sends rtms_started or sends rtms_interrupted, and
// the meeting's end stops the stream.
func TestRTMSControls(t *testing.T) {
	r := startRTMS(t, Options{}, nil)
	str := r.start()
	if st, m := r.control("POST", "/sandbox/meetings/987654321/rtms", ""); st != 409 {
		t.Fatalf("second start = %d %v", st, m)
	}
	if st, m := r.control("POST", "/sandbox/meetings/987654321/rtms", `{"failover":"restarted"}`); st != 200 || m["rtms_stream_id"] != str.StreamID {
		t.Fatalf("failover = %d %v", st, m)
	}
	if st, _ := r.control("POST", "/sandbox/meetings/987654321/rtms", `{"failover":"interrupted"}`); st != 200 {
		t.Fatalf("interrupt = %d", st)
	}
	if st, _ := r.control("POST", "/sandbox/meetings/987654321/rtms", `{"failover":"bogus"}`); st != 400 {
		t.Fatalf("bogus failover = %d", st)
	}
	if st, _ := r.control("DELETE", "/sandbox/meetings/987654321/rtms?stop_reason=x", ""); st != 400 {
		t.Fatalf("bad stop_reason = %d", st)
	}
	if _, err := r.RemoveParticipant("987654321", "host@example.com"); err != nil {
		t.Fatal(err)
	}
	if st, m := r.control("GET", "/sandbox/meetings/987654321/rtms", ""); st != 200 || m["state"] != "stopped" {
		t.Fatalf("after the meeting ended = %d %v", st, m)
	}
	if st, _ := r.control("POST", "/sandbox/meetings/987654321/rtms", ""); st != 409 {
		t.Fatalf("start in an empty meeting = %d", st)
	}
	if st, _ := r.control("POST", "/sandbox/meetings/111111111/rtms", ""); st != 404 {
		t.Fatalf("start in no meeting = %d", st)
	}
	var names []string
	for _, d := range r.hooks.wait(t, 6) {
		if d.event.Event != "meeting.participant_joined" && d.event.Event != "meeting.participant_left" {
			names = append(names, d.event.Event)
		}
	}
	want := "meeting.rtms_started meeting.rtms_started meeting.rtms_interrupted meeting.ended meeting.rtms_stopped"
	if strings.Join(names, " ") != want {
		t.Fatalf("events %v", names)
	}
}

// A first message that is not a handshake is refused (status 3) and closed;
// so is silence past the handshake's time (not waited for here).
func TestRTMSSignalingRefusesWhatIsNotAHandshake(t *testing.T) {
	r := startRTMS(t, Options{}, nil)
	str := r.start()
	for name, send := range map[string]func(*websocket.Conn) error{
		"text":        func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, []byte("hello")) },
		"binary":      func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) },
		"keep-alive":  func(ws *websocket.Conn) error { return ws.WriteJSON(map[string]any{"msg_type": 12}) },
		"string type": func(ws *websocket.Conn) error { return ws.WriteJSON(map[string]any{"msg_type": "1"}) },
		"too big": func(ws *websocket.Conn) error {
			return ws.WriteJSON(map[string]any{"msg_type": 1, "signature": strings.Repeat("a", 100<<10)})
		},
	} {
		ws, _, err := websocket.DefaultDialer.Dial(str.ServerURLs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := send(ws); err != nil {
			t.Fatal(err)
		}
		msg, code := read(t, ws)
		if msg != nil {
			if msg["msg_type"] != float64(2) || msg["status_code"] != float64(RTMSStatusInvalidMessage) {
				t.Fatalf("%s: answer %v", name, msg)
			}
			msg, code = read(t, ws)
		}
		if msg != nil || (code != rtmsCloseRefused && code != websocket.CloseMessageTooBig) {
			t.Fatalf("%s: %v, closed with %d", name, msg, code)
		}
		_ = ws.Close()
	}
	if cur, _ := r.RTMSStream(str.StreamID); cur.Connected || cur.Handshakes != 0 {
		t.Fatalf("stream %+v", cur)
	}
}

// Connections racing for one stream: each good handshake kicks the one
// before, and exactly one stays connected.
func TestRTMSConcurrentConnectionsLeaveOne(t *testing.T) {
	r := startRTMS(t, Options{RTMSTranscripts: 1}, nil)
	str := r.start()
	const n = 6
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.Dial(str.ServerURLs, nil)
			if err != nil {
				t.Error(err)
				return
			}
			conns[i] = ws
			_ = ws.WriteJSON(map[string]any{"msg_type": 1, "meeting_uuid": str.MeetingUUID, "rtms_stream_id": str.StreamID,
				"signature": r.signature(str)})
		}()
	}
	wg.Wait()
	// Each connection is read until it is closed, or for a while: the one
	// left open is the stream's.
	open, kicked := 0, 0
	for _, ws := range conns {
		if ws == nil {
			t.FailNow()
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == rtmsCloseKicked {
				kicked++
				break
			}
			if err != nil {
				open++
				break
			}
		}
	}
	cur, _ := r.RTMSStream(str.StreamID)
	if !cur.Connected || cur.Handshakes != n || cur.Kicked != n-1 || open != 1 || kicked != n-1 {
		t.Fatalf("stream %+v; %d left open, %d kicked", cur, open, kicked)
	}
}
