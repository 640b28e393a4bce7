package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient speaks Engine.IO v4 / Socket.IO v5 over a real websocket, packet
// by packet, so tests can send what a well-behaved client never would.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn

	wmu sync.Mutex // websocket writes are serial

	mu      sync.Mutex
	events  []wsEvent
	acks    map[int]chan []json.RawMessage
	nextAck int
	signal  chan struct{}

	connected chan json.RawMessage // 40 {sid}
	connErr   chan json.RawMessage // 44 {message, data}
	closed    chan struct{}
}

type wsEvent struct {
	Name string
	Args []json.RawMessage
}

// dialSocket opens a websocket and sends the namespace CONNECT with auth
// (nil: no auth payload).
func dialSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDialSocket(t, baseURL, auth, header)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryDialSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) (*wsClient, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &wsClient{t: t, conn: conn, acks: map[int]chan []json.RawMessage{}, signal: make(chan struct{}, 1),
		connected: make(chan json.RawMessage, 1), connErr: make(chan json.RawMessage, 1), closed: make(chan struct{})}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), "0{") {
		conn.Close()
		return nil, fmt.Errorf("no engine.io open packet: %q %v", open, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	connect := "40"
	if auth != nil {
		b, _ := json.Marshal(auth)
		connect += string(b)
	}
	c.raw(connect)
	t.Cleanup(c.close)
	return c, nil
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		s := string(msg)
		switch {
		case s == "2": // engine.io ping
			c.raw("3")
		case strings.HasPrefix(s, "40"):
			c.connected <- json.RawMessage(s[2:])
		case strings.HasPrefix(s, "44"):
			c.connErr <- json.RawMessage(s[2:])
		case strings.HasPrefix(s, "41"):
			return
		case strings.HasPrefix(s, "42"):
			var args []json.RawMessage
			if json.Unmarshal([]byte(s[2:]), &args) != nil || len(args) == 0 {
				continue
			}
			var name string
			_ = json.Unmarshal(args[0], &name)
			c.mu.Lock()
			c.events = append(c.events, wsEvent{Name: name, Args: args[1:]})
			c.mu.Unlock()
			select {
			case c.signal <- struct{}{}:
			default:
			}
		case strings.HasPrefix(s, "43"):
			i := 2
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			id, _ := strconv.Atoi(s[2:i])
			var args []json.RawMessage
			_ = json.Unmarshal([]byte(s[i:]), &args)
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- args
			}
		}
	}
}

func (c *wsClient) raw(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *wsClient) close() { _ = c.conn.Close() }

// waitConnected returns the CONNECT answer, or the connect_error.
func (c *wsClient) waitConnected() (ok bool, body map[string]any) {
	c.t.Helper()
	ok, body, answered := c.tryConnected(5 * time.Second)
	if !answered {
		c.t.Fatal("no answer to the namespace CONNECT")
	}
	return ok, body
}

func (c *wsClient) tryConnected(within time.Duration) (ok bool, body map[string]any, answered bool) {
	select {
	case b := <-c.connected:
		_ = json.Unmarshal(b, &body)
		return true, body, true
	case b := <-c.connErr:
		_ = json.Unmarshal(b, &body)
		return false, body, true
	case <-time.After(within):
		return false, nil, false
	}
}

func (c *wsClient) emit(event string, payload any) {
	b, _ := json.Marshal([]any{event, payload})
	c.raw("42" + string(b))
}

// emitAck sends an event with an ack id and returns the ack's first argument.
func (c *wsClient) emitAck(event string, payload any) map[string]any {
	c.t.Helper()
	args, err := c.tryEmitAck(event, payload, 10*time.Second)
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
	c.mu.Lock()
	id := c.nextAck
	c.nextAck++
	ch := make(chan []json.RawMessage, 1)
	c.acks[id] = ch
	c.mu.Unlock()
	parts := []any{event}
	if payload != nil {
		parts = append(parts, payload)
	}
	b, _ := json.Marshal(parts)
	c.raw("42" + strconv.Itoa(id) + string(b))
	select {
	case args := <-ch:
		return args, nil
	case <-c.closed:
		return nil, errors.New("connection closed before the ack of " + event)
	case <-time.After(timeout):
		return nil, errors.New("no ack for " + event)
	}
}

// waitEvent waits for the next event named name that arrived (or arrives).
func (c *wsClient) waitEvent(name string, timeout time.Duration) (map[string]any, bool) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for i, e := range c.events {
			if e.Name == name {
				c.events = append(c.events[:i], c.events[i+1:]...)
				c.mu.Unlock()
				var body map[string]any
				if len(e.Args) > 0 {
					_ = json.Unmarshal(e.Args[0], &body)
				}
				return body, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			return nil, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// received lists every event seen so far, by name.
func (c *wsClient) received() []wsEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wsEvent(nil), c.events...)
}

func (c *wsClient) isClosed(within time.Duration) bool {
	select {
	case <-c.closed:
		return true
	case <-time.After(within):
		return false
	}
}

// connectSocket dials and sends CONNECT, dialling again (as socket.io-client
// would) when socket.io/v2 loses the CONNECT (SOCKETIO.md). It returns the
// client and the answer: connected, or the connect_error's body.
func connectSocket(t *testing.T, baseURL string, auth map[string]any, header http.Header) (*wsClient, bool, map[string]any) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := dialSocket(t, baseURL, auth, header)
		ok, body, answered := c.tryConnected(3 * time.Second)
		if answered {
			return c, ok, body
		}
		c.close()
		if attempt == 3 {
			t.Fatal("no answer to the namespace CONNECT, three times")
		}
	}
}

// authedSocket connects with a JWT for sub and role and waits for
// authenticated. socket.io/v2 rarely loses a websocket CONNECT (SOCKETIO.md);
// like socket.io-client, the helper then connects again.
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
