package realtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
	"github.com/zoomtoken/tokenserver/services"
)

const meeting = "85746065432"

// quiet is how long a test waits for an event that must not come.
const quiet = 300 * time.Millisecond

// answer sends event with an ack when withAck, and returns the ack's body;
// without, it returns the body of the event named want.
func answer(t *testing.T, c *rawclient.Client, withAck bool, event string, payload any, want string) map[string]any {
	t.Helper()
	if withAck {
		return ack(t, c, event, payload)
	}
	c.Emit(event, payload)
	e, ok := c.WaitEvent(want, 5*time.Second)
	if !ok {
		t.Fatalf("%s without ack: no %s event (got %v)", event, want, c.Events())
	}
	return decode(e.Args)
}

// An operation's May refuses a caller whose role may never do it before the
// body is read: a participant's start, however wrong its body, is told
// forbidden, not what is wrong with the body, and the domain never sees it.
func TestDispatchMayRefusesBeforeDecode(t *testing.T) {
	m := &fakeMeetings{}
	h := start(t, realtime.Config{Domain: m})
	pat := h.authed("pat@example.com", "participant")
	for _, withAck := range []bool{true, false} {
		for _, body := range []any{"not an object", map[string]any{"meetingId": "12", "hostUserId": 7}} {
			r := answer(t, pat, withAck, "meeting:start", body, "error")
			if r["code"] != apperr.CodeForbidden || r["details"] != nil {
				t.Errorf("ack %v, body %v: participant's start = %v, want forbidden without details", withAck, body, r)
			}
			if !withAck && r["event"] != "meeting:start" {
				t.Errorf("error event names %v, want meeting:start", r["event"])
			}
		}
	}
	if n := m.called(); n != 0 {
		t.Fatalf("the domain was called %d times for refused callers", n)
	}
	// A caller the role check lets through gets the body's problems.
	host := h.authed("host@example.com", "host")
	if r := ack(t, host, "meeting:start", map[string]any{"meetingId": "12", "hostUserId": 7}); r["code"] != apperr.CodeInvalidRequest || r["details"] == nil {
		t.Fatalf("host's bad start = %v, want invalid_request with details", r)
	}
}

// Without an ack, an operation with a Reply answers with that event; with an
// ack, the ack answers and the Reply event is not sent.
func TestDispatchAckOrReply(t *testing.T) {
	m := &fakeMeetings{}
	h := start(t, realtime.Config{Domain: m})
	host := h.authed("host@example.com", "host")
	dist := map[string]any{"meetingId": meeting, "hostUserId": "host@example.com", "participantUserIds": []string{"pat@example.com"}}
	cases := []struct {
		event   string
		payload any
		reply   string
		check   func(map[string]any) bool
	}{
		{"ping", nil, "pong", func(r map[string]any) bool { return r["pong"] == true && r["success"] == true }},
		{"meeting:distribute", dist, "meeting:distributed", func(r map[string]any) bool {
			return r["success"] == true && r["hostUserId"] == "host@example.com" && r["delivered"] != nil && r["offline"] != nil
		}},
	}
	for _, tc := range cases {
		if r := answer(t, host, false, tc.event, tc.payload, tc.reply); !tc.check(r) {
			t.Errorf("%s without ack: %s = %v", tc.event, tc.reply, r)
		}
		if r := answer(t, host, true, tc.event, tc.payload, ""); !tc.check(r) {
			t.Errorf("%s with ack = %v", tc.event, r)
		}
		if e, ok := host.WaitEvent(tc.reply, quiet); ok {
			t.Errorf("%s with ack also sent %s %v", tc.event, tc.reply, decode(e.Args))
		}
	}
}

// start and join have no Reply: with an ack the ack carries the token;
// without, nothing is sent back (the token's push to the caller's room
// answers, and here the fake domain pushes nothing).
func TestDispatchNoReplyWithoutAck(t *testing.T) {
	m := &fakeMeetings{start: func(_ services.Identity, in services.StartInput) (services.Minted, error) {
		return services.Minted{Token: zoom.Token{Type: zoom.TokenZAK, UserID: in.HostUserID, MeetingID: in.MeetingID,
			Value: secret.New("zak-1")}}, nil
	}}
	h := start(t, realtime.Config{Domain: m})
	host := h.authed("host@example.com", "host")
	body := map[string]any{"meetingId": meeting, "hostUserId": "host@example.com"}
	if r := ack(t, host, "meeting:start", body); r["zakToken"] != "zak-1" || r["hostUserId"] != "host@example.com" {
		t.Fatalf("start with ack = %v", r)
	}
	host.Emit("meeting:start", body)
	deadline := time.Now().Add(5 * time.Second)
	for m.called() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(quiet)
	if evs := host.Events(); len(evs) != 0 {
		t.Fatalf("start without ack sent %v", evs)
	}
}

// An unknown event is answered invalid_request, naming the events there are,
// through the ack or the error event; the domain is not called.
func TestDispatchUnknownEvent(t *testing.T) {
	m := &fakeMeetings{}
	h := start(t, realtime.Config{Domain: m})
	for _, c := range []*rawclient.Client{h.anonymous(), h.authed("host@example.com", "host")} {
		for _, withAck := range []bool{true, false} {
			r := answer(t, c, withAck, "meeting:explode", map[string]any{}, "error")
			msg := str(r["error"]) // the ack's error body; the error event has it as message too
			if r["code"] != apperr.CodeInvalidRequest ||
				!strings.Contains(msg, "authenticate, meeting:start, meeting:join, meeting:distribute and ping") {
				t.Errorf("ack %v: unknown event = %v", withAck, r)
			}
			if !withAck && r["event"] != "meeting:explode" {
				t.Errorf("error event names %v, want meeting:explode", r["event"])
			}
		}
	}
	if n := m.called(); n != 0 {
		t.Fatalf("the domain was called %d times", n)
	}
}

// An operation asked for before authentication is refused, and the domain
// is not called; the same event works once authenticated.
func TestDispatchNeedsAuthentication(t *testing.T) {
	m := &fakeMeetings{join: func(_ services.Identity, in services.JoinInput) (services.Minted, error) {
		return services.Minted{Token: zoom.Token{Type: zoom.TokenOnBehalf, UserID: in.ParticipantUserID,
			MeetingID: in.MeetingID, Value: secret.New("obf-1")}}, nil
	}}
	h := start(t, realtime.Config{Domain: m})
	c := h.anonymous()
	body := map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}
	if r := ack(t, c, "meeting:join", body); r["code"] != apperr.CodeUnauthorized {
		t.Fatalf("join before authenticate = %v", r)
	}
	if m.called() != 0 {
		t.Fatal("the domain was called before authentication")
	}
	if r := ack(t, c, "authenticate", map[string]any{"token": cred("pat@example.com", "participant")}); r["success"] != true {
		t.Fatalf("authenticate = %v", r)
	}
	if r := ack(t, c, "meeting:join", body); r["obfToken"] != "obf-1" {
		t.Fatalf("join after authenticate = %v", r)
	}
}
