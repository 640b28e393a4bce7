package rtms

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// fakeClaims: streams in held are claimed by another instance.
type fakeClaims struct {
	mu       sync.Mutex
	held     map[string]bool
	mine     map[string]bool
	released []string
}

func (c *fakeClaims) Claim(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[id] {
		return false
	}
	c.mine[id] = true
	return true
}
func (c *fakeClaims) Renew([]string) {}
func (c *fakeClaims) Release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mine, id)
	c.released = append(c.released, id)
}

type unassignedLog struct {
	mu  sync.Mutex
	got []RTMSUnassigned
}

func (l *unassignedLog) add(u RTMSUnassigned) { l.mu.Lock(); l.got = append(l.got, u); l.mu.Unlock() }
func (l *unassignedLog) list() []RTMSUnassigned {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RTMSUnassigned(nil), l.got...)
}

// Once per stream this instance admitted, only while no worker holds it
// (here or, in a cluster, elsewhere).
func TestRTMSUnassignedRule(t *testing.T) {
	var log unassignedLog
	claims := &fakeClaims{held: map[string]bool{"elsewhere": true}, mine: map[string]bool{}}
	r := NewRTMS(RTMSConfig{ClientID: "cid", ClientSecret: secret.New("csecret"), UnassignedAfter: 50 * time.Millisecond,
		Unassigned: log.add, Claims: claims, ClaimRetry: time.Hour})
	defer r.Close()
	relayed := started("relayed")
	relayed.Relayed = true
	w := &fakeWorker{id: "w", ack: true}
	r.HandleRTMS(started("taken"))
	if _, err := r.Ready(w, 1, nil); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, func() bool { n, _, _ := w.counts(); return n == 1 })
	r.HandleRTMS(started("alone"))
	r.HandleRTMS(started("elsewhere"))
	r.HandleRTMS(relayed)
	time.Sleep(300 * time.Millisecond)
	got := log.list()
	if len(got) != 1 || got[0].StreamID != "alone" || got[0].Reason != "no_capacity" || got[0].MeetingUUID != "uuid/+=alone" {
		t.Fatalf("reported %+v; want only the stream admitted here, unclaimed, with no worker free", got)
	}
	b, _ := json.Marshal(got[0])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"signature", "serverUrls", "clientId"} {
		if _, ok := m[k]; ok {
			t.Errorf("rtms.unassigned's data has %s: %s", k, b)
		}
	}
	claims.mu.Lock()
	claimedHere := claims.mine["alone"]
	claims.mu.Unlock()
	if !claimedHere {
		t.Error("the reporting instance did not hold the stream's claim")
	}
}

// RecordRTMSUnassigned records under rtms:<streamId>, with an id from the
// stream's id: a second recording while the first waits adds nothing.
func TestRecordRTMSUnassigned(t *testing.T) {
	s := store.NewMemoryStore(nil)
	kicks := 0
	rec := RecordRTMSUnassigned(s, func() { kicks++ }, nil, nil)
	u := RTMSUnassigned{StreamID: "s1", Product: RTMSMeeting, MeetingUUID: "u", PendingSince: time.Now(), Reason: "no_worker"}
	rec(u)
	rec(u)
	es, err := s.ClaimEvents(context.Background(), time.Now().Add(time.Second), time.Now().Add(time.Minute), 10)
	if err != nil || len(es) != 1 || es[0].Type != EventRTMSUnassigned || es[0].Sub != "rtms:s1" || kicks != 1 {
		t.Fatalf("events %+v, %v, kicks %d", es, err, kicks)
	}
	if len(es[0].ID) != len("evt_")+32 {
		t.Errorf("id %q", es[0].ID)
	}
}

func waitTrue(t *testing.T, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatal("timed out")
}
