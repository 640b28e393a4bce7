package realtime_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

func rtmsHarness(t *testing.T, ackTimeout, reassign time.Duration) (*harness, *rtms.RTMS) {
	t.Helper()
	r := rtms.NewRTMS(rtms.RTMSConfig{ClientID: "cid", ClientSecret: secret.New("csecret"),
		AckTimeout: ackTimeout, ReassignAfter: reassign})
	return start(t, realtime.Config{RTMS: r}), r
}

func rtmsStarted(id string) webhooks.RTMS {
	return webhooks.RTMS{Kind: webhooks.EventRTMSStarted, Product: "meeting", StreamID: id,
		MeetingUUID: "uu/id+" + id + "==", ServerURLs: "wss://rtms.example/" + id}
}

// ready connects a worker and announces its capacity.
func ready(t *testing.T, h *harness, sub string, capacity int) *rawclient.Client {
	t.Helper()
	c := h.authed(sub, "worker")
	if got := ack(t, c, "rtms:ready", map[string]any{"capacity": capacity}); got["success"] != true {
		t.Fatalf("rtms:ready = %v", got)
	}
	return c
}

// assignment waits for rtms:assign and returns its body and ack id.
func assignment(t *testing.T, c *rawclient.Client, within time.Duration) (map[string]any, int, bool) {
	t.Helper()
	e, ok := c.WaitEvent("rtms:assign", within)
	if !ok {
		return nil, 0, false
	}
	return decode(e.Args), e.AckID, true
}

func stateOf(r *rtms.RTMS, id string) rtms.RTMSStream {
	for _, s := range r.Streams() {
		if s.StreamID == id {
			return s
		}
	}
	return rtms.RTMSStream{}
}

func TestRTMSRolesAndBadInput(t *testing.T) {
	h, _ := rtmsHarness(t, time.Second, time.Second)
	host := h.authed("host@example.com", "host")
	if got := ack(t, host, "rtms:ready", map[string]any{"capacity": 1}); got["code"] != "forbidden" {
		t.Errorf("a host's rtms:ready = %v, want forbidden", got)
	}
	w := h.authed("w1", "worker")
	if got := ack(t, w, "meeting:start", map[string]any{"meetingId": "123456789", "hostUserId": "w1"}); got["code"] != "forbidden" {
		t.Errorf("a worker's meeting:start = %v, want forbidden", got)
	}
	for _, capacity := range []any{0, 1e9, 1001, 1.5, "3", -1, nil} {
		got := ack(t, w, "rtms:ready", map[string]any{"capacity": capacity})
		if got["code"] != "invalid_request" {
			t.Errorf("capacity %v: %v, want invalid_request", capacity, got)
		}
	}
	if got := ack(t, w, "rtms:ready", map[string]any{"capacity": json.RawMessage("1e9")}); got["code"] != "invalid_request" {
		t.Errorf("capacity 1e9 (literal): %v", got)
	}
	if got := ack(t, w, "rtms:release", map[string]any{"streamId": "nope"}); got["code"] != "invalid_request" {
		t.Errorf("release of a stream not held: %v", got)
	}
	if got := ack(t, w, "rtms:release", map[string]any{"streamId": "a b<script>"}); got["code"] != "invalid_request" {
		t.Errorf("release with odd characters: %v", got)
	}
	if got := ack(t, w, "rtms:nonsense", map[string]any{}); got["code"] != "invalid_request" {
		t.Errorf("unknown rtms event: %v", got)
	}
}

func TestRTMSAssignAckSpreadAndRelease(t *testing.T) {
	h, r := rtmsHarness(t, 2*time.Second, time.Second)
	a, b := ready(t, h, "wa", 2), ready(t, h, "wb", 2)
	for i := range 5 {
		r.HandleRTMS(rtmsStarted(fmt.Sprint("s", i)))
	}
	got := map[*rawclient.Client]int{}
	for _, c := range []*rawclient.Client{a, b} {
		for range 2 {
			body, id, ok := assignment(t, c, 5*time.Second)
			if !ok {
				t.Fatal("a worker got fewer than 2 streams")
			}
			if body["clientId"] != "cid" || body["signature"] == "" || body["serverUrls"] == "" || body["product"] != "meeting" {
				t.Errorf("assignment = %v", body)
			}
			c.Ack(id, map[string]any{"ok": true})
			c.Ack(id, map[string]any{"ok": true}) // twice: harmless
			got[c]++
		}
	}
	time.Sleep(100 * time.Millisecond)
	if a.Count("rtms:assign")+b.Count("rtms:assign") != 0 {
		t.Fatal("a worker got more than its capacity")
	}
	assigned := 0
	for _, s := range r.Streams() {
		if s.State == rtms.RTMSAssigned {
			assigned++
		}
	}
	if assigned != 4 {
		t.Fatalf("assigned = %d, want 4", assigned)
	}
	// a releases one of its streams: it is not offered to a again (b is
	// full, so it waits), and the stream that was pending takes a's room.
	var aStream string
	for _, s := range r.Streams() {
		if s.WorkerSub == "wa" {
			aStream = s.StreamID
			break
		}
	}
	if res := ack(t, a, "rtms:release", map[string]any{"streamId": aStream}); res["success"] != true {
		t.Fatalf("release = %v", res)
	}
	body, id, ok := assignment(t, a, 5*time.Second)
	if !ok || body["streamId"] == aStream {
		t.Fatalf("after a release, a got %v (ok %v)", body, ok)
	}
	a.Ack(id)
}

func TestRTMSNoAckGoesToAnotherWorker(t *testing.T) {
	h, r := rtmsHarness(t, 300*time.Millisecond, time.Second)
	mute := ready(t, h, "mute", 1)
	r.HandleRTMS(rtmsStarted("s1"))
	if _, _, ok := assignment(t, mute, 5*time.Second); !ok {
		t.Fatal("no assignment")
	}
	good := ready(t, h, "good", 1)
	body, id, ok := assignment(t, good, 5*time.Second)
	if !ok || body["streamId"] != "s1" {
		t.Fatalf("the stream did not move on: %v", body)
	}
	good.Ack(id)
	waitUntil(t, func() bool { return stateOf(r, "s1").WorkerSub == "good" })
}

func TestRTMSDisconnectMidAssignment(t *testing.T) {
	h, r := rtmsHarness(t, 5*time.Second, time.Hour)
	first := ready(t, h, "first", 1)
	second := ready(t, h, "second", 1)
	r.HandleRTMS(rtmsStarted("s1"))
	var offered, other *rawclient.Client
	for offered == nil {
		for _, c := range []*rawclient.Client{first, second} {
			if c.Count("rtms:assign") > 0 {
				offered = c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	other = first
	if offered == first {
		other = second
	}
	offered.Close() // gone before it acked: no wait
	body, id, ok := assignment(t, other, 3*time.Second)
	if !ok || body["streamId"] != "s1" {
		t.Fatalf("after a disconnect mid-assignment: %v", body)
	}
	other.Ack(id)
}

func TestRTMSLostWorkerReassignedAfterWait(t *testing.T) {
	h, r := rtmsHarness(t, 5*time.Second, time.Second)
	holder := ready(t, h, "holder", 1)
	r.HandleRTMS(rtmsStarted("s1"))
	_, id, ok := assignment(t, holder, 5*time.Second)
	if !ok {
		t.Fatal("no assignment")
	}
	holder.Ack(id)
	waitUntil(t, func() bool { return stateOf(r, "s1").State == rtms.RTMSAssigned })
	spare := ready(t, h, "spare", 1)
	holder.Close()
	lost := time.Now()
	body, id, ok := assignment(t, spare, 5*time.Second)
	if !ok || body["streamId"] != "s1" {
		t.Fatal("not reassigned")
	}
	if d := time.Since(lost); d < 900*time.Millisecond {
		t.Errorf("reassigned after %v, before RTMS_REASSIGN_SECONDS", d)
	}
	spare.Ack(id)
	// Failover and stop reach the new holder.
	ev := rtmsStarted("s1")
	ev.ServerURLs = "wss://failover.example/s1"
	r.HandleRTMS(ev)
	rc, ok := spare.WaitEvent("rtms:reconnect", 5*time.Second)
	if m := decode(rc.Args); !ok || m["reason"] != "restarted" || m["serverUrls"] != ev.ServerURLs {
		t.Fatalf("reconnect = %v", m)
	}
	r.HandleRTMS(webhooks.RTMS{Kind: webhooks.EventRTMSStopped, Product: "meeting", StreamID: "s1", StopReason: "6"})
	st, ok := spare.WaitEvent("rtms:stopped", 5*time.Second)
	if m := decode(st.Args); !ok || m["reason"] != "6" || m["streamId"] != "s1" {
		t.Fatalf("stopped = %v", m)
	}
	if spare.Count("rtms:assign") != 0 {
		t.Error("a second assignment")
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}

// A worker whose socket dropped (a network blip) and that is still
// connected to Zoom resumes its streams from a new socket, before
// RTMS_REASSIGN_SECONDS; another identity cannot.
func TestRTMSResumeAfterBlip(t *testing.T) {
	h, r := rtmsHarness(t, 5*time.Second, 700*time.Millisecond)
	holder := ready(t, h, "holder", 1)
	r.HandleRTMS(rtmsStarted("s1"))
	_, id, ok := assignment(t, holder, 5*time.Second)
	if !ok {
		t.Fatal("no assignment")
	}
	holder.Ack(id)
	waitUntil(t, func() bool { return stateOf(r, "s1").State == rtms.RTMSAssigned })
	holder.Close()
	waitUntil(t, func() bool { return stateOf(r, "s1").State == rtms.RTMSPending })
	thief := h.authed("thief", "worker")
	if got := ack(t, thief, "rtms:ready", map[string]any{"capacity": 1, "streams": []string{"s1"}}); len(got["resumed"].([]any)) != 0 {
		t.Fatalf("another identity resumed: %v", got)
	}
	again := h.authed("holder", "worker")
	got := ack(t, again, "rtms:ready", map[string]any{"capacity": 1, "streams": []string{"s1", "unknown"}})
	if res, _ := got["resumed"].([]any); len(res) != 1 || res[0] != "s1" {
		t.Fatalf("resume = %v", got)
	}
	time.Sleep(time.Second) // past RTMS_REASSIGN_SECONDS: nothing moves
	if thief.Count("rtms:assign") != 0 || stateOf(r, "s1").WorkerSub != "holder" {
		t.Fatalf("the stream moved: %+v", stateOf(r, "s1"))
	}
	if got := ack(t, again, "rtms:ready", map[string]any{"capacity": 1, "streams": "s1"}); got["code"] != "invalid_request" {
		t.Errorf("streams not a list: %v", got)
	}
}
