package main

import (
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// SOCKETS_PER_USER reaches the running server: with 2, a third socket of
// one identity is refused with connect_error too_many_sockets and its
// limit, through the REST port as deployed; another identity is not
// affected, and a closed socket frees its place.
func TestSocketsPerUserConfigured(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["SOCKETS_PER_USER"] = "2"
	ts := startServer(t, sb, env)
	first := authedSocket(t, ts, "pat@example.com", "participant")
	authedSocket(t, ts, "pat@example.com", "participant")
	tok := strings.TrimPrefix(bearer(t, "pat@example.com", "participant")["Authorization"], "Bearer ")
	_, ok, body := connectSocket(t, ts.URL, map[string]any{"token": tok}, nil)
	data, _ := body["data"].(map[string]any)
	if ok || body["message"] != "too_many_sockets" || data["limit"] != float64(2) || !strings.Contains(str(data["message"]), "SOCKETS_PER_USER") {
		t.Fatalf("third socket of one identity: ok=%v %v", ok, body)
	}
	authedSocket(t, ts, "sam@example.com", "participant")
	first.close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, ok, _ := connectSocket(t, ts.URL, map[string]any{"token": tok}, nil)
		if ok {
			break
		}
		c.close()
		if time.Now().After(deadline) {
			t.Fatal("no new socket within 5 s of closing one")
		}
	}
}
