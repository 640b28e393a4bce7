package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// The sandbox's control routes: on the server's own port in sandbox mode
// (a newcomer, or a container whose sandbox listens on loopback inside it,
// reaches them there), and never in zoom mode.
var sandboxControls = []struct{ method, path, index string }{
	{"POST", "/sandbox/meetings", "POST /sandbox/meetings"},
	{"GET", "/sandbox/meetings/" + joinMeeting, "GET /sandbox/meetings/{meetingNumber}"},
	{"POST", "/sandbox/meetings/" + joinMeeting + "/participants", "POST /sandbox/meetings/{meetingNumber}/participants"},
	{"DELETE", "/sandbox/meetings/" + joinMeeting + "/participants/" + botUser, "DELETE /sandbox/meetings/{meetingNumber}/participants/{user}"},
	{"DELETE", "/sandbox/meetings/" + joinMeeting, "DELETE /sandbox/meetings/{meetingNumber}"},
	{"POST", "/sandbox/sdk/join", "POST /sandbox/sdk/join"},
	{"GET", "/sandbox/sdk/sessions/sdk_none", "GET /sandbox/sdk/sessions/{sessionId}"},
	{"GET", "/sandbox/sdk/sessions/sdk_none/wait", "GET /sandbox/sdk/sessions/{sessionId}/wait"},
	{"DELETE", "/sandbox/sdk/sessions/sdk_none", "DELETE /sandbox/sdk/sessions/{sessionId}"},
}

func TestSandboxControlsOnTheServersPort(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	create := ts.do("POST", "/sandbox/meetings", map[string]any{"number": joinMeeting, "host": outsideHost}, nil)
	if create.Status != 201 || create.Body["account_id"] != sandbox.PartnerAccountID || create.Body["status"] != "waiting" {
		t.Fatalf("POST /sandbox/meetings = %d %s", create.Status, create.Raw)
	}
	if r := ts.do("POST", "/sandbox/meetings", map[string]any{"number": joinMeeting, "host": outsideHost}, nil); r.Status != 409 || r.Body["code"] != float64(3000) {
		t.Errorf("the same number again = %d %s", r.Status, r.Raw)
	}
	add := ts.do("POST", "/sandbox/meetings/"+joinMeeting+"/participants", map[string]any{"user": botUser}, nil)
	if add.Status != 200 || add.Body["status"] != "started" || str(add.Body["participants"]) != "["+sandbox.UserID(botUser)+"]" {
		t.Fatalf("POST participants = %d %s", add.Status, add.Raw)
	}
	if r := ts.do("GET", "/sandbox/meetings/"+joinMeeting, nil, nil); r.Status != 200 || r.Body["host_email"] != outsideHost {
		t.Errorf("GET the meeting = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("DELETE", "/sandbox/meetings/"+joinMeeting+"/participants/"+botUser, nil, nil); r.Status != 200 || str(r.Body["participants"]) != "[]" {
		t.Errorf("DELETE the participant = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/sandbox/sdk/join", map[string]any{}, nil); r.Status != 400 || r.Body["errorCode"] != float64(3000) {
		t.Errorf("the judge = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("DELETE", "/sandbox/meetings/"+joinMeeting, nil, nil); r.Status != 204 {
		t.Errorf("DELETE the meeting = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("GET", "/sandbox/meetings/"+joinMeeting, nil, nil); r.Status != 404 || r.Body["code"] != float64(3001) {
		t.Errorf("GET the ended meeting = %d %s", r.Status, r.Raw)
	}
	// Only the controls: the sandbox's Zoom side is not on this port.
	for _, p := range []string{"/sandbox/v2/users/me/token", "/v2/users/me/token", "/oauth/token", "/sandbox/oauth/token"} {
		if r := ts.do("POST", p, map[string]any{}, nil); r.Status != 404 || r.Body["code"] != "not_found" {
			t.Errorf("POST %s = %d %s, want the server's 404", p, r.Status, r.Raw)
		}
	}
	idx := ts.do("GET", "/", nil, nil)
	for _, c := range sandboxControls {
		if _, ok := field(idx.Body, "endpoints", c.index).(string); !ok {
			t.Errorf("GET / does not list %s: %s", c.index, idx.Raw)
		}
	}
	if !strings.HasPrefix(str(field(idx.Body, "sandbox", "url")), "http://127.0.0.1:") {
		t.Errorf("GET / names no sandbox url: %s", idx.Raw)
	}
}

func TestSandboxControlsAreNotServedInZoomMode(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	bodies := map[string]any{"POST /sandbox/meetings": map[string]any{"number": joinMeeting, "host": outsideHost},
		"POST /sandbox/meetings/{meetingNumber}/participants": map[string]any{"user": botUser}}
	for _, c := range sandboxControls {
		r := ts.do(c.method, c.path, bodies[c.index], nil)
		if r.Status != 404 || r.Body["code"] != "not_found" {
			t.Errorf("zoom mode: %s %s = %d %s, want 404 not_found", c.method, c.path, r.Status, r.Raw)
		}
	}
	if _, err := sb.GetMeeting(joinMeeting); err == nil {
		t.Error("zoom mode: a request on the server's port made a meeting at the sandbox")
	}
	idx := ts.do("GET", "/", nil, nil)
	for k := range idx.Body["endpoints"].(map[string]any) {
		if strings.Contains(k, "/sandbox/") || strings.Contains(k, "/examples/") {
			t.Errorf("zoom mode: GET / lists %s", k)
		}
	}
	if idx.Body["sandbox"] != nil {
		t.Errorf("zoom mode: GET / describes a sandbox: %s", idx.Raw)
	}
}

// GET / lists every route a newcomer can use, in sandbox mode; in zoom
// mode, those of that mode.
func TestRootListsWhatANewcomerUses(t *testing.T) {
	sandboxMode := startDemoServer(t) // serves /examples/browser/ (found from the repository's root)
	want := []string{"GET /metrics", "GET /examples/browser/", "POST /sandbox/tokens", "GET /console/", "GET /docs/api/",
		"GET /openapi.json", "GET /api/health", "POST /api/meetings/join", "POST /sandbox/sdk/join",
		"POST /sandbox/meetings/{meetingNumber}/participants", "POST /api/sdk/signature", "POST /api/videosdk/signature"}
	idx := sandboxMode.do("GET", "/", nil, nil)
	for _, e := range want {
		if _, ok := field(idx.Body, "endpoints", e).(string); !ok {
			t.Errorf("sandbox mode: GET / does not list %s: %s", e, idx.Raw)
		}
	}
	if m := field(idx.Body, "sandbox", "meeting", "number"); m != meeting {
		t.Errorf("sandbox mode: GET / names no example meeting: %s", idx.Raw)
	}
	for _, e := range []string{"GET /examples/browser/", "GET /metrics"} {
		path := strings.TrimPrefix(e, "GET ")
		if r := sandboxMode.do("GET", path, nil, nil); r.Status != 200 {
			t.Errorf("%s = %d", e, r.Status)
		}
	}
	sb := newSandbox(t, sandbox.Options{})
	zoomMode := startServer(t, sb, zoomEnv(sb))
	idx = zoomMode.do("GET", "/", nil, nil)
	for _, e := range []string{"GET /metrics", "GET /console/", "GET /docs/api/", "GET /openapi.json"} {
		if _, ok := field(idx.Body, "endpoints", e).(string); !ok {
			t.Errorf("zoom mode: GET / does not list %s: %s", e, idx.Raw)
		}
	}
}

// Sandbox mode knows the meeting of the README and the examples from the
// start: hosted by host@example.com in the sandbox's own account, so the
// server reads it as internal, and an OBF still joins only while its user is
// in the meeting (as strict as Zoom).
func TestSandboxKnowsTheExamplesMeeting(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	m := ts.do("GET", "/sandbox/meetings/"+meeting, nil, nil)
	if m.Status != 200 || m.Body["host_email"] != "host@example.com" || m.Body["account_id"] != "sandbox-account" ||
		m.Body["status"] != "waiting" {
		t.Fatalf("GET /sandbox/meetings/%s = %d %s", meeting, m.Status, m.Raw)
	}
	host := ts.sandboxCaller("host@example.com", "host")
	if a := ts.do("GET", "/api/meetings/"+meeting+"/access", nil, host); a.Status != 200 || a.Body["internal"] != true {
		t.Errorf("access = %d %s", a.Status, a.Raw)
	}
}

// sandboxCaller is a caller token from POST /sandbox/tokens, as headers.
func (ts *testServer) sandboxCaller(sub, role string) map[string]string {
	ts.t.Helper()
	r := ts.do("POST", "/sandbox/tokens", map[string]any{"sub": sub, "role": role}, nil)
	if r.Status != 200 {
		ts.t.Fatalf("POST /sandbox/tokens = %d %s", r.Status, r.Raw)
	}
	return map[string]string{"Authorization": "Bearer " + str(r.Body["token"])}
}

// `npm run bot`, as the README runs it, with nothing set: the meeting
// exists, the judge refuses while participant@example.com is not in it and
// the bot says how to put them in, on the server's port; once they are in,
// it joins. (Before, the sandbox had no such meeting: 3001.)
func TestNodeExampleBotJoinsTheDefaultMeeting(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	bot := startNodeCommand(t, map[string]string{"TOKEN_SERVER_URL": ts.URL, "JOIN_EVERY_MS": "100", "WAIT_MS": "120000"},
		"npm", "run", "--silent", "bot")
	refused := bot.next("join-refused")
	if refused["errorCode"] != float64(65535) || refused["meetingNumber"] != meeting {
		t.Fatalf("first join = %v (all: %v)", refused, bot.all)
	}
	hint := str(bot.next("join-retry")["sandbox"])
	admit := "/sandbox/meetings/" + meeting + "/participants"
	if !strings.Contains(hint, "curl -s -X POST "+ts.URL+admit) || !strings.Contains(hint, `{"user":"participant@example.com"}`) {
		t.Fatalf("the bot does not say how to put its user in the meeting: %q", hint)
	}
	if r := ts.do("POST", admit, map[string]any{"user": "participant@example.com"}, nil); r.Status != 200 {
		t.Fatalf("POST %s = %d %s", admit, r.Status, r.Raw)
	}
	if j := bot.next("joined"); j["as"] != "on behalf of participant@example.com" || j["meetingNumber"] != meeting {
		t.Fatalf("joined = %v", j)
	}
	if err := <-bot.done; err != nil {
		t.Fatalf("npm run bot exited with %v (all: %v)", err, bot.all)
	}
}

// `go run ./examples/goclient -join`, as the README runs it, with the
// participant put in the default meeting first on the server's port.
func TestGoExampleJoinsTheDefaultMeeting(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	if r := ts.do("POST", "/sandbox/meetings/"+meeting+"/participants", map[string]any{"user": "participant@example.com"}, nil); r.Status != 200 {
		t.Fatalf("POST participants = %d %s", r.Status, r.Raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", "../examples/goclient", "-url", ts.URL, "-join").CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "JOINED meeting "+meeting+` as "Token server example bot" on behalf of participant@example.com`) {
		t.Errorf("the example did not join:\n%s", out)
	}
}

// The browser example's "Join meeting" with the page's defaults, and its
// sandbox button putting the user in the meeting.
func TestBrowserExampleBotJoinsTheDefaultMeeting(t *testing.T) {
	chromium := needChromium(t)
	ts := startDemoServer(t)
	page := startNodeScript(t, map[string]string{"SERVER_URL": ts.URL, "CHROMIUM": chromium, "JOIN_EVERY_S": "0.1",
		"ADMIT": "button"}, "join-check.js")
	if s := str(page.next("refused")["status"]); !strings.Contains(s, "refused: 65535 authorized user not in meeting") {
		t.Fatalf("the page showed %q", s)
	}
	joined := page.next("joined")
	if s := str(joined["status"]); !strings.Contains(s, "joined meeting "+meeting+" on behalf of participant@example.com") {
		t.Fatalf("the page showed %v", joined)
	}
	if err := <-page.done; err != nil {
		t.Fatalf("join-check.js exited with %v", err)
	}
}
