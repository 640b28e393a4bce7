package redis

import (
	"context"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

func openSockets(t *testing.T, url string, rooms ...string) *Sockets {
	t.Helper()
	r, err := Open(context.Background(), secret.New(url), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSockets(r, nil)
	t.Cleanup(func() { s.Close(); _ = r.Close() })
	s.Answer(func(room string) bool {
		for _, have := range rooms {
			if room == have {
				return true
			}
		}
		return false
	})
	return s
}

// The question behind delivered: any instance with a socket in the room
// says yes, the asker included; no one: no. An instance that never answers
// (subscribed, silent) makes a no wait for the timeout, not a yes, and the
// questions after it wait briefly.
func TestSocketsElsewhere(t *testing.T) {
	rs := testinfra.StartRedis(t)
	a := openSockets(t, rs.URL(), "user:ann")
	b := openSockets(t, rs.URL(), "user:bob")
	ctx := context.Background()
	waitAll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10 s", what)
			}
		}
	}
	waitAll("a hears b", func() bool { return a.Elsewhere(ctx, "user:bob") })
	for _, c := range []struct {
		s    *Sockets
		room string
		want bool
	}{{a, "user:bob", true}, {b, "user:ann", true}, {a, "user:ann", true}, {a, "user:cy", false}, {b, "user:cy", false}} {
		if got := c.s.Elsewhere(ctx, c.room); got != c.want {
			t.Errorf("Elsewhere(%s) = %v, want %v", c.room, got, c.want)
		}
	}

	// A third subscriber that never answers.
	r, err := Open(ctx, secret.New(rs.URL()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	silent := r.Client().Subscribe(ctx, askChannel)
	defer silent.Close()
	if _, err := silent.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	if a.Elsewhere(ctx, "user:cy") {
		t.Fatal("a silent instance counted as a yes")
	}
	if a.now().UnixNano() >= a.slowUntil.Load() {
		t.Fatal("after a silent instance, questions should wait briefly for a while")
	}
	if !a.Elsewhere(ctx, "user:bob") {
		t.Fatal("b's yes is heard even with a silent instance")
	}
}

// More instances than there used to be room for answers: ten say no at
// once, the eleventh says yes last; its yes is heard.
func TestSocketsElsewhereHearsALateYesAmongMany(t *testing.T) {
	rs := testinfra.StartRedis(t)
	asker := openSockets(t, rs.URL())
	for range 9 {
		openSockets(t, rs.URL())
	}
	late := openSockets(t, rs.URL())
	late.Answer(func(room string) bool {
		time.Sleep(100 * time.Millisecond) // after every no
		return room == "user:dee"
	})
	ctx := context.Background()
	if !asker.Elsewhere(ctx, "user:dee") {
		t.Fatal("the yes that came after ten noes was not heard")
	}
	if asker.Elsewhere(ctx, "user:cy") {
		t.Fatal("no one has user:cy")
	}
}
