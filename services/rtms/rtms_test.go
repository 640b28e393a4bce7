package rtms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// fakeWorker records what it is sent; it acks when ack is set.
type fakeWorker struct {
	id  string
	ack bool

	mu       sync.Mutex
	assigned []RTMSAssignment
	acks     []func()
	recon    []RTMSReconnect
	stopped  []RTMSStop
}

func (f *fakeWorker) WorkerID() string { return f.id }
func (f *fakeWorker) Subject() string  { return "sub-" + f.id }
func (f *fakeWorker) Assign(a RTMSAssignment, acked func()) {
	f.mu.Lock()
	f.assigned = append(f.assigned, a)
	f.acks = append(f.acks, acked)
	f.mu.Unlock()
	if f.ack {
		acked()
		acked() // a second ack is harmless
	}
}
func (f *fakeWorker) Reconnect(r RTMSReconnect) {
	f.mu.Lock()
	f.recon = append(f.recon, r)
	f.mu.Unlock()
}
func (f *fakeWorker) Stopped(s RTMSStop) {
	f.mu.Lock()
	f.stopped = append(f.stopped, s)
	f.mu.Unlock()
}
func (f *fakeWorker) counts() (int, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.assigned), len(f.recon), len(f.stopped)
}

func started(id string) webhooks.RTMS {
	return webhooks.RTMS{Kind: webhooks.EventRTMSStarted, Product: "meeting", StreamID: id, MeetingUUID: "uuid/+=" + id, ServerURLs: "wss://rtms.example/" + id}
}

func TestRTMSSpreadCapacityAndFailover(t *testing.T) {
	r := NewRTMS(RTMSConfig{ClientID: "cid", ClientSecret: secret.New("csecret")})
	a, b := &fakeWorker{id: "a", ack: true}, &fakeWorker{id: "b", ack: true}
	if _, err := r.Ready(a, 2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ready(b, 2, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r.HandleRTMS(started(fmt.Sprint("s", i)))
	}
	na, _, _ := a.counts()
	nb, _, _ := b.counts()
	if na != 2 || nb != 2 {
		t.Fatalf("assigned a=%d b=%d, want 2 and 2", na, nb)
	}
	pending := 0
	for _, s := range r.Streams() {
		if s.State == RTMSPending {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("pending = %d, want 1", pending)
	}
	// Failover of a held stream: the holder reconnects, no new assignment.
	held := a.assigned[0]
	ev := started(held.StreamID)
	ev.ServerURLs = "wss://other.example/x"
	r.HandleRTMS(ev)
	na2, ra, _ := a.counts()
	if na2 != 2 || ra != 1 || a.recon[0].Reason != "restarted" || a.recon[0].ServerURLs != ev.ServerURLs {
		t.Fatalf("after failover: assigned %d, reconnects %+v", na2, a.recon)
	}
	m := hmac.New(sha256.New, []byte("csecret"))
	m.Write([]byte("cid," + held.MeetingUUID + "," + held.StreamID))
	if want := hex.EncodeToString(m.Sum(nil)); held.Signature != want || a.recon[0].Signature != want {
		t.Fatalf("signature %q, want %q", held.Signature, want)
	}
	// A release frees room: the pending stream goes to a.
	if err := r.Release(a, held.StreamID); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(a, held.StreamID); err == nil {
		t.Fatal("a second release was accepted")
	}
	if _, err := r.Ready(a, 0, nil); err == nil {
		t.Fatal("capacity 0 accepted")
	}
}

func TestRTMSAckTimeoutAndLostWorker(t *testing.T) {
	r := NewRTMS(RTMSConfig{ClientID: "cid", ClientSecret: secret.New("s"), AckTimeout: 50 * time.Millisecond, ReassignAfter: 50 * time.Millisecond})
	mute := &fakeWorker{id: "a"}
	if _, err := r.Ready(mute, 1, nil); err != nil {
		t.Fatal(err)
	}
	r.HandleRTMS(started("s1"))
	good := &fakeWorker{id: "b", ack: true}
	if _, err := r.Ready(good, 1, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { n, _, _ := good.counts(); return n == 1 })
	mute.acks[0]() // late: told to let go
	if _, _, s := mute.counts(); s != 1 || mute.stopped[0].Reason != "assign_timeout" {
		t.Fatalf("late ack: stopped %+v", mute.stopped)
	}
	third := &fakeWorker{id: "c", ack: true}
	if _, err := r.Ready(third, 1, nil); err != nil {
		t.Fatal(err)
	}
	r.Gone(good)
	if n, _, _ := third.counts(); n != 0 {
		t.Fatal("reassigned before ReassignAfter")
	}
	waitFor(t, func() bool { n, _, _ := third.counts(); return n == 1 })
	r.HandleRTMS(webhooks.RTMS{Kind: webhooks.EventRTMSStopped, Product: "meeting", StreamID: "s1", MeetingUUID: "x", StopReason: "6"})
	if _, _, s := third.counts(); s != 1 || third.stopped[0].Reason != "6" {
		t.Fatalf("stop: %+v", third.stopped)
	}
	if _, err := r.Signature("s1", "uuid/+=s1", ""); err == nil {
		t.Fatal("signature of a stopped stream")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}
