package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's commands are run here as a newcomer pastes them, against the
// real binary in sandbox mode, so the README cannot drift from what works.
// The one change made to them is the one the README itself documents: on
// another port, replace 3000 (the test's server listens on a free port).

// readmeBlocks are the fenced blocks of README.md, each with the text that
// stands before it (to find a block by what introduces it).
type readmeBlock struct{ intro, lang, body string }

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	var text strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{intro: text.String(), lang: strings.TrimPrefix(line, "```")}
			text.Reset()
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		default:
			text.WriteString(line + "\n")
		}
	}
	return blocks
}

// block is the first block whose introduction contains intro.
func block(t *testing.T, blocks []readmeBlock, intro string) readmeBlock {
	t.Helper()
	for _, b := range blocks {
		if strings.Contains(b.intro, intro) {
			return b
		}
	}
	t.Fatalf("README has no block introduced by %q", intro)
	return readmeBlock{}
}

// readmeServer is the real binary in sandbox mode on a free port, as
// `make run` starts it, and the port the README's 3000 becomes.
func readmeServer(t *testing.T) (port string) {
	t.Helper()
	ts := startProcess(t, nil, map[string]string{"PORT": "0", "HOST": "127.0.0.1"})
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", tail(ts.Logs.String(), 8000))
		}
	})
	return u.Port()
}

// shell runs script with bash from the repository's root, as a user would
// paste it there, with 3000 (and 8080, the README's other port) replaced
// by port; it answers what the script printed.
func shell(t *testing.T, port, script string, timeout time.Duration) string {
	t.Helper()
	script = strings.NewReplacer(":3000", ":"+port, "PORT=8080", "PORT="+port).Replace(script)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "PORT="+port)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's commands failed (%v):\n%s\nstdout:\n%s\nstderr:\n%s", err, script, out.String(), tail(errOut.String(), 4000))
	}
	return out.String()
}

// sameShape says whether got matches want, a README line: the same JSON,
// where a string of want ending in "…" matches any string that starts
// with what stands before it ("eyJhbGci…", or "…" for any value).
func sameShape(want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%v is not an object", got)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return "no field " + k
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return "a field the README does not show: " + k
			}
			if why := sameShape(w[k], g[k]); why != "" {
				return k + ": " + why
			}
		}
		return ""
	case string:
		g, ok := got.(string)
		if prefix, short := strings.CutSuffix(w, "…"); short && ok && strings.HasPrefix(g, prefix) {
			return ""
		}
		if !ok || g != w {
			return fmt.Sprintf("%v, the README shows %q", got, w)
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Sprintf("%v, the README shows %v", got, want)
		}
		return ""
	}
}

// The quick start's curl session prints what the README says it prints.
func TestREADMEQuickStartSession(t *testing.T) {
	blocks := readmeBlocks(t)
	session := block(t, blocks, "this session works as pasted")
	printed := block(t, blocks, "It prints three lines")
	port := readmeServer(t)
	out := shell(t, port, session.body, 60*time.Second)
	got := strings.Split(strings.TrimSpace(out), "\n")
	want := strings.Split(strings.TrimSpace(printed.body), "\n")
	if len(got) != len(want) {
		t.Fatalf("the session printed %d lines, the README shows %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		var w, g any
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatalf("README line %d is not JSON: %v", i+1, err)
		}
		if err := json.Unmarshal([]byte(got[i]), &g); err != nil {
			t.Fatalf("printed line %d is not JSON: %v\n%s", i+1, err, got[i])
		}
		if why := sameShape(w, g); why != "" {
			t.Errorf("line %d: %s\nprinted: %s", i+1, why, got[i])
		}
	}
}

// needNodeExamples skips outside CI when the Node examples' packages are
// not installed (make test installs them; CI must have them).
func needNodeExamples(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nodeExamples + "/node_modules/socket.io-client"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("socket.io-client is not installed: run `make node-deps` (make test does it)")
		}
		t.Skip("socket.io-client is not installed: run `make node-deps`")
	}
}

var joinedRe = regexp.MustCompile(`(?i)joined`)

// The Examples section's bots join the examples' meeting once their user
// is in it, each command exactly as written.
func TestREADMEExampleBotsJoin(t *testing.T) {
	needNodeExamples(t)
	commands := block(t, readmeBlocks(t), "put the bots' user in first")
	port := readmeServer(t)
	for _, line := range strings.Split(strings.TrimSpace(commands.body), "\n") {
		out := shell(t, port, line, 3*time.Minute)
		if strings.Contains(line, "-join") || strings.Contains(line, "npm run bot") {
			if !joinedRe.MatchString(out) {
				t.Errorf("%s\ndid not join; it printed:\n%s", line, tail(out, 3000))
			}
		}
	}
}

// The by-hand scenario: a bot waits for its user in a meeting of another
// account, and joins once the user is in.
func TestREADMEExampleScenario(t *testing.T) {
	scenario := block(t, readmeBlocks(t), "The scenario the tests run, by hand")
	port := readmeServer(t)
	out := shell(t, port, scenario.body+"wait\n", 3*time.Minute)
	if !joinedRe.MatchString(out) {
		t.Errorf("the bot did not join; the scenario printed:\n%s", tail(out, 3000))
	}
}

// The terminals of the Examples section: the Go client, and the Node
// participant that waits for the OBF the Node host distributes to it.
func TestREADMEExampleTerminals(t *testing.T) {
	needNodeExamples(t)
	terminals := block(t, readmeBlocks(t), "so the same")
	port := readmeServer(t)
	var participant, host string
	for _, line := range strings.Split(strings.TrimSpace(terminals.body), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		cmd = strings.TrimSpace(cmd)
		switch {
		case strings.Contains(cmd, "make run"): // the server: running already
		case strings.Contains(cmd, "npm run participant"):
			participant = cmd
		case strings.Contains(cmd, "npm run host"):
			host = cmd
		default:
			shell(t, port, cmd, 2*time.Minute)
		}
	}
	if participant == "" || host == "" {
		t.Fatalf("the Examples block has no participant and host terminals:\n%s", terminals.body)
	}
	out := shell(t, port, participant+" > /tmp/readme-participant.$$ 2>&1 & p=$!; sleep 3; "+host+
		" > /dev/null; wait $p; cat /tmp/readme-participant.$$; rm -f /tmp/readme-participant.$$", 2*time.Minute)
	if !strings.Contains(out, `"event":"credentials"`) {
		t.Errorf("the participant got no OBF from the host; it printed:\n%s", tail(out, 3000))
	}
}
