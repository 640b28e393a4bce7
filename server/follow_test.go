package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// followInfo are the follow bot's lines that say how it starts, not what
// happens in the meeting.
var followInfo = map[string]bool{"join-sandbox": true, "ready": true, "await": true, "presence-unknown": true}

// events reads the bot's next len(want) lines about the meeting and checks
// that they are want, in that order.
func (n *nodeClient) events(want ...string) []map[string]any {
	n.t.Helper()
	var got []map[string]any
	var names []string
	timeout := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case m, ok := <-n.lines:
			if !ok {
				n.t.Fatalf("the bot ended; want %v; lines so far: %v", want, n.all)
			}
			n.all = append(n.all, m)
			e := str(m["event"])
			if followInfo[e] {
				continue
			}
			got, names = append(got, m), append(names, e)
			if e != want[len(got)-1] {
				n.t.Fatalf("the bot said %v, want %v; lines so far: %v", names, want, n.all)
			}
		case <-timeout:
			n.t.Fatalf("the bot said %v, want %v; lines so far: %v", names, want, n.all)
		}
	}
	return got
}

func handoffLine(m map[string]any) string {
	h, _ := m["handoff"].(map[string]any)
	if h == nil {
		return ""
	}
	return fmt.Sprintf("%v/%v", h["from"], h["reason"])
}

// `npm run follow`, as the README runs it, against a sandbox-mode server:
// the bot follows the default meeting with three candidates and joins
// through the sandbox's judge. Its first candidate in the meeting: it joins
// on their behalf. That user leaves: the judge ends the session (as Zoom
// does), the server hands over the next present candidate's OBF, the bot
// rejoins with it. That one leaves with no candidate left: the bot waits;
// the third joins: the bot rejoins as the third. The meeting ends: the bot
// exits cleanly.
func TestNodeFollowBotKeepsItselfIn(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	participants := "/sandbox/meetings/" + meeting + "/participants"
	admit := func(user string) {
		t.Helper()
		if r := ts.do("POST", participants, map[string]any{"user": user}, nil); r.Status != 200 {
			t.Fatalf("POST %s %s = %d %s", participants, user, r.Status, r.Raw)
		}
	}
	leave := func(user string) {
		t.Helper()
		if r := ts.do("DELETE", participants+"/"+user, nil, nil); r.Status != 200 {
			t.Fatalf("DELETE %s/%s = %d %s", participants, user, r.Status, r.Raw)
		}
	}
	session := func(id string) map[string]any {
		t.Helper()
		r := ts.do("GET", "/sandbox/sdk/sessions/"+id, nil, nil)
		if r.Status != 200 {
			t.Fatalf("GET session = %d %s", r.Status, r.Raw)
		}
		return r.Body
	}
	// The host keeps the meeting going when no candidate is in it.
	admit("host@example.com")
	admit("pat@example.com")
	bot := startNodeCommand(t, map[string]string{"TOKEN_SERVER_URL": ts.URL, "RETRY_MS": "100"}, "npm", "run", "--silent", "follow")

	s := bot.events("credentials", "joined")
	if s[0]["userId"] != "pat@example.com" || handoffLine(s[0]) != "" || s[1]["as"] != "on behalf of pat@example.com" {
		t.Fatalf("first join = %v", s)
	}
	patSession := str(s[1]["sessionId"])
	if v := session(patSession); v["state"] != "in_meeting" || v["onBehalfOf"] != "pat@example.com" {
		t.Fatalf("pat's session at the judge = %v", v)
	}
	admit("sam@example.com")

	leave("pat@example.com")
	s = bot.events("session-ended", "user-left", "credentials", "joined")
	if s[0]["sessionId"] != patSession || s[0]["reason"] != "user_left" || s[1]["userId"] != "pat@example.com" ||
		s[2]["userId"] != "sam@example.com" || handoffLine(s[2]) != "pat@example.com/user_left" || s[3]["as"] != "on behalf of sam@example.com" {
		t.Fatalf("hand-off to sam = %v", s)
	}
	if v := session(patSession); v["state"] != "ended" || v["reason"] != "user_left" {
		t.Fatalf("pat's session at the judge = %v", v)
	}

	leave("sam@example.com")
	s = bot.events("session-ended", "user-left", "awaiting")
	if s[0]["userId"] != "sam@example.com" || s[0]["reason"] != "user_left" || s[1]["userId"] != "sam@example.com" || s[2]["presence"] != "waiting" {
		t.Fatalf("no candidate present = %v", s)
	}

	admit("kim@example.com")
	s = bot.events("credentials", "joined")
	if s[0]["userId"] != "kim@example.com" || handoffLine(s[0]) != "sam@example.com/user_left" || s[1]["as"] != "on behalf of kim@example.com" {
		t.Fatalf("kim joins = %v", s)
	}
	kimSession := str(s[1]["sessionId"])

	if r := ts.do("DELETE", "/sandbox/meetings/"+meeting, nil, nil); r.Status != 204 {
		t.Fatalf("end the meeting = %d %s", r.Status, r.Raw)
	}
	s = bot.events("session-ended", "user-left", "meeting-ended", "done")
	if s[0]["sessionId"] != kimSession || s[0]["reason"] != "meeting_ended" || s[1]["userId"] != "kim@example.com" || s[3]["joins"] != float64(3) {
		t.Fatalf("the meeting ends = %v", s)
	}
	if err := <-bot.done; err != nil {
		t.Fatalf("npm run follow exited with %v (all: %v)", err, bot.all)
	}
	// The judge's session routes on the server's port, as the document says.
	if r := ts.do("GET", "/sandbox/sdk/sessions/"+patSession+"/wait?timeoutSeconds=5", nil, nil); r.Status != 200 || r.Body["reason"] != "user_left" {
		t.Errorf("wait on an ended session = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("DELETE", "/sandbox/sdk/sessions/"+kimSession, nil, nil); r.Status != 200 || r.Body["reason"] != "meeting_ended" {
		t.Errorf("leave an ended session = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("GET", "/sandbox/sdk/sessions/"+patSession+"/wait?timeoutSeconds=61", nil, nil); r.Status != 400 || r.Body["code"] != float64(300) {
		t.Errorf("wait over a minute = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("GET", "/sandbox/sdk/sessions/sdk_none", nil, nil); r.Status != 404 || r.Body["code"] != float64(404) {
		t.Errorf("no such session = %d %s", r.Status, r.Raw)
	}
	fingerprints := map[string]bool{}
	for _, l := range bot.all {
		if l["event"] == "credentials" {
			fingerprints[str(l["fingerprint"])] = true
		}
		if line := fmt.Sprint(l); strings.Contains(line, "eyJ") {
			t.Errorf("a token is in the bot's output: %v", l)
		}
	}
	if len(fingerprints) != 3 {
		t.Errorf("%d OBFs, want 3 distinct (one per session): %v", len(fingerprints), bot.all)
	}
}
