package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// Keep the bot in (docs/API.md, "Candidates and the hand-off"): a bot
// follows a meeting with candidates; signed webhooks say who comes and
// goes; the bot gets the OBF of a present candidate, and the next one's the
// moment its user leaves.

var hookSeq atomic.Int64

// hookStamp is a distinct event_ts per event (the server deduplicates
// identical deliveries).
func hookStamp() time.Time {
	return time.Now().Add(time.Duration(hookSeq.Add(1)) * time.Millisecond)
}

func leftBody(meetingNumber, email string, session int, ts time.Time) string {
	return fmt.Sprintf(`{"event":"meeting.participant_left","event_ts":%d,"payload":{"account_id":"acc","object":{"id":%s,"uuid":"u","host_id":"h","participant":{"user_id":"%d","user_name":"x","id":"","email":%q,"leave_time":%q}}}}`,
		ts.UnixMilli(), meetingNumber, session, email, ts.UTC().Format(time.RFC3339))
}

func endedBody(meetingNumber string, ts time.Time) string {
	return fmt.Sprintf(`{"event":"meeting.ended","event_ts":%d,"payload":{"account_id":"acc","object":{"id":%s,"uuid":"u","host_id":"h","end_time":%q}}}`,
		ts.UnixMilli(), meetingNumber, ts.UTC().Format(time.RFC3339))
}

// joins and leaves send signed participant webhooks.
func (ts *testServer) joins(email string, session int) {
	ts.t.Helper()
	at := hookStamp()
	if r := ts.hook(joinedBody(meeting, email, session, at), webhookSecret, at); r.Status != 200 {
		ts.t.Fatalf("joined webhook = %d %s", r.Status, r.Raw)
	}
}

func (ts *testServer) leaves(email string, session int) {
	ts.t.Helper()
	at := hookStamp()
	if r := ts.hook(leftBody(meeting, email, session, at), webhookSecret, at); r.Status != 200 {
		ts.t.Fatalf("left webhook = %d %s", r.Status, r.Raw)
	}
}

var probes atomic.Int64

// settle waits until the events sent so far for the meeting are applied:
// a probe user joins last (one meeting's events are applied in order) and
// is awaited. It mints one OBF, for the probe.
func (ts *testServer) settle(t *testing.T) {
	t.Helper()
	n := int(probes.Add(1))
	probe := fmt.Sprintf("probe%d@example.com", n)
	ts.joins(probe, 9000+n)
	waitFor(t, func() bool { return ts.awaitNow(t, meeting, probe).Status == 200 })
}

// sequence waits for the next len(want) await events of c and checks their
// order; it returns their bodies.
func (c *wsClient) sequence(want ...string) []map[string]any {
	c.t.Helper()
	of := map[string]bool{"meeting:credentials": true, "meeting:user-left": true, "meeting:awaiting": true, "error": true}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		for _, e := range c.received() {
			if of[e.Name] {
				got = append(got, e.Name)
			}
		}
		if len(got) >= len(want) {
			if strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
				c.t.Fatalf("events %v, want %v first", got, want)
			}
			out := make([]map[string]any, len(want))
			for i, name := range want {
				out[i], _ = c.waitEvent(name, time.Second)
			}
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("events %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func handoffOf(body map[string]any) string {
	h, _ := body["handoff"].(map[string]any)
	if h == nil {
		return ""
	}
	return fmt.Sprintf("%v/%v", h["from"], h["reason"])
}

// The whole hand-off over a real socket and signed webhooks: the first
// present candidate; on its departure the next present one at once; a
// second device keeps a user present; none present: waiting, then a
// rejoin; a duplicate departure hands over once; the meeting's end ends the
// await. One Zoom call per hand-off; the candidates' own sockets get nothing.
func TestHandoffFollowsCandidates(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	ts.joins("kim@example.com", 1)
	ts.joins("lee@example.com", 2)
	ts.joins("lee@example.com", 3) // a second device
	ts.settle(t)
	pat := authedSocket(t, ts, "pat@example.com", "")
	kim := authedSocket(t, ts, "kim@example.com", "")
	bot, ok, body := connectSocket(t, ts.URL, map[string]any{"token": testAPIKey}, nil)
	if !ok {
		t.Fatalf("bot connect: %v", body)
	}
	before := sb.Stats().Minted

	a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": []string{"pat@example.com", "kim@example.com", "lee@example.com"}, "follow": true, "timeoutSeconds": 60})
	if a["presence"] != "present" || a["follow"] != true || len(a["candidates"].([]any)) != 3 {
		t.Fatalf("await = %v", a)
	}
	c := bot.sequence("meeting:credentials")[0]
	cands, _ := c["candidates"].([]any)
	if c["participantUserId"] != "kim@example.com" || c["obfToken"] == "" || handoffOf(c) != "" || len(cands) != 3 ||
		cands[0].(map[string]any)["presence"] != "waiting" || cands[1].(map[string]any)["presence"] != "present" {
		t.Fatalf("first credentials = %v", c)
	}
	ts.collectTokens(c)

	ts.leaves("kim@example.com", 1)
	s := bot.sequence("meeting:user-left", "meeting:credentials")
	if s[0]["userId"] != "kim@example.com" || s[1]["participantUserId"] != "lee@example.com" || handoffOf(s[1]) != "kim@example.com/user_left" {
		t.Fatalf("hand-off = %v", s)
	}
	ts.leaves("lee@example.com", 2) // one device of two: lee is still in
	ts.joins("pat@example.com", 4)
	ts.leaves("lee@example.com", 3)
	s = bot.sequence("meeting:user-left", "meeting:credentials")
	if s[0]["userId"] != "lee@example.com" || s[1]["participantUserId"] != "pat@example.com" || handoffOf(s[1]) != "lee@example.com/user_left" {
		t.Fatalf("second hand-off = %v", s)
	}
	ts.leaves("pat@example.com", 4)
	s = bot.sequence("meeting:user-left", "meeting:awaiting")
	if s[0]["userId"] != "pat@example.com" || s[1]["presence"] != "waiting" {
		t.Fatalf("none present = %v", s)
	}
	ts.joins("pat@example.com", 5) // rejoins within a second
	s = bot.sequence("meeting:credentials")
	if s[0]["participantUserId"] != "pat@example.com" || handoffOf(s[0]) != "pat@example.com/user_left" {
		t.Fatalf("rejoin = %v", s)
	}
	ts.leaves("pat@example.com", 5)
	ts.leaves("pat@example.com", 5) // the same departure told twice
	if s = bot.sequence("meeting:user-left", "meeting:awaiting"); s[1]["presence"] != "waiting" {
		t.Fatalf("pat left, nobody else present = %v", s)
	}
	at := hookStamp()
	ts.hook(endedBody(meeting, at), webhookSecret, at)
	if s = bot.sequence("meeting:awaiting"); s[0]["presence"] != "ended" {
		t.Fatalf("ended = %v", s)
	}
	if n := sb.Stats().Minted - before; n != 4 { // kim, lee, pat, pat
		t.Fatalf("%d OBFs minted, want 4: one per hand-off", n)
	}
	if n := pat.Count("meeting:credentials") + kim.Count("meeting:credentials") + bot.Count("meeting:credentials"); n != 0 {
		t.Fatalf("%d credentials beyond the awaiting socket's", n)
	}
	if n := bot.Count("meeting:user-left") + bot.Count("meeting:awaiting"); n != 0 {
		t.Fatalf("%d more events", n)
	}
	ts.assertNoSecretsLogged(webhookSecret)
}

// REST join and await with candidates: list order where presence is
// unknown (minus the excluded); present candidates first where it is known;
// none present: 409 no_candidate_present; a long poll answers when one
// joins; events out of order (a leave before its join) keep a user out.
func TestCandidateJoinREST(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	outside := "812345678"
	if _, err := sb.CreateMeeting("someone@"+sandbox.PartnerDomain, outside); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	two := []string{"pat@example.com", "kim@example.com"}
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": outside, "participantUserIds": two, "excludeUserIds": []string{"pat@example.com"}}, adminKey)
	if r.Status != 200 || r.Body["participantUserId"] != "kim@example.com" || !strings.Contains(r.Raw, `{"userId":"pat@example.com","presence":"unknown","excluded":true}`) {
		t.Fatalf("unknown presence = %d %s", r.Status, r.Raw)
	}
	ts.collectTokens(r.Body)
	// An await with candidates where presence is unknown: list order at once, as a join.
	r = ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": outside, "participantUserIds": two, "timeoutSeconds": 5}, adminKey)
	if r.Status != 200 || r.Body["participantUserId"] != "pat@example.com" {
		t.Fatalf("await, unknown presence = %d %s", r.Status, r.Raw)
	}
	ts.collectTokens(r.Body)
	// Over a socket, unknown ends the await (the bot joins with candidates instead).
	bot, _, _ := connectSocket(t, ts.URL, map[string]any{"token": testAPIKey}, nil)
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": outside, "onBehalfOf": two, "follow": true}); a["presence"] != "unknown" {
		t.Fatalf("socket await, unknown presence = %v", a)
	}

	ts.joins("host@example.com", 1)
	// kim's leave arrives before its join: kim is not in the meeting.
	ts.leaves("kim@example.com", 2)
	ts.joins("kim@example.com", 2)
	ts.settle(t)
	r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": two}, adminKey)
	if r.Status != 409 || r.Body["code"] != "no_candidate_present" || !strings.Contains(r.Body["error"].(string), "kim@example.com") {
		t.Fatalf("none present = %d %s", r.Status, r.Raw)
	}
	done := make(chan reply, 1)
	go func() {
		done <- ts.do("POST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserIds": two, "timeoutSeconds": 20}, adminKey)
	}()
	time.Sleep(300 * time.Millisecond)
	ts.joins("kim@example.com", 3)
	r = <-done
	if r.Status != 200 || r.Body["participantUserId"] != "kim@example.com" || len(r.Body["candidates"].([]any)) != 2 {
		t.Fatalf("await = %d %s", r.Status, r.Raw)
	}
	ts.collectTokens(r.Body)
	r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": []string{"pat@example.com", "kim@example.com", "KIM@example.com"}}, adminKey)
	if r.Status != 200 || r.Body["participantUserId"] != "kim@example.com" || len(r.Body["candidates"].([]any)) != 2 {
		t.Fatalf("present, duplicates collapsed = %d %s", r.Status, r.Raw)
	}
	ts.collectTokens(r.Body)
	if r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": two, "excludeUserIds": []string{"kim@example.com"}}, adminKey); r.Status != 409 {
		t.Fatalf("the present one excluded = %d %s", r.Status, r.Raw)
	}
}

// Bad candidates on both transports, each answered clearly.
func TestCandidateBadInput(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := hookServer(t, sb, nil)
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("u%d@example.com", i))
	}
	cases := []struct {
		name, path string
		body       map[string]any
		headers    map[string]string
		status     int
		has        string
	}{
		{"51 candidates", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": many}, adminKey, 400, "1 to 50"},
		{"none", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": []string{}}, adminKey, 400, "1 to 50"},
		{"both fields", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "kim@example.com", "participantUserIds": []string{"kim@example.com"}}, adminKey, 400, "one of them"},
		{"exclude alone", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "kim@example.com", "excludeUserIds": []string{"kim@example.com"}}, adminKey, 400, "excludeUserIds"},
		{"every one excluded", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": []string{"kim@example.com"}, "excludeUserIds": []string{"KIM@example.com"}}, adminKey, 400, "excludes every candidate"},
		{"another user", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserIds": []string{"pat@example.com", "kim@example.com"}}, bearer(t, "pat@example.com", ""), 403, "kim@example.com"},
		{"follow over REST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserIds": []string{"kim@example.com"}, "follow": true}, adminKey, 400, "follow"},
		{"await: another user", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserIds": []string{"kim@example.com", "pat@example.com"}}, bearer(t, "pat@example.com", ""), 403, "kim@example.com"},
	}
	for _, tc := range cases {
		r := ts.do("POST", tc.path, tc.body, tc.headers)
		if r.Status != tc.status || !strings.Contains(r.Raw, tc.has) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	bot, _, _ := connectSocket(t, ts.URL, map[string]any{"token": testAPIKey}, nil)
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": many, "follow": true}); a["code"] != "invalid_request" {
		t.Fatalf("51 over the socket = %v", a)
	}
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "kim@example.com", "follow": "yes"}); a["code"] != "invalid_request" {
		t.Fatalf("follow not a boolean = %v", a)
	}
	// follow with a single id is allowed (here: no events for the meeting yet).
	if a := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "kim@example.com", "follow": true}); a["success"] != true || a["presence"] != "unknown" {
		t.Fatalf("follow with one id = %v", a)
	}
}
