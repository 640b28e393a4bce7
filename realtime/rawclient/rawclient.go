// Package rawclient is a minimal Engine.IO v4 / Socket.IO v5 client over a
// websocket, packet by packet. The tests use it to send what a well-behaved
// client never would; the benchmark uses it to hold thousands of sockets
// cheaply. Applications should use socket.io-client (see examples/).
package rawclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Event is one event the server emitted, with when it arrived.
type Event struct {
	Name string
	Args []json.RawMessage
	At   time.Time
	// AckID is the id of the ack the server asked for (Ack answers it);
	// -1 when it asked for none.
	AckID int
}

// splitAckID splits "12[...]" into 12 and "[...]"; -1 when there is no id.
func splitAckID(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return -1, s
	}
	id, err := strconv.Atoi(s[:i])
	if err != nil {
		return -1, s[i:]
	}
	return id, s[i:]
}

// Ack answers an event the server sent with an ack id.
func (c *Client) Ack(id int, args ...any) {
	if args == nil {
		args = []any{}
	}
	b, _ := json.Marshal(args)
	c.Raw("43" + strconv.Itoa(id) + string(b))
}

// Client is one websocket connection with the default namespace.
type Client struct {
	conn *websocket.Conn
	wmu  sync.Mutex // websocket writes are serial

	mu      sync.Mutex
	events  []Event
	acks    map[int]chan []json.RawMessage
	nextAck int
	signal  chan struct{}

	connected chan json.RawMessage // 40 {sid}
	connErr   chan json.RawMessage // 44 {message, data}
	closed    chan struct{}

	// How the server ended the connection, set before closed is closed.
	disconnected bool // it sent a DISCONNECT ("41")
	closeCode    int  // the status of its close frame; 0: none came
}

// Dial opens a websocket to baseURL's /socket.io/ and sends the namespace
// CONNECT with auth (nil: no auth payload).
func Dial(baseURL string, auth map[string]any, header http.Header) (*Client, error) {
	return dial(baseURL, auth, header, false)
}

// DialEager is Dial, but the CONNECT goes out as soon as the websocket is
// open, before the server's engine.io OPEN packet has been read: what a
// server that is slow between its OPEN and its first read sees from any
// client.
func DialEager(baseURL string, auth map[string]any, header http.Header) (*Client, error) {
	return dial(baseURL, auth, header, true)
}

func dial(baseURL string, auth map[string]any, header http.Header, eager bool) (*Client, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(u, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &Client{conn: conn, acks: map[int]chan []json.RawMessage{}, signal: make(chan struct{}, 1),
		connected: make(chan json.RawMessage, 1), connErr: make(chan json.RawMessage, 1), closed: make(chan struct{})}
	connect := "40"
	if auth != nil {
		b, _ := json.Marshal(auth)
		connect += string(b)
	}
	if eager {
		c.Raw(connect)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), "0{") {
		conn.Close()
		return nil, fmt.Errorf("no engine.io open packet: %q %v", open, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	if !eager {
		c.Raw(connect)
	}
	return c, nil
}

// Connect dials and waits for the CONNECT's answer, dialling again (as
// socket.io-client reconnects) when the server loses the CONNECT, which
// socket.io/v2 v2.5.0 rarely does. ok is false on a connect_error, whose body
// is returned.
func Connect(baseURL string, auth map[string]any, header http.Header) (c *Client, ok bool, body map[string]any, redials int, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		c, err = Dial(baseURL, auth, header)
		if err != nil {
			return nil, false, nil, attempt, err
		}
		ok, body, answered := c.Connected(time.Second)
		if answered {
			return c, ok, body, attempt, nil
		}
		c.Close()
	}
	return nil, false, nil, 5, errors.New("no answer to the namespace CONNECT after 5 dials")
}

func (c *Client) read() {
	defer close(c.closed)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.mu.Lock()
				c.closeCode = ce.Code
				c.mu.Unlock()
			}
			return
		}
		s := string(msg)
		switch {
		case s == "2": // engine.io ping
			c.Raw("3")
		case strings.HasPrefix(s, "40"):
			c.connected <- json.RawMessage(s[2:])
		case strings.HasPrefix(s, "44"):
			select {
			case c.connErr <- json.RawMessage(s[2:]):
			default: // a second one, as a reason before a disconnect
			}
		case strings.HasPrefix(s, "41"):
			c.mu.Lock()
			c.disconnected = true
			c.mu.Unlock()
		case strings.HasPrefix(s, "42"):
			ackID, rest := splitAckID(s[2:])
			var args []json.RawMessage
			if json.Unmarshal([]byte(rest), &args) != nil || len(args) == 0 {
				continue
			}
			var name string
			_ = json.Unmarshal(args[0], &name)
			c.mu.Lock()
			c.events = append(c.events, Event{Name: name, Args: args[1:], At: time.Now(), AckID: ackID})
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

// Raw sends one websocket text frame as it is.
func (c *Client) Raw(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

// Binary sends one websocket binary frame.
func (c *Client) Binary(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}

// Close closes the connection.
func (c *Client) Close() { _ = c.conn.Close() }

// CloseHandshake closes as a well-behaved client does: a close frame
// (1000), then it waits for the server's close frame and the end of the TCP
// connection. It reports how long that took, or an error if the server did
// not finish the handshake within the time.
func (c *Client) CloseHandshake(within time.Duration) (time.Duration, error) {
	start := time.Now()
	c.wmu.Lock()
	err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), start.Add(5*time.Second))
	c.wmu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("close frame: %w", err)
	}
	select {
	case <-c.closed: // the server's close frame (or the end of the stream) came
	case <-time.After(within):
		return 0, errors.New("no close frame from the server")
	}
	// The server must then end the TCP connection: a read sees EOF.
	_ = c.conn.UnderlyingConn().SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 64)
	for {
		if _, err := c.conn.UnderlyingConn().Read(buf); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, errors.New("the server did not close the TCP connection")
			}
			break
		}
	}
	d := time.Since(start)
	_ = c.conn.Close()
	return d, nil
}

// Ending reports how the server ended the connection: whether it sent a
// DISCONNECT ("41") and the status of its close frame (0: none). Call it
// after Closed.
func (c *Client) Ending() (disconnected bool, closeCode int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.disconnected, c.closeCode
}

// Connected waits for the CONNECT's answer: connected, or a connect_error and
// its body. answered is false if none came within the time.
func (c *Client) Connected(within time.Duration) (ok bool, body map[string]any, answered bool) {
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

// Emit sends an event without an ack.
func (c *Client) Emit(event string, payload any) {
	b, _ := json.Marshal([]any{event, payload})
	c.Raw("42" + string(b))
}

// EmitAck sends an event with an ack id and returns the ack's arguments.
func (c *Client) EmitAck(event string, payload any, timeout time.Duration) ([]json.RawMessage, error) {
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
	c.Raw("42" + strconv.Itoa(id) + string(b))
	select {
	case args := <-ch:
		return args, nil
	case <-c.closed:
		// The reader hands the ack over before it notices the close: an ack
		// that came just before the close is there now.
		select {
		case args := <-ch:
			return args, nil
		default:
		}
		return nil, errors.New("connection closed before the ack of " + event)
	case <-time.After(timeout):
		return nil, errors.New("no ack for " + event)
	}
}

// WaitEvent takes the first event named name that arrived, or waits for it.
func (c *Client) WaitEvent(name string, timeout time.Duration) (Event, bool) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for i, e := range c.events {
			if e.Name == name {
				c.events = append(c.events[:i], c.events[i+1:]...)
				c.mu.Unlock()
				return e, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			return Event{}, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Events lists the events received and not yet taken.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Count is how many events named name were received and not yet taken.
func (c *Client) Count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if e.Name == name {
			n++
		}
	}
	return n
}

// Closed reports whether the connection ends within the time.
func (c *Client) Closed(within time.Duration) bool {
	select {
	case <-c.closed:
		return true
	case <-time.After(within):
		return false
	}
}
