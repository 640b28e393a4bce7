package realtime_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// wantTooMany checks a connect_error too_many_sockets with its sentence and
// limit.
func wantTooMany(t *testing.T, what string, ok bool, body map[string]any, limit int) {
	t.Helper()
	data, _ := body["data"].(map[string]any)
	if ok || body["message"] != "too_many_sockets" || data["code"] != "too_many_sockets" || str(data["message"]) == "" ||
		data["limit"] != float64(limit) {
		t.Fatalf("%s: ok=%v %v; want connect_error too_many_sockets with a sentence and limit %d", what, ok, body, limit)
	}
}

// eventually retries f until it holds, for up to 5 s: the server learns of
// a closed socket when its transport ends.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !f(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

// admitted waits for the authenticated event of a socket whose handshake
// was accepted: the handshake only checks the identity's count, the socket
// is counted when admitted after its CONNECT answer, and the next check
// must see it.
func admitted(t *testing.T, c *rawclient.Client) *rawclient.Client {
	t.Helper()
	if _, ok := c.WaitEvent("authenticated", 5*time.Second); !ok {
		t.Fatal("no authenticated event")
	}
	return c
}

// One participant token opened 8,000 sockets, held until the file
// descriptors ran out. Now an identity holds at most SocketsPerUser (32 by
// default): the next is refused, in its handshake with a connect_error, by
// the authenticate event with an error answer and a disconnect. Another
// identity is not affected, a closed socket frees its place, and nothing
// is left counted once all are closed.
func TestSocketsPerUser(t *testing.T) {
	h := start(t, realtime.Config{AuthTimeout: time.Minute})
	pat := make([]*rawclient.Client, 0, realtime.DefaultSocketsPerUser)
	for range realtime.DefaultSocketsPerUser {
		pat = append(pat, h.authed("pat@example.com", "participant"))
	}
	// The 33rd, in its handshake (the same email in other case is the same identity).
	c, ok, body, _, err := rawclient.Connect(h.URL, map[string]any{"token": cred("PAT@example.com", "participant")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	wantTooMany(t, "33rd socket in its handshake", ok, body, realtime.DefaultSocketsPerUser)

	sam := h.authed("sam@example.com", "participant")

	// The 33rd, by the authenticate event.
	a := h.anonymous()
	r := ack(t, a, "authenticate", map[string]any{"token": cred("pat@example.com", "participant")})
	if r["success"] != false || r["code"] != "too_many_sockets" || r["limit"] != float64(realtime.DefaultSocketsPerUser) || str(r["error"]) == "" {
		t.Fatalf("33rd socket by authenticate = %v", r)
	}
	expectKicked(t, a, "too_many_sockets")

	// Closing one frees its place.
	pat[0].Close()
	eventually(t, "a new socket after one was closed", func() bool {
		c, ok, _, _, err := rawclient.Connect(h.URL, map[string]any{"token": cred("pat@example.com", "participant")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			pat[0] = admitted(t, c)
		} else {
			c.Close()
		}
		return ok
	})
	// A socket that says DISCONNECT four times and drops (the library may
	// report its disconnect twice) frees one place, not more.
	for range 4 {
		pat[1].Raw("41")
	}
	pat[1].Close()
	eventually(t, "a new socket after one left abruptly", func() bool {
		c, ok, _, _, err := rawclient.Connect(h.URL, map[string]any{"token": cred("pat@example.com", "participant")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			pat[1] = admitted(t, c)
		} else {
			c.Close()
		}
		return ok
	})
	c, ok, body, _, err = rawclient.Connect(h.URL, map[string]any{"token": cred("pat@example.com", "participant")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	wantTooMany(t, "33rd socket after a doubled disconnect", ok, body, realtime.DefaultSocketsPerUser)
	if users, _, _ := h.rt.Counted(); users != 2 {
		t.Fatalf("identities counted = %d, want 2", users)
	}
	for _, c := range pat {
		c.Close()
	}
	sam.Close()
	eventually(t, "counts back to nothing", func() bool {
		users, addrs, u := h.rt.Counted()
		return users == 0 && addrs == 0 && u == 0
	})
}

// Connections that have not authenticated are capped per client address
// (64 by default), counted once their grace is over: the next one is told
// too_many_sockets and closed, until one of them authenticates or closes. A
// client that authenticates in its handshake is never refused by it, and
// another address is not affected.
func TestUnauthenticatedPerAddress(t *testing.T) {
	h := start(t, realtime.Config{AuthTimeout: time.Minute, UnauthenticatedGrace: 200 * time.Millisecond,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	limit := realtime.DefaultUnauthenticatedPerAddress
	unauthenticated := func(n int) func() bool {
		return func() bool { _, _, u := h.rt.Counted(); return u == n }
	}
	anon := make([]*rawclient.Client, 0, limit)
	for range limit {
		anon = append(anon, h.connect(nil))
	}
	eventually(t, "64 connections counted", unauthenticated(limit))

	withCred := h.authed("pat@example.com", "participant")
	other, ok, body, _, err := rawclient.Connect(h.URL, nil, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	if err != nil || !ok {
		t.Fatalf("another address: %v %v", body, err)
	}
	t.Cleanup(other.Close)
	over := h.connect(nil)
	expectKicked(t, over, "too_many_sockets")
	if r := ack(t, withCred, "ping", nil); r["success"] != true {
		t.Fatalf("a socket that authenticated in its handshake, from the same address: ping = %v", r)
	}
	if r := ack(t, other, "ping", nil); r["code"] != "unauthorized" {
		t.Fatalf("an unauthenticated socket from another address: ping = %v", r)
	}
	// One authenticates, one closes: each frees its place.
	if r := ack(t, anon[0], "authenticate", map[string]any{"token": cred("pat@example.com", "participant")}); r["success"] != true {
		t.Fatalf("authenticate = %v", r)
	}
	anon[1].Close()
	// (other counts too, at its own address)
	eventually(t, "two places free", unauthenticated(limit-2+1))
	more := []*rawclient.Client{h.connect(nil), h.connect(nil)}
	eventually(t, "two more counted", unauthenticated(limit+1))
	for _, c := range append(append(anon, more...), withCred, other) {
		c.Close()
	}
	eventually(t, "counts back to nothing", func() bool {
		users, addrs, u := h.rt.Counted()
		return users == 0 && addrs == 0 && u == 0
	})
}
