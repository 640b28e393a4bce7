package main

import (
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Two instances share one Redis: a stream whose webhook lands on one goes
// to a worker on the other, once; Zoom's retry at the other instance is a
// duplicate; a failover reaches the holder across instances; and when the
// holder's instance dies, the stream goes to a worker of the survivor.
func TestClusterRTMSOneAssignmentAcrossInstances(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb := newSandbox(t, sandbox.Options{})
	extra := map[string]string{"REDIS_URL": rs.URL(), "CLUSTER_SIZE": "2", "ZOOM_RTMS_CLIENT_ID": rtmsClientID,
		"ZOOM_RTMS_CLIENT_SECRET": rtmsClientSecret, "RTMS_REASSIGN_SECONDS": "1"}
	a := hookServer(t, sb, extra)
	b := hookServer(t, sb, extra)
	onB := rtmsWorker(t, b, "worker-b", 1)
	now := time.Now()
	uuid := "clu/ster+uuid=="
	body := rtmsBody("meeting.rtms_started", "s1", uuid, "wss://x.example/s1", now, false, "")
	if r := a.hook(body, webhookSecret, now); r.Status != 200 || r.Body["status"] != "accepted" {
		t.Fatalf("webhook to a = %d %s", r.Status, r.Raw)
	}
	if r := b.hook(body, webhookSecret, now); r.Body["status"] != "duplicate" {
		t.Fatalf("Zoom's retry at b = %s", r.Raw)
	}
	_, got, id := takeAssign(t, 10*time.Second, onB)
	if got["streamId"] != "s1" || got["signature"] != rtmsSign(uuid, "s1") {
		t.Fatalf("the worker on b: %v; logs of b:\n%s", got, b.Logs)
	}
	onB.Ack(id)

	// A worker on a too: a new stream goes to one worker in all.
	onA := rtmsWorker(t, a, "worker-a", 5)
	body2 := rtmsBody("meeting.rtms_started", "s2", uuid, "wss://x.example/s2", now.Add(time.Second), false, "")
	b.hook(body2, webhookSecret, now)
	_, got, id = takeAssign(t, 10*time.Second, onA)
	if got["streamId"] != "s2" {
		t.Fatalf("s2: %v", got)
	}
	onA.Ack(id)

	// Failover, delivered to a: the holder on b reconnects.
	a.hook(rtmsBody("meeting.rtms_started", "s1", uuid, "wss://y.example/s1", now.Add(2*time.Second), false, ""), webhookSecret, now)
	if rc, ok := onB.waitEvent("rtms:reconnect", 10*time.Second); !ok || rc["serverUrls"] != "wss://y.example/s1" {
		t.Fatalf("reconnect across instances: %v", rc)
	}
	time.Sleep(300 * time.Millisecond)
	if n := onA.Count("rtms:assign") + onB.Count("rtms:assign"); n != 0 {
		t.Fatalf("%d more assignments", n)
	}

	// b dies: its claim lapses and a's worker gets s1.
	b.stop()
	_, got, id = takeAssign(t, 15*time.Second, onA)
	if got["streamId"] != "s1" || got["serverUrls"] != "wss://y.example/s1" {
		t.Fatalf("after b died: %v; logs of a:\n%s", got, a.Logs)
	}
	onA.Ack(id)
	a.assertNoSecretsLogged(rtmsClientSecret)
}
