package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// The join scenario every example is run through: a meeting hosted by a user
// of another account (so an SDK app needs an OBF), a bot joining on behalf of
// botUser, refused while botUser is not in the meeting, let in once they are.
const (
	joinMeeting = "86123456789"
	outsideHost = "host@" + sandbox.PartnerDomain
	botUser     = "pat@example.com"
)

// sandboxMeetings is the sandbox of a sandbox-mode server, reached as a
// client reaches it: its controls, on the server's own port.
type sandboxMeetings struct {
	t  *testing.T
	ts *testServer
}

func meetingsOf(t *testing.T, ts *testServer) sandboxMeetings {
	t.Helper()
	r := ts.do("GET", "/", nil, nil)
	url, _ := field(r.Body, "sandbox", "url").(string)
	if r.Status != 200 || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("GET / names no sandbox URL: %d %s", r.Status, r.Raw)
	}
	if _, ok := field(r.Body, "endpoints", "POST /sandbox/sdk/join").(string); !ok {
		t.Fatalf("GET / lists no POST /sandbox/sdk/join: %s", r.Raw)
	}
	return sandboxMeetings{t: t, ts: ts}
}

func (s sandboxMeetings) call(method, path string, body any) map[string]any {
	s.t.Helper()
	r := s.ts.do(method, path, body, nil)
	if r.Status/100 != 2 || r.Body == nil {
		s.t.Fatalf("%s %s = %d %s", method, path, r.Status, r.Raw)
	}
	return r.Body
}

// create makes the outside meeting of the scenario.
func (s sandboxMeetings) create() {
	s.t.Helper()
	m := s.call("POST", "/sandbox/meetings", map[string]any{"number": joinMeeting, "host": outsideHost})
	if m["account_id"] != sandbox.PartnerAccountID {
		s.t.Fatalf("the meeting is not outside the sandbox's account: %v", m)
	}
}

// participants lists the user ids in the meeting now, as the sandbox holds them.
func (s sandboxMeetings) participants() []string {
	s.t.Helper()
	var ids []string
	for _, p := range s.call("GET", "/sandbox/meetings/"+joinMeeting, nil)["participants"].([]any) {
		ids = append(ids, p.(string))
	}
	return ids
}

// admit puts the user in the meeting, as the user joining in their Zoom client.
func (s sandboxMeetings) admit(user string) {
	s.t.Helper()
	s.call("POST", "/sandbox/meetings/"+joinMeeting+"/participants", map[string]any{"user": user})
}

// assertBotUserIn fails unless botUser's presence in the meeting is want, and nobody else is in it.
func (s sandboxMeetings) assertBotUserIn(want bool) {
	s.t.Helper()
	got := s.participants()
	if in := slices.Contains(got, sandbox.UserID(botUser)); in != want || len(got) > 1 {
		s.t.Fatalf("participants = %v; want %s in it: %v", got, botUser, want)
	}
}

// textLines reads a process's output line by line.
type textLines struct {
	t     *testing.T
	lines chan string
	all   []string
}

func startText(t *testing.T, cmd *exec.Cmd) *textLines {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &textLines{t: t, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	return l
}

// next waits for a line containing want. A build of the example can take a
// while on a busy machine: the bound is generous, and only stops a stuck test.
func (l *textLines) next(want string) string {
	l.t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case s, ok := <-l.lines:
			if !ok {
				l.t.Fatalf("the example ended without %q:\n%s", want, strings.Join(l.all, "\n"))
			}
			l.all = append(l.all, s)
			if strings.Contains(s, want) {
				return s
			}
		case <-timeout:
			l.t.Fatalf("the example said no %q:\n%s", want, strings.Join(l.all, "\n"))
		}
	}
}

// drain reads the rest of the output, until the process closes it.
func (l *textLines) drain() {
	for s := range l.lines {
		l.all = append(l.all, s)
	}
}

var obfPrint = regexp.MustCompile(`\(OBF ([0-9a-f]{16})\)`)

// The Go example joins the meeting with the OBF and SDK bundle it received:
// refused by the sandbox's judge while the user is not in the meeting, let in
// with a fresh OBF once they are.
func TestGoExampleJoinsWithItsBundle(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	sb := meetingsOf(t, ts)
	sb.create()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "../examples/goclient", "-url", ts.URL, "-meeting", joinMeeting,
		"-participant", botUser, "-join", "-join-wait", "3m", "-join-every", "100ms")
	out := startText(t, cmd)
	out.next("the sandbox's judge (POST /sandbox/sdk/join) stands in for the Meeting SDK's join")
	refused := out.next("REFUSED by the judge: 65535 authorized user not in meeting")
	sb.assertBotUserIn(false)

	sb.admit(botUser)
	joined := out.next("JOINED meeting " + joinMeeting)
	out.drain()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the example failed: %v\n%s", err, strings.Join(out.all, "\n"))
	}
	if !strings.Contains(joined, "on behalf of "+botUser) {
		t.Errorf("joined line = %q", joined)
	}
	a, b := obfPrint.FindStringSubmatch(refused), obfPrint.FindStringSubmatch(joined)
	if a == nil || b == nil || a[1] == b[1] {
		t.Errorf("the join did not use a fresh OBF: %q then %q", refused, joined)
	}
	sb.assertBotUserIn(true)
	// Every token here (caller JWTs, ZAK, OBF, SDK signature) is a JWT: none
	// may be in the example's output, nor in the server's log, which logged
	// the judge's requests too.
	if all := strings.Join(out.all, "\n"); strings.Contains(all, "eyJ") {
		t.Errorf("a token is in the example's output:\n%s", all)
	}
	if !strings.Contains(ts.Logs.String(), "/sandbox/sdk/join") || strings.Contains(ts.Logs.String(), "eyJ") {
		t.Errorf("the judge's requests are not logged, or a token is in the server's log:\n%s", ts.Logs)
	}
	ts.assertNoSecretsLogged()
}

// Against real Zoom (here: zoom mode pointed at a sandbox) the Go example
// does not pretend to join: it prints what a Meeting SDK app would pass,
// without the tokens.
func TestGoExamplePrintsJoinParametersAgainstZoom(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = "sdk-key-example", "sdk-secret-0123456789abcdef0123"
	ts := startServer(t, sb, env)
	host := strings.TrimPrefix(bearer(t, "host@example.com", "host")["Authorization"], "Bearer ")
	pat := strings.TrimPrefix(bearer(t, botUser, "")["Authorization"], "Bearer ")
	out, err := exec.Command("go", "run", "../examples/goclient", "-url", ts.URL, "-meeting", joinMeeting,
		"-participant", botUser, "-host-token", host, "-participant-token", pat, "-join").CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"ZOOM MODE: this example does not join a real meeting",
		`ZoomMtg.join({signature: <signature: `, `sdkKey: "sdk-key-example", meetingNumber: "` + joinMeeting + `", obfToken: <OBF: `,
		`userName: "Token server example bot"})`, "onBehalfToken: <OBF: "} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("JOINED")) || bytes.Contains(out, []byte("judge")) {
		t.Errorf("the example claims a join against Zoom:\n%s", out)
	}
	for _, s := range append(sb.IssuedSecrets(), host, pat) {
		if len(s) >= 8 && bytes.Contains(out, []byte(s)) {
			t.Errorf("a token (%d chars) is in the example's output", len(s))
		}
	}
	if r := ts.do("POST", "/sandbox/sdk/join", map[string]any{}, nil); r.Status != 404 {
		t.Errorf("zoom mode serves the sandbox's judge: %d", r.Status)
	}
}
