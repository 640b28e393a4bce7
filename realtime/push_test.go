package realtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
	"github.com/zoomtoken/tokenserver/services"
)

// fakeObserver records pushes.
type fakeObserver struct {
	mu     sync.Mutex
	pushes []string
}

func (*fakeObserver) SocketConnected(int) {}
func (*fakeObserver) PacketDropped()      {}
func (o *fakeObserver) Pushed(event string, delivered bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := event + ":undelivered"
	if delivered {
		s = event + ":delivered"
	}
	o.pushes = append(o.pushes, s)
}

// Deliver sends a minted token to every socket of the user it names, and to
// no one else: not another user, not a socket that never authenticated.
func TestDeliverOnlyToTheUsersSockets(t *testing.T) {
	obs := &fakeObserver{}
	h := start(t, realtime.Config{Observer: obs})
	alice1 := h.authed("alice@example.com", "participant")
	alice2 := h.authed("Alice@Example.com", "host") // the same user, spelt otherwise
	bob := h.authed("bob@example.com", "participant")
	anon := h.connect(nil)
	ctx := context.Background()

	if !h.rt.Deliver(ctx, minted(zoom.TokenOnBehalf, "ALICE@example.com", "obf-a")) {
		t.Fatal("Deliver to a connected user reported no socket")
	}
	for i, c := range []*rawclient.Client{alice1, alice2} {
		e, ok := c.WaitEvent("meeting:credentials", 5*time.Second)
		if r := decode(e.Args); !ok || r["obfToken"] != "obf-a" || r["participantUserId"] != "ALICE@example.com" || r["delivered"] != true {
			t.Errorf("alice socket %d: meeting:credentials = %v (found %v)", i+1, r, ok)
		}
	}
	if !h.rt.Deliver(ctx, minted(zoom.TokenZAK, "alice@example.com", "zak-a")) {
		t.Fatal("Deliver of a ZAK reported no socket")
	}
	for i, c := range []*rawclient.Client{alice1, alice2} {
		e, ok := c.WaitEvent("meeting:started", 5*time.Second)
		if r := decode(e.Args); !ok || r["zakToken"] != "zak-a" || r["hostUserId"] != "alice@example.com" {
			t.Errorf("alice socket %d: meeting:started = %v (found %v)", i+1, r, ok)
		}
	}
	time.Sleep(quiet)
	for name, c := range map[string]*rawclient.Client{"bob": bob, "unauthenticated": anon} {
		if n := c.Count("meeting:credentials") + c.Count("meeting:started"); n != 0 {
			t.Errorf("%s's socket received %d pushes meant for alice", name, n)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.pushes) != 2 || obs.pushes[0] != "meeting:credentials:delivered" || obs.pushes[1] != "meeting:started:delivered" {
		t.Fatalf("observer saw %v", obs.pushes)
	}
}

// Deliver reports false when the user has no socket: never connected, or
// gone; and for an event that is not a minted token.
func TestDeliverReportsNoSocket(t *testing.T) {
	obs := &fakeObserver{}
	h := start(t, realtime.Config{Observer: obs})
	ctx := context.Background()
	if h.rt.Deliver(ctx, minted(zoom.TokenOnBehalf, "carol@example.com", "obf-c")) {
		t.Fatal("Deliver to a user with no socket reported one")
	}
	c := h.authed("carol@example.com", "participant")
	if h.rt.Deliver(ctx, services.Event{Kind: "something_else", Token: zoom.Token{UserID: mustUser("carol@example.com")}}) {
		t.Fatal("Deliver took an event that is not a minted token")
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.rt.Deliver(ctx, minted(zoom.TokenZAK, "carol@example.com", "zak-c")) {
		if time.Now().After(deadline) {
			t.Fatal("Deliver to a user whose only socket closed still reports a socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.pushes[0] != "meeting:credentials:undelivered" || obs.pushes[len(obs.pushes)-1] != "meeting:started:undelivered" {
		t.Fatalf("observer saw %v", obs.pushes)
	}
}
