package realtime_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
	"github.com/zoomtoken/tokenserver/services"
)

// Every event counts against the caller's limit, ping and unknown events
// included; before authentication, by the client's address.
func TestEveryEventCounts(t *testing.T) {
	lim := &fakeLimiter{deny: map[string]bool{}}
	h := start(t, realtime.Config{Limiter: lim})
	c := h.connect(nil)
	for _, ev := range []string{"ping", "no-such-event", "meeting:join"} {
		ack(t, c, ev, map[string]any{})
	}
	if n := lim.count("addr:127.0.0.1"); n != 3 {
		t.Fatalf("unauthenticated events counted %d times by address, want 3 (keys: %v)", n, lim.keys)
	}
	if r := ack(t, c, "authenticate", map[string]any{"token": cred("pat@example.com", "participant")}); r["success"] != true {
		t.Fatalf("authenticate = %v", r)
	}
	ack(t, c, "ping", nil)
	ack(t, c, "whatever", nil)
	key := services.Identity{Subject: "pat@example.com", Method: "jwt"}.RateKey()
	if n := lim.count(key); n != 2 {
		t.Fatalf("authenticated ping and unknown event counted %d times for the caller, want 2 (keys: %v)", n, lim.keys)
	}
	lim.mu.Lock()
	lim.deny[key] = true
	lim.mu.Unlock()
	if r := ack(t, c, "ping", nil); r["code"] != apperr.CodeRateLimited {
		t.Fatalf("ping over the limit = %v", r)
	}
}

// Ten thousand wrong authenticate events on one socket used to be answered
// one by one, and the eleven-thousandth could be right. Now a connection is
// disconnected after MaxAuthFailures refused credentials.
func TestFailedAuthenticateLimitedPerConnection(t *testing.T) {
	h := start(t, realtime.Config{})
	c := h.connect(nil)
	for i := range realtime.MaxAuthFailures {
		args, err := c.EmitAck("authenticate", map[string]any{"token": "wrong"}, 5*time.Second)
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if r := decode(args); r["code"] != apperr.CodeUnauthorized {
			t.Fatalf("attempt %d = %v", i+1, r)
		}
	}
	expectKicked(t, c, apperr.CodeRateLimited)
}

// Failed credentials count by address too, through the AuthGuard, at the
// handshake as on the authenticate event; once it refuses, no credential is
// even tried, a good one included.
func TestAuthGuardByAddress(t *testing.T) {
	g := &fakeGuard{limit: 3, failed: map[string]int{}}
	h := start(t, realtime.Config{AuthGuard: g})
	// Two refused handshakes.
	for range 2 {
		c, ok, body, _, err := rawclient.Connect(h.URL, map[string]any{"token": "wrong"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if ok || body["message"] != "unauthorized" {
			t.Fatalf("bad handshake: ok=%v %v", ok, body)
		}
	}
	if n := g.failures("127.0.0.1"); n != 2 {
		t.Fatalf("failures recorded for 127.0.0.1 = %d, want 2", n)
	}
	// One refused authenticate event: the third failure.
	c := h.connect(nil)
	if r := ack(t, c, "authenticate", map[string]any{"token": "wrong"}); r["code"] != apperr.CodeUnauthorized {
		t.Fatalf("authenticate = %v", r)
	}
	// Now even a good credential is not tried.
	r := ack(t, c, "authenticate", map[string]any{"token": cred("pat@example.com", "participant")})
	if r["code"] != apperr.CodeRateLimited || !strings.Contains(str(r["error"]), "address") {
		t.Fatalf("authenticate from a throttled address = %v", r)
	}
	_, ok, body, _, err := rawclient.Connect(h.URL, map[string]any{"token": cred("pat@example.com", "participant")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok || body["message"] != "rate_limited" {
		t.Fatalf("handshake from a throttled address: ok=%v %v", ok, body)
	}
}

// A participant's distribute is refused before its body is read: no list of
// the body's problems comes back, however large the body.
func TestDistributeAuthorizesFirst(t *testing.T) {
	m := &fakeMeetings{}
	h := start(t, realtime.Config{Domain: m, MaxPayload: 4 << 20})
	c := h.authed("pat@example.com", "participant")
	ids := make([]int, 50000)
	args, err := c.EmitAck("meeting:distribute", map[string]any{"meetingId": "x", "hostUserId": 1, "participantUserIds": ids}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := decode(args)
	if r["code"] != apperr.CodeForbidden || r["details"] != nil || len(args[0]) > 1024 {
		t.Fatalf("participant's distribute = %d bytes, %v", len(args[0]), r["code"])
	}
	// A host's distribute goes to Meetings.Distribute with its hostUserId.
	host := h.authed("host@example.com", "host")
	r = ack(t, host, "meeting:distribute", map[string]any{"meetingId": "85746065432", "hostUserId": "host@example.com",
		"participantUserIds": []string{"pat@example.com"}})
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.distributed) != 1 || m.distributed[0].HostUserID.String() != "host@example.com" {
		t.Fatalf("distribute = %v; Meetings.Distribute saw %v", r, m.distributed)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Behind a trusted proxy the guard and the limiter go by the address
// X-Forwarded-For names (every line of it, the rightmost address that is
// not a trusted proxy); from a peer that is not trusted, the header is
// ignored.
func TestClientAddressBehindTrustedProxy(t *testing.T) {
	cases := []struct {
		name    string
		proxies []netip.Prefix
		xff     []string
		want    string
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"the proxy's own address skipped", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, []string{"198.51.100.1, 203.0.113.7, 127.0.0.2"}, "203.0.113.7"},
		{"a second line read after the first", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"a line that is not addresses", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, []string{"203.0.113.7, nonsense"}, "127.0.0.1"},
		{"no trusted proxy", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"another proxy trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, []string{"203.0.113.7"}, "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGuard{limit: 10, failed: map[string]int{}}
			h := start(t, realtime.Config{AuthGuard: g, TrustedProxies: tc.proxies})
			c, ok, body, _, err := rawclient.Connect(h.URL, map[string]any{"token": "wrong"}, http.Header{"X-Forwarded-For": tc.xff})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if ok {
				t.Fatalf("a wrong credential was let in: %v", body)
			}
			if n := g.failures(tc.want); n != 1 {
				t.Fatalf("failures for %s = %d, want 1 (all: %v)", tc.want, n, g.failed)
			}
		})
	}
}
