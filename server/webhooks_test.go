package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// Zoom's webhooks and presence end to end: a server in zoom mode against a
// sandbox whose meetings send it Zoom-shaped, signed events.

const (
	webhookSecret = "webhook-secret-0123456789"
	hookPath      = "/api/webhooks/zoom"
)

// hookServer starts a zoom-mode server accepting webhooks signed with
// webhookSecret (and SDK signing, for the join judge), and points the
// sandbox's webhooks at it.
func hookServer(t *testing.T, sb *sandbox.Sandbox, extra map[string]string) *testServer {
	t.Helper()
	env := zoomEnv(sb)
	key, sec := sb.SDKApp()
	env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = key, sec
	env["ZOOM_WEBHOOK_SECRETS"] = "an-old-secret-0123456," + webhookSecret
	for k, v := range extra {
		env[k] = v
	}
	ts := startServer(t, sb, env)
	sb.SetWebhook(ts.URL+hookPath, webhookSecret)
	sb.SetWebhookRetryDelays(nil)
	return ts
}

// hook posts a webhook body signed with secret at stamp.
func (ts *testServer) hook(body, secret string, stamp time.Time) reply {
	ts.t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+hookPath, strings.NewReader(body))
	tsStr := strconv.FormatInt(stamp.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-zm-request-timestamp", tsStr)
	if secret != "" {
		req.Header.Set("x-zm-signature", webhooks.Sign(secret, tsStr, []byte(body)))
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	resp = checkedResponse(ts.t, resp) // the answer must be the OpenAPI document's
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func joinedBody(meetingNumber, email string, session int, ts time.Time) string {
	return fmt.Sprintf(`{"event":"meeting.participant_joined","event_ts":%d,"payload":{"account_id":"acc","object":{"id":%s,"uuid":"u","host_id":"h","participant":{"user_id":"%d","user_name":"x","id":"","email":%q,"join_time":%q}}}}`,
		ts.UnixMilli(), meetingNumber, session, email, ts.UTC().Format(time.RFC3339))
}

// awaitNow asks POST /api/meetings/await without waiting.
func (ts *testServer) awaitNow(t *testing.T, meetingNumber, user string) reply {
	t.Helper()
	return ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": meetingNumber, "participantUserId": user, "timeoutSeconds": 0}, adminKey)
}

// url_validation answers Zoom's test vector, with the secret that signed it;
// every other request needs a signature made with one of the secrets.
func TestWebhookURLValidation(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, map[string]string{"ZOOM_WEBHOOK_SECRETS": webhookSecret + ",secretValueTest"})
	body := `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
	r := ts.hook(body, "secretValueTest", time.Now())
	if r.Status != 200 || r.Body["plainToken"] != "qgg8vlvZRS6UYooatFL8Aw" ||
		r.Body["encryptedToken"] != "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff" {
		t.Fatalf("url_validation = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(body, "", time.Now()); r.Status != 401 || r.Body["code"] != "invalid_signature" {
		t.Fatalf("unsigned url_validation = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(body, "secretValueTesT", time.Now()); r.Status != 401 || r.Body["code"] != "invalid_signature" {
		t.Fatalf("wrong secret = %d %s", r.Status, r.Raw)
	}
	ts.assertNoSecretsLogged(webhookSecret, "secretValueTest")
}

// url_validation keeps the timestamp window of every other event: a
// request signed with the right secret but stamped in 2001 or 2100 (a
// recorded one replayed, or one made ahead) is refused, 401
// invalid_signature, as the README says.
func TestWebhookURLValidationTimestampWindow(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	body := `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
	for _, stamp := range []time.Time{
		time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now().Add(-3 * time.Hour),
		time.Now().Add(10 * time.Minute),
	} {
		if r := ts.hook(body, webhookSecret, stamp); r.Status != 401 || r.Body["code"] != "invalid_signature" || r.Body["encryptedToken"] != nil {
			t.Fatalf("url_validation stamped %s = %d %s; want 401 invalid_signature", stamp.Format(time.RFC3339), r.Status, r.Raw)
		}
	}
	if r := ts.hook(body, webhookSecret, time.Now().Add(-time.Minute)); r.Status != 200 || r.Body["plainToken"] == nil {
		t.Fatalf("url_validation stamped a minute ago = %d %s", r.Status, r.Raw)
	}
}

// A bad, missing or stale signature is refused and nothing is processed; a
// duplicate is answered and not processed again; Zoom's late retry of an
// event never seen is taken once.
func TestWebhookSignatureStaleDuplicateRetry(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	now := time.Now()
	m1, m2, m3 := "900000001", "900000002", "900000003"

	if r := ts.hook(joinedBody(m1, "pat@example.com", 1, now), "not-the-secret-0123", now); r.Status != 401 || r.Body["code"] != "invalid_signature" {
		t.Fatalf("bad signature = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(joinedBody(m1, "pat@example.com", 1, now), "", now); r.Status != 401 {
		t.Fatalf("no signature = %d %s", r.Status, r.Raw)
	}
	stale := now.Add(-3 * time.Hour)
	if r := ts.hook(joinedBody(m1, "pat@example.com", 1, stale), webhookSecret, stale); r.Status != 401 || r.Body["code"] != "invalid_signature" {
		t.Fatalf("3 h old = %d %s", r.Status, r.Raw)
	}
	if r := ts.awaitNow(t, m1, "pat@example.com"); r.Status != 202 || r.Body["presence"] != "unknown" {
		t.Fatalf("after refused events the meeting is known: %d %s", r.Status, r.Raw)
	}

	// Signed with either secret; a duplicate is answered and ignored.
	body := joinedBody(m2, "pat@example.com", 1, now)
	if r := ts.hook(body, "an-old-secret-0123456", now); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("first = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(body, webhookSecret, now.Add(time.Second)); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("again = %d %s", r.Status, r.Raw)
	}
	waitFor(t, func() bool { return ts.awaitNow(t, m2, "pat@example.com").Status == 200 })

	// Zoom's retry an hour late, of an event this server never received.
	late := now.Add(-time.Hour)
	body = joinedBody(m3, "pat@example.com", 1, late)
	if r := ts.hook(body, webhookSecret, late); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("a late retry = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(body, webhookSecret, late); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("the late retry again = %d %s", r.Status, r.Raw)
	}
	waitFor(t, func() bool { return ts.awaitNow(t, m3, "PAT@example.com").Status == 200 })

	// Malformed bodies, the body limit, events not read.
	if r := ts.hook(`{"event":`, webhookSecret, now); r.Status != 400 {
		t.Fatalf("malformed = %d %s", r.Status, r.Raw)
	}
	if r := ts.hook(`{"event":"recording.completed","payload":{}}`, webhookSecret, now); r.Status != 200 || r.Body["status"] != "ignored" {
		t.Fatalf("other event = %d %s", r.Status, r.Raw)
	}
	big := `{"event":"meeting.started","payload":{"pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	if r := ts.hook(big, webhookSecret, now); r.Status != 413 {
		t.Fatalf("300 KiB = %d", r.Status)
	}

	m := ts.do("GET", "/metrics", nil, nil).Raw
	for _, want := range []struct {
		labels []string
		n      float64
	}{
		{[]string{`event="unverified"`, `outcome="invalid_signature"`}, 2},
		{[]string{`event="meeting.participant_joined"`, `outcome="stale"`}, 1},
		{[]string{`event="meeting.participant_joined"`, `outcome="accepted"`}, 2},
		{[]string{`event="meeting.participant_joined"`, `outcome="duplicate"`}, 2},
		{[]string{`event="other"`, `outcome="ignored"`}, 1},
	} {
		if got := metricValue(m, "zoom_webhooks_total", want.labels...); got != want.n {
			t.Errorf("zoom_webhooks_total%v = %v, want %v", want.labels, got, want.n)
		}
	}
	ts.assertNoSecretsLogged(webhookSecret, "an-old-secret-0123456")
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The whole path: a bot awaits its user; the user joins the sandbox meeting
// 2 s later; the sandbox's webhook makes the server mint the OBF at once and
// push it with the SDK bundle, which the sandbox's join judge accepts; the
// user leaves and the bot is told.
func TestAwaitEndToEnd(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddParticipant(meeting, "host@example.com"); err != nil { // meeting.started
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)

	// One bot runs as its user (a participant's own token), another as an
	// admin for a second user.
	bot := authedSocket(t, ts, "pat@example.com", "")
	admin, ok, body := connectSocket(t, ts.URL, map[string]any{"token": testAPIKey}, nil)
	if !ok {
		t.Fatalf("admin connect: %v", body)
	}
	bots := []struct {
		c    *wsClient
		user string
	}{{bot, "pat@example.com"}, {admin, "kim@example.com"}}
	for _, b := range bots {
		a := b.c.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": b.user, "timeoutSeconds": 60})
		if a["presence"] != "waiting" || a["success"] != true {
			t.Fatalf("await = %v", a)
		}
	}
	time.Sleep(2 * time.Second)
	for _, b := range bots {
		if _, err := sb.AddParticipant(meeting, b.user); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bots {
		e, ok := b.c.waitEvent("meeting:credentials", 10*time.Second)
		if !ok {
			t.Fatalf("%s: no meeting:credentials; logs:\n%s", b.user, ts.Logs)
		}
		sdkBundle, _ := e["sdk"].(map[string]any)
		obf, _ := e["obfToken"].(string)
		if obf == "" || sdkBundle == nil || e["participantUserId"] != b.user {
			t.Fatalf("%s: credentials %v", b.user, e)
		}
		ts.collectTokens(e)
		if j := judge(t, sb, sdkBundle, "obfToken", obf, b.user+"'s bot"); j["joined"] != true {
			t.Fatalf("%s: the judge refused the OBF: %v", b.user, j)
		}
	}
	for _, b := range bots {
		if _, err := sb.RemoveParticipant(meeting, b.user); err != nil {
			t.Fatal(err)
		}
		e, ok := b.c.waitEvent("meeting:user-left", 10*time.Second)
		if !ok || e["meetingId"] != meeting || e["userId"] != b.user {
			t.Fatalf("%s: meeting:user-left = %v %v", b.user, e, ok)
		}
	}
	if n := bot.Count("meeting:credentials") + admin.Count("meeting:credentials"); n != 0 {
		t.Fatalf("%d more credentials", n)
	}

	// Already present: the OBF comes at once.
	if _, err := sb.AddParticipant(meeting, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	waitFor(t, func() bool { return ts.awaitNow(t, meeting, "pat@example.com").Status == 200 })
	if _, ok := bot.waitEvent("meeting:credentials", 10*time.Second); !ok { // the probe's, pushed to pat's sockets
		t.Fatal("the probe's OBF was not pushed")
	}
	a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "pat@example.com"})
	if a["presence"] != "present" {
		t.Fatalf("await = %v", a)
	}
	if _, ok := bot.waitEvent("meeting:credentials", 10*time.Second); !ok {
		t.Fatal("no credentials for a present user")
	}
	// The meeting ends: the bot is told its user left.
	if err := sb.EndMeeting(meeting); err != nil {
		t.Fatal(err)
	}
	if _, ok := bot.waitEvent("meeting:user-left", 10*time.Second); !ok {
		t.Fatal("no meeting:user-left when the meeting ended")
	}
	// Delivered: the two bots, the present one, and the probe of awaitNow.
	m := ts.do("GET", "/metrics", nil, nil).Raw
	if metricValue(m, "presence_awaits_total", `outcome="delivered"`) != 4 || metricValue(m, "presence_await_delivery_seconds_count") < 2 {
		t.Errorf("await metrics:\n%s", grepLines(m, "presence_"))
	}
	ts.assertNoSecretsLogged(webhookSecret)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A meeting the server gets no events for (hosted in an account that did not
// install the app) answers unknown, on both transports; the client joins
// with retries instead. A wait that runs out is presence_timeout; a
// participant may await only itself.
func TestAwaitUnknownTimeoutAndRoles(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	outside := "812345678"
	if _, err := sb.CreateMeeting("someone@"+sandbox.PartnerDomain, outside); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddParticipant(outside, "someone@"+sandbox.PartnerDomain); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	bot := authedSocket(t, ts, "pat@example.com", "")
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": outside, "onBehalfOf": "pat@example.com"}); a["presence"] != "unknown" {
		t.Fatalf("socket await = %v", a)
	}
	if r := ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": outside, "participantUserId": "pat@example.com"}, bearer(t, "pat@example.com", "")); r.Status != 202 || r.Body["presence"] != "unknown" {
		t.Fatalf("REST await = %d %s", r.Status, r.Raw)
	}

	// Waiting runs out.
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddParticipant(meeting, "host@example.com"); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	waitFor(t, func() bool { return ts.awaitNow(t, meeting, "pat@example.com").Body["presence"] == "waiting" })
	if r := ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com", "timeoutSeconds": 1}, adminKey); r.Status != 408 || r.Body["code"] != "presence_timeout" {
		t.Fatalf("REST timeout = %d %s", r.Status, r.Raw)
	}
	bot.emit("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "pat@example.com", "timeoutSeconds": 1})
	if e, ok := bot.waitEvent("meeting:awaiting", 5*time.Second); !ok || e["presence"] != "waiting" {
		t.Fatalf("meeting:awaiting = %v", e)
	}
	if e, ok := bot.waitEvent("error", 10*time.Second); !ok || e["code"] != "presence_timeout" || e["meetingId"] != meeting || e["event"] != "meeting:await" {
		t.Fatalf("socket timeout = %v", e)
	}

	// Same roles as join; bad bodies are named.
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "kim@example.com"}); a["code"] != "forbidden" {
		t.Fatalf("a participant awaiting another = %v", a)
	}
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": "12", "timeoutSeconds": 99999}); a["code"] != "invalid_request" || len(a["details"].([]any)) != 3 {
		t.Fatalf("bad await = %v", a)
	}
	if r := ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com", "timeoutSeconds": 61}, adminKey); r.Status != 400 {
		t.Fatalf("REST timeout 61 = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, nil); r.Status != 401 {
		t.Fatalf("REST without credentials = %d", r.Status)
	}
}

// Cancelled awaits, and those of a socket that went away, end: the user's
// join then mints nothing for them.
func TestAwaitCancelAndDisconnect(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddParticipant(meeting, "host@example.com"); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	waitFor(t, func() bool { return ts.awaitNow(t, meeting, "pat@example.com").Body["presence"] == "waiting" })
	admin, _, _ := connectSocket(t, ts.URL, map[string]any{"token": testAPIKey}, nil)
	for _, u := range []string{"pat@example.com", "kim@example.com"} {
		if a := admin.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": u}); a["presence"] != "waiting" {
			t.Fatalf("await = %v", a)
		}
	}
	if a := admin.emitAck("meeting:cancel-await", map[string]any{"meetingId": meeting}); a["cancelled"] != float64(2) {
		t.Fatalf("cancel = %v", a)
	}
	gone := authedSocket(t, ts, "sam@example.com", "")
	if a := gone.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "sam@example.com"}); a["presence"] != "waiting" {
		t.Fatalf("await = %v", a)
	}
	gone.close()
	waitFor(t, func() bool {
		return metricValue(ts.do("GET", "/metrics", nil, nil).Raw, "presence_awaits_total", `outcome="cancelled"`) == 3
	})
	before := sb.Stats().Minted
	for _, u := range []string{"pat@example.com", "kim@example.com", "sam@example.com"} {
		if _, err := sb.AddParticipant(meeting, u); err != nil {
			t.Fatal(err)
		}
	}
	sb.WebhooksIdle(10 * time.Second)
	waitFor(t, func() bool { return ts.awaitNow(t, meeting, "sam@example.com").Status == 200 })
	// awaitNow minted once for sam; nothing else was minted.
	if n := sb.Stats().Minted - before; n != 1 {
		t.Fatalf("%d tokens minted after the awaits ended, want 1 (the probe's)", n)
	}
	if n := admin.Count("meeting:credentials"); n != 0 {
		t.Fatalf("a cancelled await got %d credentials", n)
	}
}

// The sandbox's knobs: a delivery signed with a wrong secret is refused 401
// (and Zoom retries it), a duplicate is answered and ignored, a late retry
// is taken.
func TestSandboxWebhookFaults(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	sb.SetWebhookRetryDelays([]time.Duration{10 * time.Millisecond})
	sb.SetWebhookFaults(sandbox.WebhookFaults{BadSignature: 1})
	if _, err := sb.AddParticipant(meeting, "host@example.com"); err != nil { // started (bad signature), joined
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	sb.SetWebhookFaults(sandbox.WebhookFaults{Duplicate: 1})
	if _, err := sb.AddParticipant(meeting, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	sb.SetWebhookFaults(sandbox.WebhookFaults{LateRetry: 1})
	if _, err := sb.AddParticipant(meeting, "kim@example.com"); err != nil {
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	statuses := map[string][]int{}
	for _, d := range sb.WebhookDeliveries() {
		statuses[d.Fault] = append(statuses[d.Fault], d.Status)
	}
	if fmt.Sprint(statuses["bad_signature"]) != "[401]" || fmt.Sprint(statuses["duplicate"]) != "[200 200]" ||
		fmt.Sprint(statuses["late_retry"]) != "[200]" {
		t.Fatalf("deliveries: %v", statuses)
	}
	for _, u := range []string{"host@example.com", "pat@example.com", "kim@example.com"} {
		waitFor(t, func() bool { return ts.awaitNow(t, meeting, u).Status == 200 })
	}
	m := ts.do("GET", "/metrics", nil, nil).Raw
	if metricValue(m, "zoom_webhooks_total", `outcome="duplicate"`) != 1 {
		t.Errorf("duplicates:\n%s", grepLines(m, "zoom_webhooks_total"))
	}
}

// app_deauthorized: the user's connection is forgotten, its sockets are told.
func TestWebhookAppDeauthorized(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := connEnv(t, sb, t.TempDir()+"/c.db", newKey(t, "k1"))
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	ts := startServer(t, sb, env)
	sb.SetWebhook(ts.URL+hookPath, webhookSecret)
	user := "user1@" + sandbox.PartnerDomain
	ts.mustConnect(t, user)
	c := authedSocket(t, ts, user, "")
	sb.Deauthorize(user)
	e, ok := c.waitEvent("connection:changed", 10*time.Second)
	if !ok || e["status"] != "disconnected" || e["reason"] != "deauthorized" {
		t.Fatalf("connection:changed = %v %v; logs:\n%s", e, ok, ts.Logs)
	}
	if r := ts.do("GET", "/api/connections/"+user, nil, bearer(t, user, "")); r.Status != 404 {
		t.Fatalf("the connection after app_deauthorized = %d %s", r.Status, r.Raw)
	}
	ts.assertNoSecretsLogged(webhookSecret)
}
