package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// guardedEnv is a server in zoom mode that refuses an address after three
// failed credentials, behind the proxies named (empty: none).
func guardedEnv(t *testing.T, proxies string) (*sandbox.Sandbox, map[string]string) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["AUTH_FAILURES_PER_MINUTE"] = "3"
	env["TRUSTED_PROXIES"] = proxies
	return sb, env
}

// forwarded is a request's headers with X-Forwarded-For set to xff.
func forwarded(h map[string]string, xff string) map[string]string {
	out := map[string]string{"X-Forwarded-For": xff}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func xffHeader(xff string) http.Header {
	return http.Header{"X-Forwarded-For": []string{xff}}
}

// joinAs is a join with the admin key from the forwarded address xff ("":
// no header), answered with its status.
func joinAs(ts *testServer, xff string) reply {
	h := adminKey
	if xff != "" {
		h = forwarded(adminKey, xff)
	}
	return ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, h)
}

// socketFrom connects a socket with a good credential from the forwarded
// address xff, and says whether it was let in (and the refusal's body).
func socketFrom(t *testing.T, ts *testServer, xff string, token string) (bool, map[string]any) {
	t.Helper()
	_, ok, body := connectSocket(t, ts.URL, map[string]any{"token": token}, xffHeader(xff))
	return ok, body
}

// Behind a trusted load balancer, the failed-authentication guard goes by
// the address X-Forwarded-For names, over REST and Socket.IO alike: one
// client's guesses lock out that client, not every client of the balancer.
func TestTrustedProxyForwardsTheClientAddress(t *testing.T) {
	sb, env := guardedEnv(t, "127.0.0.1")
	ts := startServer(t, sb, env)
	good := strings.TrimPrefix(bearer(t, "pat@example.com", "")["Authorization"], "Bearer ")

	// REST: three guesses from 203.0.113.7.
	for i := range 3 {
		h := forwarded(map[string]string{"X-API-Key": fmt.Sprintf("guess-%032d", i)}, "203.0.113.7")
		if r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, h); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if r := joinAs(ts, "203.0.113.7"); r.Status != 429 || r.Body["code"] != "rate_limited" {
		t.Fatalf("the guessing address with a right key: %d %s", r.Status, r.Raw)
	}
	// The rightmost address that is not a trusted proxy is the client: the
	// balancer's own address on the right is skipped, and what a client
	// writes on the left does not get it out.
	for _, xff := range []string{"203.0.113.7, 127.0.0.1", "198.51.100.1, 203.0.113.7"} {
		if r := joinAs(ts, xff); r.Status != 429 {
			t.Fatalf("X-Forwarded-For %q: %d %s", xff, r.Status, r.Raw)
		}
	}
	// A second X-Forwarded-For line (a proxy that adds its own) is read
	// after the client's, not instead of it.
	h := http.Header{"X-Forwarded-For": []string{"198.51.100.1", "203.0.113.7"}, "X-API-Key": []string{testAPIKey},
		"Content-Type": []string{"application/json"}}
	req, _ := http.NewRequest("POST", ts.URL+"/api/meetings/join",
		strings.NewReader(fmt.Sprintf(`{"meetingId":%q,"participantUserId":"pat@example.com"}`, meeting)))
	req.Header = h
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Fatalf("two X-Forwarded-For lines ending with the guessing address: %d", resp.StatusCode)
	}
	// Another client behind the same balancer, and the balancer itself, are not locked out.
	if r := joinAs(ts, "203.0.113.8"); r.Status != 200 {
		t.Fatalf("another forwarded address: %d %s", r.Status, r.Raw)
	}
	if r := joinAs(ts, ""); r.Status != 200 {
		t.Fatalf("the proxy's own address: %d %s", r.Status, r.Raw)
	}

	// Socket.IO: the address locked out over REST is refused at the
	// handshake, even with a good credential; another is let in.
	if ok, body := socketFrom(t, ts, "203.0.113.7", good); ok || body["message"] != "rate_limited" {
		t.Fatalf("socket from the guessing address: ok=%v %v", ok, body)
	}
	if ok, body := socketFrom(t, ts, "203.0.113.8", good); !ok {
		t.Fatalf("socket from another forwarded address: %v", body)
	}
	two := http.Header{"X-Forwarded-For": []string{"198.51.100.1", "203.0.113.7"}}
	if _, ok, body := connectSocket(t, ts.URL, map[string]any{"token": good}, two); ok || body["message"] != "rate_limited" {
		t.Fatalf("socket with two X-Forwarded-For lines ending with the guessing address: ok=%v %v", ok, body)
	}
	// Guesses over sockets from 203.0.113.9 lock out 203.0.113.9, over both transports.
	for i := range 3 {
		if ok, body := socketFrom(t, ts, "203.0.113.9", fmt.Sprintf("guess-socket-%d", i)); ok || body["message"] != "unauthorized" {
			t.Fatalf("socket guess %d: ok=%v %v", i+1, ok, body)
		}
	}
	if ok, body := socketFrom(t, ts, "203.0.113.9", good); ok || body["message"] != "rate_limited" {
		t.Fatalf("socket from the address that guessed over sockets: ok=%v %v", ok, body)
	}
	if r := joinAs(ts, "203.0.113.9"); r.Status != 429 {
		t.Fatalf("REST from the address that guessed over sockets: %d %s", r.Status, r.Raw)
	}
	if ok, body := socketFrom(t, ts, "203.0.113.10", good); !ok {
		t.Fatalf("socket from a fourth forwarded address: %v", body)
	}
	// The request log names the forwarded client; the socket's refusals
	// (at debug level) name its address and never the credential.
	logs := ts.Logs.String()
	if !strings.Contains(logs, `"client":"203.0.113.8"`) {
		t.Errorf("no request log line names the forwarded client 203.0.113.8:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"socket: credential refused","client":"203.0.113.9"`) {
		t.Errorf("the socket's refusals do not name the forwarded client:\n%s", logs)
	}
	ts.assertNoSecretsLogged("guess-socket-0", "guess-socket-1", "guess-socket-2", fmt.Sprintf("guess-%032d", 0))
}

// With no trusted proxy, X-Forwarded-For is ignored: a client that sends
// one does not escape the lockout of its own address.
func TestUntrustedForwardedForIsIgnored(t *testing.T) {
	sb, env := guardedEnv(t, "")
	ts := startServer(t, sb, env)
	good := strings.TrimPrefix(bearer(t, "pat@example.com", "")["Authorization"], "Bearer ")
	for i := range 3 {
		h := forwarded(map[string]string{"X-API-Key": fmt.Sprintf("guess-%032d", i)}, fmt.Sprintf("203.0.113.%d", i+1))
		if r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, h); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if r := joinAs(ts, "203.0.113.50"); r.Status != 429 {
		t.Fatalf("a spoofed X-Forwarded-For escaped the lockout: %d %s", r.Status, r.Raw)
	}
	if ok, body := socketFrom(t, ts, "203.0.113.50", good); ok || body["message"] != "rate_limited" {
		t.Fatalf("a socket with a spoofed X-Forwarded-For: ok=%v %v", ok, body)
	}
	if strings.Contains(ts.Logs.String(), `"client":"203.0.113.`) {
		t.Errorf("a spoofed address reached the log:\n%s", ts.Logs)
	}
}
