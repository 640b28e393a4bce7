package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needChromium answers the Chromium binary, or skips the test outside CI
// when there is none.
func needChromium(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install chromium (.ci/run does): %v", err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium); CI runs this test", chromium)
	}
	if _, err := os.Stat(nodeExamples + "/node_modules/playwright-core"); err != nil {
		t.Fatal("playwright-core is not installed: run `make node-deps` (make test does it)")
	}
	return chromium
}

// startDemoServer starts a sandbox-mode server from the repository root,
// as `make run` does, so that it serves the browser example at /examples/browser/.
func startDemoServer(t *testing.T) *testServer {
	t.Helper()
	env := sandboxEnv()
	wd, _ := os.Getwd()
	if err := os.Chdir(".."); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, nil, env)
	_ = os.Chdir(wd)
	return ts
}

// The browser example works in a real browser against a sandbox-mode server:
// headless Chromium, driven by playwright-core, runs examples/browser.
func TestBrowserExample(t *testing.T) {
	chromium := needChromium(t)
	ts := startDemoServer(t)

	cmd := exec.Command("node", "browser-check.js")
	cmd.Dir = nodeExamples
	cmd.Env = append(os.Environ(), "SERVER_URL="+ts.URL, "CHROMIUM="+chromium)
	out, err := cmd.Output()
	var r struct {
		OK                bool           `json:"ok"`
		Error             string         `json:"error"`
		Distributed       map[string]any `json:"distributed"`
		ParticipantTokens []string       `json:"participantTokens"`
		Errors            []string       `json:"errors"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil || err != nil || !r.OK {
		t.Fatalf("browser check failed: %v %v\n%s", err, r.Error, out)
	}
	if str(r.Distributed["delivered"]) != "[participant@example.com]" || str(r.Distributed["offline"]) != "[offline@example.com]" {
		t.Fatalf("host page showed %v", r.Distributed)
	}
	if len(r.ParticipantTokens) != 1 || !strings.Contains(r.ParticipantTokens[0], "OBF for meeting 85746065432") {
		t.Fatalf("participant page showed %v", r.ParticipantTokens)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("page errors: %v", r.Errors)
	}
}

// The connect flow in a real browser against a sandbox-mode server (the
// sandbox's own General app): consent allowed on the sandbox's page, the
// callback page says connected, and a join for that user is then minted
// through the connection; Deny, and the used callback URL opened again,
// are refused; the browser example's Connect button connects too. A
// screenshot of each page is written to the test's temp dir, or to
// SCREENSHOT_DIR; the test prints the paths.
func TestBrowserConnect(t *testing.T) {
	chromium := needChromium(t)
	ts := startDemoServer(t)
	const user, demoUser = "ann@partner.example", "dan@partner.example"
	shots := os.Getenv("SCREENSHOT_DIR") // to keep them; else the test's temp dir
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("node", "connect-check.js")
	cmd.Dir = nodeExamples
	cmd.Env = append(os.Environ(), "SERVER_URL="+ts.URL, "CHROMIUM="+chromium, "SHOT_DIR="+shots,
		"CONNECT_USER="+user, "DEMO_USER="+demoUser)
	out, err := cmd.Output()
	type shown struct{ URL, Title, Message string }
	var r struct {
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
		Consent struct {
			URL, User string
			HasDeny   bool
		}
		Allow, Deny, Replay shown
		Demo                struct {
			Callback shown
			Status   string
		}
		Shots  []string
		Errors []string
	}
	jerr := json.Unmarshal(out, &r)
	t.Logf("screenshots: %v", r.Shots)
	if jerr != nil || err != nil || !r.OK {
		t.Fatalf("connect check failed: %v %v\n%s\nserver logs:\n%s", err, r.Error, out, ts.Logs)
	}
	if !strings.Contains(r.Consent.URL, "/oauth/authorize?") || !r.Consent.HasDeny || r.Consent.User == "" {
		t.Errorf("consent page = %+v", r.Consent)
	}
	if r.Allow.Title != "Zoom account connected" || !strings.Contains(r.Allow.Message, user) {
		t.Errorf("after Allow the page showed %+v", r.Allow)
	}
	if r.Deny.Title != "Zoom account not connected" || !strings.Contains(r.Deny.Message, "denied") {
		t.Errorf("after Deny the page showed %+v", r.Deny)
	}
	if r.Replay.URL != r.Allow.URL || r.Replay.Title != "Zoom account not connected" ||
		!strings.Contains(r.Replay.Message, "link is unknown, was already used") {
		t.Errorf("the used callback URL again showed %+v", r.Replay)
	}
	if r.Demo.Callback.Title != "Zoom account connected" || !strings.HasPrefix(r.Demo.Status, "connected as "+demoUser) {
		t.Errorf("the example's Connect button: callback %+v, status %q", r.Demo.Callback, r.Demo.Status)
	}
	if len(r.Errors) > 0 {
		t.Errorf("page errors: %v", r.Errors)
	}

	// The connected users' joins are minted through their connections.
	for _, u := range []string{user, demoUser} {
		tok := ts.do("POST", "/sandbox/tokens", map[string]any{"sub": u, "role": "participant"}, nil)
		if tok.Status != 200 || tok.Body["token"] == nil {
			t.Fatalf("sandbox token = %d %s", tok.Status, tok.Raw)
		}
		j := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": u},
			map[string]string{"Authorization": "Bearer " + str(tok.Body["token"])})
		if j.Status != 200 || j.Body["via"] != "connection" {
			t.Errorf("join for %s = %d %s; want via connection", u, j.Status, j.Raw)
		}
	}
	ts.assertNoSecretsLogged()
}

// The browser example's bot joins the meeting with the OBF and SDK bundle
// its page received: the page shows the judge's refusal while the user is not
// in the meeting, then the join with a fresh OBF once they are.
func TestBrowserExampleBotJoins(t *testing.T) {
	chromium := needChromium(t)
	ts := startDemoServer(t)
	sb := meetingsOf(t, ts)
	sb.create()
	page := startNodeScript(t, map[string]string{"SERVER_URL": ts.URL, "CHROMIUM": chromium, "USER_ID": botUser,
		"MEETING_ID": joinMeeting, "JOIN_EVERY_S": "0.1"}, "join-check.js")
	refused := page.next("refused")
	if s := str(refused["status"]); !strings.Contains(s, "refused: 65535 authorized user not in meeting") {
		t.Fatalf("the page showed %v", refused)
	}
	sb.assertBotUserIn(false)

	sb.admit(botUser)
	joined := page.next("joined")
	log, _ := joined["log"].([]any)
	if s := str(joined["status"]); !strings.Contains(s, "joined meeting "+joinMeeting+" on behalf of "+botUser) ||
		!strings.Contains(s, "sandbox judge") || len(log) < 2 {
		t.Fatalf("the page showed %v", joined)
	}
	last := str(log[len(log)-1])
	if !strings.HasPrefix(last, "joined: ") || strings.Contains(str(log[0]), obfFingerprint(last)) {
		t.Fatalf("the join did not use a fresh OBF: %v", log)
	}
	if errs, _ := joined["errors"].([]any); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
	if err := <-page.done; err != nil {
		t.Fatalf("join-check.js exited with %v", err)
	}
	sb.assertBotUserIn(true)
}

// obfFingerprint is the "OBF <fingerprint>" the page shows for an attempt.
func obfFingerprint(line string) string {
	i := strings.Index(line, "OBF ")
	if i < 0 || len(line) < i+20 {
		return "no fingerprint in " + line
	}
	return line[i : i+20]
}
