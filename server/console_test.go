package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/web/console"
)

// startServerIn starts a server with dir as its working directory, so that
// nothing it serves can come from the repository's files on disk.
func startServerIn(t *testing.T, dir string, env map[string]string) *testServer {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	return startServer(t, nil, env)
}

// The console is served from the binary in zoom mode too, from any working
// directory, with its headers; GET / lists it; /console redirects.
func TestConsoleServedInZoomMode(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServerIn(t, t.TempDir(), zoomEnv(sb))

	r := ts.do("GET", "/console/", nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, `<script src="console.js">`) {
		t.Fatalf("GET /console/ = %d %.200s", r.Status, r.Raw)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
		"Content-Security-Policy": console.CSP, "X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("GET /console/: %s = %q, want %q", k, got, want)
		}
	}
	for path, ctype := range map[string]string{"/console/console.js": "text/javascript; charset=utf-8", "/console/console.css": "text/css; charset=utf-8"} {
		if r := ts.do("GET", path, nil, nil); r.Status != http.StatusOK || r.Header.Get("Content-Type") != ctype {
			t.Errorf("GET %s = %d %q", path, r.Status, r.Header.Get("Content-Type"))
		}
	}
	if r := ts.do("HEAD", "/console/", nil, nil); r.Status != http.StatusOK {
		t.Errorf("HEAD /console/ = %d", r.Status)
	}
	if r := ts.do("GET", "/console/vendor/README.md", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /console/vendor/README.md = %d, want 404 (only the page's files are served)", r.Status)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(ts.URL + "/console")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console = %d Location %q, want 302 /console/", res.StatusCode, res.Header.Get("Location"))
	}

	info := ts.do("GET", "/", nil, nil)
	if _, ok := field(info.Body, "endpoints").(map[string]any)["GET /console/"]; !ok {
		t.Errorf("GET / does not list the console: %s", info.Raw)
	}
}

// copyCheck is what console-check.js saw of one Copy button (and, for a
// token or signature, its Show toggle); never the value itself.
type copyCheck struct {
	Label, Note, ShowLabel, HideLabel          string
	ByExecCommand, Matches, Shown, MaskedAgain bool
	Before, AfterCopy                          struct{ InDOM, InStorage, InURL bool }
	Length                                     int
}

// checkCopies: every Copy put on the clipboard the very value the server
// sent (the ZAK through the fallback for pages without navigator.clipboard),
// said "Copied", and has a label; no value was in the page before Show, nor
// in storage or the URL; Show reveals it and Hide masks it again.
func checkCopies(t *testing.T, copies map[string]copyCheck) {
	t.Helper()
	for _, name := range []string{"zak", "signature", "obf", "sdkJSON"} {
		c, ok := copies[name]
		if !ok {
			t.Errorf("no Copy checked for %s: %v", name, copies)
			continue
		}
		if !c.Matches || c.Note != "Copied" || !strings.HasPrefix(c.Label, "Copy ") || c.ByExecCommand != (name == "zak") {
			t.Errorf("Copy of %s: %+v; want the server's value on the clipboard, \"Copied\", a label (by execCommand only for zak)", name, c)
		}
		if c.Before.InDOM || c.Before.InStorage || c.Before.InURL {
			t.Errorf("%s before Show: %+v; want it nowhere in the page", name, c.Before)
		}
		if name == "sdkJSON" {
			continue
		}
		if c.Length == 0 || c.AfterCopy.InDOM || c.AfterCopy.InStorage || c.AfterCopy.InURL {
			t.Errorf("%s after Copy: %+v; want it still nowhere in the page", name, c)
		}
		if !c.Shown || !c.MaskedAgain || !strings.HasPrefix(c.ShowLabel, "Show ") || !strings.HasPrefix(c.HideLabel, "Hide ") {
			t.Errorf("Show of %s: %+v; want the value after Show, masked again after Hide, labelled buttons", name, c)
		}
	}
}

// The console in headless Chromium against a sandbox-mode server started from
// an empty temporary directory (so its files can only come from the binary):
// sign in (a bad user id first: the sentence in the page's words, the button
// usable again), a participant waiting on a second page, start, distribute
// (a bad user id first, then to an online, an offline and an unmintable
// user), the participant's OBF and SDK bundle, Copy and Show on the tokens,
// the signature and the bundle, and connecting a Zoom account.
// A screenshot of each step is written to the test's temp dir, or to
// SCREENSHOT_DIR; the test prints the paths.
func TestConsoleInBrowser(t *testing.T) {
	chromium := needChromium(t)
	h, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasBundle() {
		t.Fatal("the console was built without socket.io-client's bundle: run `make node-deps` (make test does it)")
	}
	ts := startServerIn(t, t.TempDir(), sandboxEnv())
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const host, participant, offline, unmintable = "host@example.com", "participant@example.com", "offline@example.com", "nobody@partner.example"

	cmd := exec.Command("node", "console-check.js")
	cmd.Dir = nodeExamples
	cmd.Env = append(os.Environ(), "SERVER_URL="+ts.URL, "CHROMIUM="+chromium, "SHOT_DIR="+shots, "MEETING="+meeting,
		"HOST_USER="+host, "PARTICIPANT_USER="+participant, "OFFLINE_USER="+offline, "FAILED_USER="+unmintable)
	out, err := cmd.Output()
	type card struct{ Title, Token, Signature, SDKKey, MeetingNumber, Role, Status, Text string }
	type failure struct {
		Text           string
		ButtonDisabled bool
	}
	var r struct {
		OK          bool
		Error       string
		Mode        string
		SigninError failure
		HostSession struct{ User, Role string }
		Participant struct {
			Status             string
			HostSectionsHidden bool
		} `json:"participantView"`
		Start       card
		DistError   failure
		Distributed struct {
			ErrorHidden bool
			Summary     map[string]string
			Rows        []struct {
				User, Outcome string
				Cells         []string
			}
		}
		Received   card
		Copies     map[string]copyCheck
		Connection struct {
			CallbackTitle, Status string
			Row                   []string
		}
		AfterReload  string
		Disconnected string
		Leaks        map[string]struct {
			InSession, InURL, InDOM bool
			InLocalStorage          int
		}
		SignedOut       int
		Shots           []string
		Errors          []string
		ConsoleMessages []struct{ Page, Type, Text string }
	}
	jerr := json.Unmarshal(out, &r)
	t.Logf("screenshots: %v", r.Shots)
	if jerr != nil || err != nil || !r.OK {
		t.Fatalf("console check failed: %v %v %v\n%s\nserver logs:\n%s", err, jerr, r.Error, out, ts.Logs)
	}

	if !strings.Contains(r.Mode, "SANDBOX MODE") {
		t.Errorf("mode banner = %q", r.Mode)
	}
	// Errors: the server's sentence, with the page's words for the field.
	if !strings.Contains(r.SigninError.Text, "user id must be a Zoom user id") || strings.Contains(r.SigninError.Text, "sub") ||
		r.SigninError.ButtonDisabled {
		t.Errorf("sign-in with a bad user id showed %+v", r.SigninError)
	}
	if r.HostSession.User != host || r.HostSession.Role != "host" {
		t.Errorf("signed in as %+v", r.HostSession)
	}
	if !strings.Contains(r.Participant.Status, "Waiting for tokens for "+participant) || !r.Participant.HostSectionsHidden {
		t.Errorf("participant view = %+v", r.Participant)
	}
	// Start: the ZAK masked, the SDK bundle's fields.
	if r.Start.Title != "ZAK for meeting "+meeting+" · "+host || !strings.HasPrefix(r.Start.Token, "•••") ||
		!strings.HasPrefix(r.Start.Signature, "•••") || r.Start.SDKKey == "" || r.Start.MeetingNumber != meeting ||
		r.Start.Role != "1 (host)" {
		t.Errorf("start showed %+v", r.Start)
	}
	if !strings.Contains(r.DistError.Text, `participant user id #2 "not a user id"`) || strings.Contains(r.DistError.Text, "participantUserIds") ||
		r.DistError.ButtonDisabled {
		t.Errorf("distribute with a bad user id showed %+v", r.DistError)
	}
	// Distribute: minted vs delivered vs offline vs failed, truthfully.
	if !r.Distributed.ErrorHidden {
		t.Error("the earlier error still shows after a distribute that worked")
	}
	if s := r.Distributed.Summary; s["minted"] != "2" || s["delivered"] != "1" || s["offline"] != "1" || s["failed"] != "1" {
		t.Errorf("distribute summary = %v", s)
	}
	outcomes := map[string]string{}
	for _, row := range r.Distributed.Rows {
		outcomes[row.User] = row.Outcome
		if row.User == unmintable && (row.Cells[2] != "not_connected" || !strings.Contains(row.Cells[3], "has not connected a Zoom account")) {
			t.Errorf("failed user's row = %v, want its code and the server's reason", row.Cells)
		}
	}
	if outcomes[participant] != "delivered" || outcomes[offline] != "offline" || outcomes[unmintable] != "failed" || len(outcomes) != 3 {
		t.Errorf("distribute rows = %v", outcomes)
	}
	// The participant's page: its OBF arrived, masked, with its SDK bundle.
	if r.Received.Title != "OBF for meeting "+meeting+" · "+participant || !strings.HasPrefix(r.Received.Token, "•••") ||
		!strings.HasPrefix(r.Received.Signature, "•••") || r.Received.SDKKey == "" || r.Received.MeetingNumber != meeting ||
		r.Received.Role != "0 (attendee)" || !strings.HasPrefix(r.Received.Status, "Received 1 token") {
		t.Errorf("participant page showed %+v", r.Received)
	}
	if strings.Contains(r.Received.Text, "eyJ") {
		t.Error("a token or signature shows in the clear")
	}
	checkCopies(t, r.Copies)
	// Connections: the consent window, then the table.
	if r.Connection.CallbackTitle != "Zoom account connected" || r.Connection.Status != "Connected as "+host+"." ||
		len(r.Connection.Row) < 5 || r.Connection.Row[0] != host || r.Connection.Row[4] != "connected" {
		t.Errorf("connection = %+v", r.Connection)
	}
	if r.AfterReload != host {
		t.Errorf("after a reload the page is signed in as %q, want %s", r.AfterReload, host)
	}
	if !strings.HasPrefix(r.Disconnected, "Disconnected "+host+":") {
		t.Errorf("after Disconnect the status is %q", r.Disconnected)
	}
	// The caller token: in the tab's session only, gone after signing out.
	for name, l := range r.Leaks {
		if !l.InSession || l.InURL || l.InDOM || l.InLocalStorage != 0 {
			t.Errorf("%s page: caller token %+v; want it in sessionStorage only", name, l)
		}
	}
	if r.SignedOut != 0 {
		t.Errorf("after signing out sessionStorage holds %d items", r.SignedOut)
	}
	// The pages log nothing; the browser reports the refused requests (400)
	// and, on the sandbox's consent pages, what those load.
	for _, m := range r.ConsoleMessages {
		leak := strings.Contains(m.Text, "eyJ") || strings.Contains(m.Text, "Content Security Policy")
		expected := m.Page == "popup" || (m.Type == "error" && strings.Contains(m.Text, "status of 400"))
		if leak || !expected {
			t.Errorf("browser console (%s, %s): %s", m.Page, m.Type, m.Text)
		}
	}
	if len(r.Errors) > 0 {
		t.Errorf("page errors: %v", r.Errors)
	}
	if strings.Contains(ts.Logs.String(), "eyJ") {
		t.Error("a JWT (caller token, ZAK, OBF or signature) appears in the server's logs")
	}
}
