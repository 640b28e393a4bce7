package main

import (
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances share one Redis; the bot follows the meeting on b, the
// webhooks land on a (and Zoom's retry on b): each hand-off reaches the bot
// once, minted once, by b alone.
func TestClusterHandoffArrivesOnce(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	extra := map[string]string{"REDIS_URL": rs.URL(), "CLUSTER_SIZE": "2"}
	a := hookServer(t, sb, extra)
	b := hookServer(t, sb, extra)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	a.joins("host@example.com", 1)
	waitUntil(t, "b learns from a that the meeting has events", func() bool {
		return b.awaitNow(t, meeting, "nobody@example.com").Body["presence"] == "waiting"
	})
	kimOnA := authedSocket(t, a, "kim@example.com", "")
	bot, ok, body := connectSocket(t, b.URL, map[string]any{"token": testAPIKey}, nil)
	if !ok {
		t.Fatalf("bot connect: %v", body)
	}
	before := sb.Stats().Minted
	ack := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": []string{"kim@example.com", "lee@example.com"}, "follow": true})
	if ack["presence"] != "waiting" {
		t.Fatalf("await on b = %v", ack)
	}
	a.joins("kim@example.com", 2)
	if c := bot.sequence("meeting:credentials")[0]; c["participantUserId"] != "kim@example.com" {
		t.Fatalf("first = %v", c)
	}
	a.joins("lee@example.com", 3)
	at := hookStamp()
	left := leftBody(meeting, "kim@example.com", 2, at)
	if r := a.hook(left, webhookSecret, at); r.Status != 200 {
		t.Fatalf("left to a = %d %s", r.Status, r.Raw)
	}
	s := bot.sequence("meeting:user-left", "meeting:credentials")
	if s[0]["userId"] != "kim@example.com" || s[1]["participantUserId"] != "lee@example.com" || handoffOf(s[1]) != "kim@example.com/user_left" {
		t.Fatalf("hand-off on b = %v", s)
	}
	if r := b.hook(left, webhookSecret, at); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("Zoom's retry at b = %d %s", r.Status, r.Raw)
	}
	at = hookStamp()
	a.hook(endedBody(meeting, at), webhookSecret, at)
	if s = bot.sequence("meeting:user-left", "meeting:awaiting"); s[1]["presence"] != "ended" {
		t.Fatalf("end = %v", s)
	}
	if n := sb.Stats().Minted - before; n != 2 {
		t.Fatalf("%d OBFs minted, want 2 (one per hand-off)", n)
	}
	if n := bot.Count("meeting:credentials") + kimOnA.Count("meeting:credentials"); n != 0 {
		t.Fatalf("%d more credentials", n)
	}
}
