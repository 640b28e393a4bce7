package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// A stream started with no worker connected: after RTMS_UNASSIGNED_SECONDS
// the app's back-end gets one signed rtms.unassigned (its first delivery
// refused, the retry with the same id); a worker connecting then gets the
// stream, and no second event comes for it.
func TestRTMSUnassignedEventOncePerStream(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	rcv := newReceiver(t, func(_ string, n int) int {
		if n == 1 {
			return 500
		}
		return 204
	})
	env := connEnv(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	for k, v := range eventsEnv(rcv) {
		env[k] = v
	}
	env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
	env["ZOOM_RTMS_CLIENT_ID"], env["ZOOM_RTMS_CLIENT_SECRET"] = rtmsClientID, rtmsClientSecret
	env["RTMS_UNASSIGNED_SECONDS"] = "1"
	ts := startServer(t, sb, env)

	uuid, stream := "unassigned/UUID==", "fedcba9876543210fedcba9876543210"
	urls := "wss://rtms.zoom.example/signaling?token=do-not-leak"
	start := time.Now()
	body := rtmsBody("meeting.rtms_started", stream, uuid, urls, start, false, `,"meeting_id":812345679`)
	if r := ts.hook(body, webhookSecret, start); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook = %d %v", r.Status, r.Body)
	}
	var got []receivedEvent
	waitUntil(t, "rtms.unassigned delivered", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		got = append(got[:0], rcv.accepted...)
		return len(got) >= 1
	})
	e := got[0]
	if e.Type != "rtms.unassigned" || e.Data["streamId"] != stream || e.Data["meetingUuid"] != uuid ||
		e.Data["meetingId"] != "812345679" || e.Data["product"] != "meeting" || e.Data["reason"] != "no_worker" {
		t.Errorf("event = %+v", e)
	}
	if since, err := time.Parse(time.RFC3339Nano, e.Data["pendingSince"].(string)); err != nil || since.Before(start.Add(-time.Second)) {
		t.Errorf("pendingSince = %v (%v)", e.Data["pendingSince"], err)
	}
	rcv.mu.Lock()
	if n := rcv.attempts[e.ID]; n != 2 {
		t.Errorf("event %s attempted %d times; want 2 (refused, then accepted with the same id)", e.ID, n)
	}
	rcv.mu.Unlock()

	// A worker connects: it gets the stream; no second event.
	w := rtmsWorker(t, ts, "worker-late", 2)
	holder, a, ackID := takeAssign(t, 5*time.Second, w)
	if holder == nil || a["streamId"] != stream {
		t.Fatalf("rtms:assign = %v", a)
	}
	holder.Ack(ackID, map[string]any{"ok": true})
	waitFor(t, func() bool {
		r := ts.do("GET", "/api/rtms/streams", nil, adminKey)
		s, _ := field(r.Body, "streams").([]any)
		return len(s) == 1 && field(s[0].(map[string]any), "state") == "assigned"
	})
	time.Sleep(2500 * time.Millisecond) // past another RTMS_UNASSIGNED_SECONDS and a poll of the outbox
	rcv.mu.Lock()
	if len(rcv.accepted) != 1 || len(rcv.attempts) != 1 {
		t.Errorf("events after the assignment: %+v (attempts %v)", rcv.accepted, rcv.attempts)
	}
	rcv.mu.Unlock()
	rcv.check(rtmsClientSecret, eventsSecret, "do-not-leak", rtmsSign(uuid, stream))
	ts.assertNoSecretsLogged(rtmsClientSecret)
}
