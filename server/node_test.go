package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

const nodeExamples = "../examples/node"

type nodeClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan map[string]any
	all   []map[string]any
	done  chan error
}

// startNode runs examples/node/client.js with the official socket.io-client 4.
func startNode(t *testing.T, role string, env map[string]string) *nodeClient {
	t.Helper()
	return startNodeScript(t, env, "client.js", role)
}

// startNodeScript runs one of the scripts in examples/node.
func startNodeScript(t *testing.T, env map[string]string, args ...string) *nodeClient {
	t.Helper()
	return startNodeCommand(t, env, "node", args...)
}

// startNodeCommand runs a command (node, or npm as a user types it) in
// examples/node; only the JSON lines of its output are read.
func startNodeCommand(t *testing.T, env map[string]string, name string, args ...string) *nodeClient {
	t.Helper()
	if _, err := os.Stat(nodeExamples + "/node_modules/socket.io-client"); err != nil {
		t.Fatal("socket.io-client is not installed: run `make node-deps` (make test does it)")
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = nodeExamples
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeClient{t: t, cmd: cmd, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				n.lines <- m
			}
		}
		close(n.lines)
		n.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return n
}

// next waits for the next line whose event is one of events; a fatal
// line or a connect_error fails the test.
func (n *nodeClient) next(events ...string) map[string]any {
	n.t.Helper()
	m := n.nextLine(events...)
	if !slices.Contains(events, str(m["event"])) {
		n.t.Fatalf("node client: %v", m)
	}
	return m
}

// nextLine waits for the next line whose event is one of events; a fatal
// line or a connect_error ends the wait too, and is returned.
func (n *nodeClient) nextLine(events ...string) map[string]any {
	n.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-n.lines:
			if !ok {
				n.t.Fatalf("node script ended; lines so far: %v", n.all)
			}
			n.all = append(n.all, m)
			if m["event"] == "fatal" || m["event"] == "connect_error" {
				return m
			}
			for _, e := range events {
				if m["event"] == e {
					return m
				}
			}
		case <-timeout:
			n.t.Fatalf("node script said no %v; lines so far: %v", events, n.all)
		}
	}
}

func fingerprint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])[:16]
}

func TestNodeSocketIOClient(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	token := func(sub, role string) string {
		return strings.TrimPrefix(bearer(t, sub, role)["Authorization"], "Bearer ")
	}
	alice := startNode(t, "participant", map[string]string{"SERVER_URL": ts.URL, "USER_ID": "alice@example.com",
		"TOKEN": token("alice@example.com", ""), "TRANSPORT": "websocket", "EXPECT": "2"})
	bob := startNode(t, "participant", map[string]string{"SERVER_URL": ts.URL, "USER_ID": "bob@example.com",
		"TOKEN": token("bob@example.com", ""), "TRANSPORT": "polling", "EXPECT": "1"})
	if r := alice.next("ready"); r["userId"] != "alice@example.com" || r["transport"] != "websocket" {
		t.Fatalf("alice ready = %v", r)
	}
	if r := bob.next("ready"); r["userId"] != "bob@example.com" || r["transport"] != "polling" {
		t.Fatalf("bob ready = %v", r)
	}

	// A REST join for alice reaches alice's socket with the very token minted.
	j := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "alice@example.com"}, adminKey)
	if j.Status != 200 || j.Body["delivered"] != true {
		t.Fatalf("join = %d %s", j.Status, j.Raw)
	}
	if c := alice.next("credentials"); c["fingerprint"] != fingerprint(str(j.Body["obfToken"])) || c["meetingId"] != meeting {
		t.Fatalf("alice got %v, want the token REST minted", c)
	}

	// A host client distributes to alice (online) and carol (offline).
	host := startNode(t, "host", map[string]string{"SERVER_URL": ts.URL, "USER_ID": "host@example.com",
		"TOKEN": token("host@example.com", "host"), "PARTICIPANTS": "alice@example.com,carol@example.com"})
	d := host.next("distributed")
	if d["success"] != true || d["successful"] != float64(2) || str(d["delivered"]) != "[alice@example.com]" || str(d["offline"]) != "[carol@example.com]" {
		t.Fatalf("distributed = %v", d)
	}
	if c := alice.next("credentials"); c["userId"] != "alice@example.com" {
		t.Fatalf("alice's second token = %v", c)
	}
	if r := alice.next("done"); r["received"] != float64(2) {
		t.Fatalf("alice done = %v", r)
	}

	// Only now is bob sent a token: the first he receives must be his own,
	// so he received none of alice's.
	jb := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "bob@example.com"}, adminKey)
	c := bob.next("credentials")
	if c["userId"] != "bob@example.com" || c["fingerprint"] != fingerprint(str(jb.Body["obfToken"])) || c["transport"] != "polling" {
		t.Fatalf("bob got %v (all: %v)", c, bob.all)
	}
	if r := bob.next("done"); r["received"] != float64(1) {
		t.Fatalf("bob done = %v", r)
	}
	for _, n := range []*nodeClient{alice, bob, host} {
		if err := <-n.done; err != nil {
			t.Errorf("node client exited with %v", err)
		}
	}
}

func TestNodeClientRefusedWithBadToken(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	n := startNode(t, "participant", map[string]string{"SERVER_URL": ts.URL, "TOKEN": "forged.jwt.value"})
	r := n.next("connect_error")
	if r["message"] != "unauthorized" {
		t.Fatalf("connect_error = %v", r)
	}
}

// The Node example works against a server in sandbox mode, as the README says.
func TestNodeExampleInSandboxMode(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	p := startNode(t, "participant", map[string]string{"SERVER_URL": ts.URL, "USER_ID": "participant@example.com"})
	p.next("ready")
	h := startNode(t, "host", map[string]string{"SERVER_URL": ts.URL, "PARTICIPANTS": "participant@example.com"})
	if d := h.next("distributed"); str(d["delivered"]) != "[participant@example.com]" {
		t.Fatalf("distributed = %v; the participant printed %v", d, p.all)
	}
	if c := p.next("credentials"); c["userId"] != "participant@example.com" {
		t.Fatalf("credentials = %v", c)
	}
}

// When the server disconnects a client (here: too many wrong credentials),
// socket.io-client must see "io server disconnect", with the reason first,
// and not reconnect. It used to see a transport error and reconnect forever.
func TestNodeClientStopsWhenTheServerDisconnects(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	n := startNodeScript(t, map[string]string{"SERVER_URL": ts.URL, "WAIT_MS": "20000"}, "disconnect.js", "kicked")
	if e := n.next("error"); e["code"] != "unauthorized" {
		t.Fatalf("first error = %v", e)
	}
	d := n.next("done")
	if d["reason"] != "io server disconnect" || d["reconnects"] != float64(0) || d["active"] != false {
		t.Fatalf("done = %v (all: %v)", d, n.all)
	}
	sawReason := false
	for _, l := range n.all {
		if l["event"] == "error" && l["code"] == "rate_limited" {
			sawReason = true
		}
	}
	if !sawReason {
		t.Fatalf("no rate_limited error event before the disconnect: %v", n.all)
	}
}

// socket.io-client's close() over websocket waited 30 s for the server to
// end the TCP connection. The bound here is far below that and far above
// what a working close takes.
func TestNodeClientCloseCompletes(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	tok := strings.TrimPrefix(bearer(t, "pat@example.com", "")["Authorization"], "Bearer ")
	n := startNodeScript(t, map[string]string{"SERVER_URL": ts.URL, "TOKEN": tok, "WAIT_MS": "10000"}, "disconnect.js", "close")
	// The client closed without a status, so the server's answer echoes none (1005).
	if c := n.next("closed", "timeout"); c["event"] != "closed" || (c["code"] != float64(1005) && c["code"] != float64(1000)) {
		t.Fatalf("close = %v (all: %v)", c, n.all)
	}
}

// The Node bot joins the meeting with the OBF and SDK bundle of its
// meeting:join answer: refused by the sandbox's judge while its user is not
// in the meeting, let in with a fresh OBF once they are.
func TestNodeExampleBotJoinsWithItsBundle(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	sb := meetingsOf(t, ts)
	sb.create()
	bot := startNode(t, "bot", map[string]string{"SERVER_URL": ts.URL, "USER_ID": botUser, "MEETING_ID": joinMeeting,
		"JOIN_EVERY_MS": "100", "WAIT_MS": "120000"})
	if s := bot.next("join-sandbox"); !strings.Contains(str(s["note"]), "stands in for the Meeting SDK's join") {
		t.Fatalf("the bot does not say the judge is a stand-in: %v", s)
	}
	refused := bot.next("join-refused")
	if refused["errorCode"] != float64(65535) || refused["errorMessage"] != "authorized user not in meeting" {
		t.Fatalf("first join = %v", refused)
	}
	sb.assertBotUserIn(false)

	sb.admit(botUser)
	joined := bot.next("joined")
	if joined["meetingNumber"] != joinMeeting || joined["as"] != "on behalf of "+botUser || joined["fingerprint"] == refused["fingerprint"] {
		t.Fatalf("joined = %v after %v", joined, refused)
	}
	if err := <-bot.done; err != nil {
		t.Fatalf("the bot exited with %v (all: %v)", err, bot.all)
	}
	sb.assertBotUserIn(true)
}

// Against real Zoom (zoom mode pointed at a sandbox) the Node bot prints the
// parameters of ZoomMtg.join, without the tokens, and does not join.
func TestNodeExampleBotPrintsJoinParametersAgainstZoom(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = "sdk-key-example", "sdk-secret-0123456789abcdef0123"
	ts := startServer(t, sb, env)
	tok := strings.TrimPrefix(bearer(t, botUser, "")["Authorization"], "Bearer ")
	bot := startNode(t, "bot", map[string]string{"SERVER_URL": ts.URL, "USER_ID": botUser, "MEETING_ID": joinMeeting, "TOKEN": tok})
	p := bot.next("join-params", "joined", "join-refused")
	web, _ := p["web"].(map[string]any)
	if p["event"] != "join-params" || !strings.Contains(str(p["note"]), "does not join") || web["sdkKey"] != "sdk-key-example" ||
		web["meetingNumber"] != joinMeeting || !strings.HasPrefix(str(web["obfToken"]), "<") {
		t.Fatalf("params = %v", p)
	}
	if err := <-bot.done; err != nil {
		t.Fatalf("the bot exited with %v", err)
	}
	line, _ := json.Marshal(bot.all)
	for _, s := range append(sb.IssuedSecrets(), tok) {
		if len(s) >= 8 && strings.Contains(string(line), s) {
			t.Errorf("a token (%d chars) is in the bot's output", len(s))
		}
	}
}
