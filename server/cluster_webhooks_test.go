package main

import (
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances share one Redis: a webhook that lands on one instance wakes
// the bot awaiting on the other, the other's presence learns it too, and
// Zoom's retry of the event at the other instance is a duplicate there.
func TestClusterWebhookWakesAwaitOnAnotherInstance(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	extra := map[string]string{"REDIS_URL": rs.URL(), "CLUSTER_SIZE": "2"}
	a := hookServer(t, sb, extra)
	b := hookServer(t, sb, extra) // the sandbox's webhooks go to b
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddParticipant(meeting, "host@example.com"); err != nil { // meeting.started, to b
		t.Fatal(err)
	}
	sb.WebhooksIdle(10 * time.Second)
	waitUntil(t, "a learns from b that the meeting started", func() bool {
		return a.awaitNow(t, meeting, "pat@example.com").Body["presence"] == "waiting"
	})

	bot := authedSocket(t, b, "pat@example.com", "")
	if ack := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "pat@example.com", "timeoutSeconds": 60}); ack["presence"] != "waiting" {
		t.Fatalf("await on b = %v", ack)
	}
	now := time.Now()
	body := joinedBody(meeting, "pat@example.com", 7, now)
	if r := a.hook(body, webhookSecret, now); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook to a = %d %s", r.Status, r.Raw)
	}
	e, ok := bot.waitEvent("meeting:credentials", 10*time.Second)
	if !ok || e["obfToken"] == nil || e["participantUserId"] != "pat@example.com" {
		t.Fatalf("the bot on b: meeting:credentials = %v; logs of b:\n%s", e, b.Logs)
	}
	b.collectTokens(e)
	if r := b.hook(body, webhookSecret, now); r.Status != 200 || r.Body["status"] != "duplicate" {
		t.Fatalf("Zoom's retry of the event at b = %d %s, want a duplicate", r.Status, r.Raw)
	}
	waitUntil(t, "b's presence says pat is present", func() bool {
		return b.awaitNow(t, meeting, "pat@example.com").Status == 200
	})
	a.assertNoSecretsLogged(webhookSecret)
	b.assertNoSecretsLogged(webhookSecret)
}
