package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// wsClient is a rawclient.Client that fails its test instead of returning errors.
type wsClient struct {
	*rawclient.Client
	t *testing.T
}

type wsEvent = rawclient.Event

// dialSocket opens a websocket and sends CONNECT with auth (nil: no auth).
func dialSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDialSocket(t, baseURL, auth, header)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryDialSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) (*wsClient, error) {
	c, err := rawclient.Dial(baseURL, auth, header)
	if err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return &wsClient{Client: c, t: t}, nil
}

// connectSocket dials and waits for the CONNECT's answer, dialling again
// when socket.io/v2 loses the CONNECT (see README, Socket.IO), as socket.io-client would.
func connectSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) (*wsClient, bool, map[string]any) {
	t.Helper()
	c, ok, body, _, err := rawclient.Connect(baseURL, auth, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &wsClient{Client: c, t: t}, ok, body
}

// authedSocket connects with a JWT for sub and role and waits for authenticated.
func authedSocket(t *testing.T, ts *testServer, sub, role string) *wsClient {
	t.Helper()
	tok := strings.TrimPrefix(bearer(t, sub, role)["Authorization"], "Bearer ")
	c, ok, body := connectSocket(t, ts.URL, map[string]any{"token": tok}, nil)
	if !ok {
		t.Fatalf("connect refused: %v", body)
	}
	if _, ok := c.waitEvent("authenticated", 5*time.Second); !ok {
		t.Fatal("no authenticated event")
	}
	return c
}

func (c *wsClient) raw(s string)                   { c.Raw(s) }
func (c *wsClient) close()                         { c.Close() }
func (c *wsClient) emit(event string, payload any) { c.Emit(event, payload) }
func (c *wsClient) isClosed(within time.Duration) bool {
	return c.Closed(within)
}

func (c *wsClient) tryConnected(within time.Duration) (bool, map[string]any, bool) {
	return c.Connected(within)
}

// emitAck sends an event with an ack and returns the ack's first argument.
func (c *wsClient) emitAck(event string, payload any) map[string]any {
	c.t.Helper()
	args, err := c.EmitAck(event, payload, 10*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	var body map[string]any
	if len(args) > 0 {
		_ = json.Unmarshal(args[0], &body)
	}
	return body
}

func (c *wsClient) tryEmitAck(event string, payload any, timeout time.Duration) ([]json.RawMessage, error) {
	return c.EmitAck(event, payload, timeout)
}

// waitEvent takes the next event named name and decodes its first argument.
func (c *wsClient) waitEvent(name string, timeout time.Duration) (map[string]any, bool) {
	e, ok := c.WaitEvent(name, timeout)
	if !ok {
		return nil, false
	}
	var body map[string]any
	if len(e.Args) > 0 {
		_ = json.Unmarshal(e.Args[0], &body)
	}
	return body, true
}

// received lists the events not yet taken.
func (c *wsClient) received() []wsEvent { return c.Events() }
