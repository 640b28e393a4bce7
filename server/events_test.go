package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// Events to the app's back-end: a real receiver (an HTTP server on
// loopback) that checks every signature, and a real SQLite outbox.

const eventsSecret = "events-secret-for-tests-0123456789abcdef"

// receivedEvent is one delivery the receiver accepted.
type receivedEvent struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt time.Time      `json:"createdAt"`
	Data      map[string]any `json:"data"`
}

// receiver is the app's back-end. answer says what to do with the n-th
// attempt (from 1) of an event: a status, or 0 to hang until the sender
// gives up, or -1 to redirect.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	answer     func(id string, n int) int
	attempts   map[string]int
	accepted   []receivedEvent
	raw        []string
	badSig     int
	redirected int // requests that followed a redirect
}

func newReceiver(t *testing.T, answer func(id string, n int) int) *receiver {
	r := &receiver{t: t, answer: answer, attempts: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(f func(id string, n int) int) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/elsewhere" {
		r.mu.Lock()
		r.redirected++
		r.mu.Unlock()
		return
	}
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("X-Tokenserver-Event-Id")
	ok := verifySignature(req.Header.Get("X-Tokenserver-Signature"), body, eventsSecret, time.Now())
	var e receivedEvent
	_ = json.Unmarshal(body, &e)
	r.mu.Lock()
	r.raw = append(r.raw, string(body))
	if !ok || e.ID != id || id == "" {
		r.badSig++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.attempts[id]++
	status := r.answer(id, r.attempts[id])
	if status >= 200 && status < 300 {
		r.accepted = append(r.accepted, e)
	}
	r.mu.Unlock()
	switch {
	case status == 0:
		<-req.Context().Done() // hangs until the sender gives up
	case status == -1:
		http.Redirect(w, req, "/elsewhere", http.StatusFound)
	default:
		w.WriteHeader(status)
	}
}

// verifySignature checks t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// within 5 minutes of now, as a receiver should.
func verifySignature(header string, body []byte, secret string, now time.Time) bool {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(v1))
}

// byType waits until the receiver accepted an event of each type in types
// for sub (in that order), and answers them.
func (r *receiver) waitFor(sub string, types ...string) []receivedEvent {
	r.t.Helper()
	var got []receivedEvent
	waitUntil(r.t, "events "+strings.Join(types, ", ")+" for "+sub, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = got[:0]
		for _, e := range r.accepted {
			if e.Data["sub"] == sub {
				got = append(got, e)
			}
		}
		return len(got) >= len(types)
	})
	for i, e := range got {
		if i < len(types) && e.Type != types[i] {
			r.t.Errorf("event %d for %s is %s, want %s (all: %v)", i, sub, e.Type, types[i], got)
		}
	}
	return got
}

// checkOncePerID: no id accepted twice, no bad signature, no secret in any body.
func (r *receiver) check(secrets ...string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range r.accepted {
		if seen[e.ID] {
			r.t.Errorf("event %s accepted twice", e.ID)
		}
		seen[e.ID] = true
	}
	if r.badSig != 0 {
		r.t.Errorf("%d deliveries had a bad signature or id header", r.badSig)
	}
	all := strings.Join(r.raw, "\n")
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(all, s) {
			r.t.Errorf("a secret or token (%d chars, starting %q) is in an event body", len(s), s[:4])
		}
	}
	for _, word := range []string{"token", "secret", "sealed"} {
		if strings.Contains(strings.ToLower(all), word) {
			r.t.Errorf("an event body mentions %q: %s", word, all)
		}
	}
}

func eventsEnv(rcv *receiver) map[string]string {
	return map[string]string{"EVENTS_URL": rcv.srv.URL + "/hooks/tokenserver", "EVENTS_SECRET": eventsSecret}
}

func TestEventsDeliveredSignedOnceAfter500s(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	// Every event fails twice (500, then 503) before it is accepted.
	rcv := newReceiver(t, func(_ string, n int) int {
		return map[int]int{1: 500, 2: 503}[n] + map[bool]int{true: 204}[n > 2]
	})
	ts := appServer(t, sb, filepath.Join(t.TempDir(), "c.db"), eventsEnv(rcv))
	const ann = "ann@partner.example"

	v := newVerifier(t)
	code := appCode(t, sb, appRedirect, v, ann)
	if r := ts.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
		bearer(t, ann, "")); r.Status != 201 {
		t.Fatalf("connect = %d %s", r.Status, r.Raw)
	}
	sb.RevokeGrant(ann) // the user removed the app: the next refresh is refused
	if r := ts.join(t, ann); r.Status != 409 || r.Body["code"] != "connection_lost" {
		t.Fatalf("join after the grant was revoked = %d %s", r.Status, r.Raw)
	}
	ts.mustConnect(t, ann) // connected again, through the server's own flow
	if r := ts.do("DELETE", "/api/connections/"+ann, nil, bearer(t, ann, "")); r.Status != 200 {
		t.Fatalf("delete = %d %s", r.Status, r.Raw)
	}
	got := rcv.waitFor(ann, "connection.connected", "connection.lost", "connection.connected", "connection.disconnected")
	if len(got) == 4 && (got[1].Data["reason"] != "invalid_grant" || got[3].Data["reason"] != "deleted") {
		t.Errorf("reasons: lost %v, disconnected %v", got[1].Data["reason"], got[3].Data["reason"])
	}
	if len(got) > 0 && (got[0].Data["email"] != ann || got[0].Data["status"] != "connected" || !strings.HasPrefix(got[0].ID, "evt_")) {
		t.Errorf("first event = %+v", got[0])
	}
	rcv.mu.Lock()
	for id, n := range rcv.attempts {
		if n != 3 {
			t.Errorf("event %s was attempted %d times; want 3 (two failures, then accepted)", id, n)
		}
	}
	rcv.mu.Unlock()
	rcv.check(append(ts.SB.IssuedSecrets(), eventsSecret)...)
	ts.assertNoSecretsLogged(eventsSecret)
	waitUntil(t, "the metrics count the deliveries", func() bool {
		m := ts.do("GET", "/metrics", nil, adminKey).Raw
		return strings.Contains(m, "events_delivered_total 4") && strings.Contains(m, "events_retried_total 8") &&
			strings.Contains(m, "events_pending 0")
	})
}

// A receiver that hangs, then one that redirects: both are failures, tried
// again with the same id; the redirect is not followed.
func TestEventsReceiverHangsOrRedirects(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(_ string, n int) int {
		switch n {
		case 1:
			return 0 // hangs past the 10 s delivery timeout
		case 2:
			return -1 // redirects
		}
		return 200
	})
	ts := appServer(t, sb, filepath.Join(t.TempDir(), "c.db"), eventsEnv(rcv))
	const bob = "bob@partner.example"
	start := time.Now()
	v := newVerifier(t)
	code := appCode(t, sb, appRedirect, v, bob)
	if r := ts.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
		bearer(t, bob, "")); r.Status != 201 {
		t.Fatalf("connect = %d %s", r.Status, r.Raw)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the request waited for the hanging receiver (%s)", d)
	}
	got := rcv.waitFor(bob, "connection.connected")
	rcv.mu.Lock()
	if n := rcv.attempts[got[0].ID]; n != 3 {
		t.Errorf("attempts = %d, want 3 (hang, redirect, accepted)", n)
	}
	if rcv.redirected != 0 {
		t.Errorf("the redirect was followed %d times", rcv.redirected)
	}
	rcv.mu.Unlock()
	rcv.check(append(ts.SB.IssuedSecrets(), eventsSecret)...)
	for _, want := range []string{"no answer within 10s", "answered HTTP 302"} {
		if !strings.Contains(ts.Logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	ts.assertNoSecretsLogged(eventsSecret)
}

// Events pending when the server stops are delivered by the next start (the
// real binary, the same SQLite file), once each.
func TestEventsOutboxSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(string, int) int { return 503 })
	env := connEnv(t, sb, filepath.Join(t.TempDir(), "state", "c.db"), newKey(t, "k1"))
	sb.AllowRedirect(appRedirect)
	env["ZOOM_OAUTH_REDIRECT_URLS"] = appRedirect
	for k, v := range eventsEnv(rcv) {
		env[k] = v
	}
	a := startProcess(t, sb, env)
	const ann, bob = "ann@partner.example", "bob@partner.example"
	for _, who := range []string{ann, bob} {
		v := newVerifier(t)
		code := appCode(t, sb, appRedirect, v, who)
		if r := a.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
			bearer(t, who, "")); r.Status != 201 {
			t.Fatalf("connect %s = %d %s", who, r.Status, r.Raw)
		}
	}
	if r := a.do("DELETE", "/api/connections/"+ann, nil, bearer(t, ann, "")); r.Status != 200 {
		t.Fatalf("delete = %d %s", r.Status, r.Raw)
	}
	waitUntil(t, "the receiver refused a delivery", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.attempts) >= 2
	})
	a.stop()

	rcv.setAnswer(func(string, int) int { return 200 })
	b := startProcess(t, sb, env)
	rcv.waitFor(ann, "connection.connected", "connection.disconnected")
	rcv.waitFor(bob, "connection.connected")
	rcv.check(append(sb.IssuedSecrets(), eventsSecret)...)
	for _, p := range []*testServer{a, b} {
		p.assertNoSecretsLogged(eventsSecret)
	}
}

// DATABASE_URL=memory: the server says at start that undelivered events are lost on restart.
func TestEventsInMemoryWarns(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(string, int) int { return 200 })
	ts := appServer(t, sb, filepath.Join(t.TempDir(), "c.db"), map[string]string{"DATABASE_URL": "memory",
		"EVENTS_URL": rcv.srv.URL, "EVENTS_SECRET": eventsSecret})
	if !strings.Contains(ts.Logs.String(), "events not yet delivered are lost on restart") {
		t.Errorf("no warning that memory loses events:\n%s", ts.Logs)
	}
	v := newVerifier(t)
	code := appCode(t, sb, appRedirect, v, "pat@example.com")
	if r := ts.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
		bearer(t, "pat@example.com", "")); r.Status != 201 {
		t.Fatalf("connect = %d %s", r.Status, r.Raw)
	}
	rcv.waitFor("pat@example.com", "connection.connected")
}

// The user removed the app at Zoom (app_deauthorized): connection.lost, reason deauthorized.
func TestEventsDeauthorizedIsLost(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(string, int) int { return 200 })
	env := connEnv(t, sb, t.TempDir()+"/c.db", newKey(t, "k1"))
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	for k, v := range eventsEnv(rcv) {
		env[k] = v
	}
	ts := startServer(t, sb, env)
	sb.SetWebhook(ts.URL+hookPath, webhookSecret)
	user := "user1@" + sandbox.PartnerDomain
	ts.mustConnect(t, user)
	sb.Deauthorize(user)
	got := rcv.waitFor(user, "connection.connected", "connection.lost")
	if len(got) == 2 && (got[1].Data["reason"] != "deauthorized" || got[1].Data["status"] != "disconnected") {
		t.Errorf("lost event = %+v", got[1])
	}
	rcv.check(append(sb.IssuedSecrets(), eventsSecret, webhookSecret)...)
	ts.assertNoSecretsLogged(eventsSecret, webhookSecret)
}
