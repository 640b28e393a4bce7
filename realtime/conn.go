package realtime

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io/v2/socket"
)

// kickGrace bounds how long a disconnect waits for its last packets to reach
// the client before the connection is closed anyway.
const kickGrace = 2 * time.Second

// MaxAuthFailures is how many credentials one connection may have refused
// (handshake and authenticate event alike) before it is disconnected.
const MaxAuthFailures = 5

// conn is one engine.io connection: a client's session, on whichever
// transport, that may carry namespace sockets. The authentication deadline
// and the count of failed credentials belong here rather than to a namespace
// socket, which the client can leave ("41") and open again at will.
type conn struct {
	eio  engine.Socket
	addr string // the client's IP, the key of its limits until it authenticates

	// Ten thousand idle connections each hold this: what only a kick needs
	// (its channels) is made by the kick, and the namespace sockets, almost
	// always one, are a slice rather than a map.
	mu       sync.Mutex
	sessions []*session
	authed   int // authenticated namespace sockets
	failures int
	pending  bool        // counted in Server.pending: no socket on it is authenticated (limits.go)
	timer    *time.Timer // the authentication deadline, while none is authenticated
	kicked   bool
	gone     bool          // the connection has ended
	goneCh   chan struct{} // closed when it has; made by a kick
	kickDone chan struct{} // closed once a kick has closed the connection; made by the kick
}

// connOf returns the state of an engine.io connection, creating it on first
// sight: the first packets of a websocket can race the engine's
// "connection" event.
func (s *Server) connOf(eio engine.Socket) *conn {
	id := eio.Id()
	s.mu.Lock()
	c, ok := s.conns[id]
	if !ok {
		c = &conn{eio: eio, addr: s.clientAddr(eio)}
		s.conns[id] = c
	}
	s.mu.Unlock()
	if ok {
		return c
	}
	c.mu.Lock()
	// The deadline's first step is the grace (limits.go): a connection
	// still unauthenticated then counts against its address.
	c.timer = time.AfterFunc(s.grace(), func() { s.authDeadline(c) })
	c.mu.Unlock()
	eio.Once("close", func(...any) { s.connGone(c) })
	if eio.ReadyState() == "closed" {
		s.connGone(c)
	}
	return c
}

// onEngineConnection runs after socket.io/v2's own "connection" listener
// (registered first, in New), which creates the client that listens to the
// session's data: the session's websocket may now be read (wsConn.hold).
func (s *Server) onEngineConnection(args ...any) {
	if eio, ok := args[0].(engine.Socket); ok {
		s.connOf(eio)
		if wc := wsConnOf(eio); wc != nil {
			wc.release()
		}
	}
}

// wsConnOf is the wrapped connection under a websocket session, if any.
func wsConnOf(eio engine.Socket) *wsConn {
	ctx := eio.Request()
	if ctx == nil || ctx.Websocket == nil || ctx.Websocket.Conn == nil {
		return nil
	}
	wc, _ := ctx.Websocket.UnderlyingConn().(*wsConn)
	return wc
}

func (s *Server) connGone(c *conn) {
	c.mu.Lock()
	if !c.gone && c.goneCh != nil {
		close(c.goneCh)
	}
	c.gone = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.pending {
		c.pending = false
		s.pending.drop(addrKey(c))
	}
	c.mu.Unlock()
	s.mu.Lock()
	if s.conns[c.eio.Id()] == c {
		delete(s.conns, c.eio.Id())
	}
	s.mu.Unlock()
}

// authDeadline disconnects a connection on which no namespace socket is
// authenticated when its time is up. It comes in two steps: at the end of
// the grace, the connection is counted against its address's
// unauthenticated connections, and refused if they are at their limit;
// then, at AuthTimeout, it is disconnected.
func (s *Server) authDeadline(c *conn) {
	c.mu.Lock()
	idle := c.authed == 0 && !c.kicked && !c.gone
	c.timer = nil
	if idle && !c.pending {
		if !s.pending.take(addrKey(c), s.cfg.UnauthenticatedPerAddress) {
			c.mu.Unlock()
			s.log.Debug("socket: too many unauthenticated connections from one address", "client", c.addr)
			s.kickHolding(c, why{code: codeTooManySockets, message: s.tooManyPending(), name: codeTooManySockets,
				limit: s.cfg.UnauthenticatedPerAddress}, false, true)
			return
		}
		c.pending = true
		if rest := s.cfg.AuthTimeout - s.grace(); rest > 0 {
			c.timer = time.AfterFunc(rest, func() { s.authDeadline(c) })
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	if idle {
		s.kick(c, codeUnauthorized, "No authenticate event within "+s.cfg.AuthTimeout.String()+"; disconnecting.")
	}
}

// authenticated counts an authenticated namespace socket, lifts the
// deadline, and takes the connection off its address's unauthenticated ones.
func (s *Server) authenticated(c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authed++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.pending {
		c.pending = false
		s.pending.drop(addrKey(c))
	}
}

// left forgets a namespace socket. A connection left with no authenticated
// socket gets a fresh deadline, and counts as unauthenticated again (over
// the address's limit if need be: it is not refused, its deadline ends it).
func (s *Server) left(c *conn, ss *session, wasAuthed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions = slices.DeleteFunc(c.sessions, func(x *session) bool { return x == ss })
	if !wasAuthed {
		return
	}
	c.authed--
	if c.authed == 0 && !c.kicked && !c.gone && c.timer == nil {
		c.timer = time.AfterFunc(s.cfg.AuthTimeout, func() { s.authDeadline(c) })
	}
	if c.authed == 0 && !c.gone && !c.pending {
		c.pending = true
		s.pending.take(addrKey(c), 0)
	}
}

// failed counts a refused credential and reports whether the connection has
// had its share.
func (c *conn) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	return c.failures >= MaxAuthFailures
}

// exhausted reports whether the connection has had its share of refused
// credentials: no further one is tried, even one that arrives before the
// connection is closed (events run concurrently, so the next attempt can
// come while the last refusal is still being answered).
func (c *conn) exhausted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures >= MaxAuthFailures
}

func (c *conn) isKicked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kicked
}

// kick disconnects a client and says why, in the order socket.io-client
// understands: an error event {message, code} on each namespace socket, a
// DISCONNECT ("41", which makes the client report "io server disconnect"
// and not reconnect), then the websocket close frame (wsConn) and the end of
// the connection. A connection with no namespace socket gets a CONNECT_ERROR
// with the reason instead. The connection is closed when those packets have
// been written, or after kickGrace. The channel is closed then.
func (s *Server) kick(c *conn, code, message string) <-chan struct{} {
	return s.kickHolding(c, why{code: code, message: message}, false, true)
}

// why is what a kick tells the client: an error code and a sentence; to a
// connection with no socket, name is the CONNECT_ERROR's message ("": the
// sentence), and a limit, when there is one, goes in its data.
type why struct {
	code, message string
	name          string
	limit         int
}

// kickHolding is kick; with hold it also marks the engine socket as closing
// once the packets are queued, so that a close the library is about to make
// becomes a no-op and the packets are not lost. Without final, no DISCONNECT
// is sent: the client is told why, the connection closes cleanly, and
// socket.io-client reconnects by itself (to another instance, or to this one
// once it is back), as it should after a shutdown.
func (s *Server) kickHolding(c *conn, w why, hold, final bool) <-chan struct{} {
	c.mu.Lock()
	if c.kicked {
		done := c.kickDone
		c.mu.Unlock()
		return done
	}
	c.kicked = true
	c.kickDone = make(chan struct{})
	c.goneCh = make(chan struct{})
	if c.gone {
		close(c.goneCh)
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	sessions := slices.Clone(c.sessions)
	c.mu.Unlock()

	var once sync.Once
	finish := func() {
		once.Do(func() {
			c.eio.Close(true)
			close(c.kickDone)
		})
	}
	if c.eio.ReadyState() != "open" {
		finish()
		return c.kickDone
	}
	sent := sayWhy(c, sessions, w, final)
	if hold && c.eio.ReadyState() == "open" {
		c.eio.SetReadyState("closing")
	}
	go func() {
		t := time.NewTimer(kickGrace)
		defer t.Stop()
		select {
		case <-sent:
		case <-c.goneCh:
		case <-t.C:
		}
		finish()
	}()
	return c.kickDone
}

// sayWhy writes, in order, what tells the client why it is disconnected
// (see kickHolding). The channel receives once the last packet is written.
func sayWhy(c *conn, sessions []*session, w why, final bool) <-chan struct{} {
	body := map[string]any{"success": false, "message": w.message, "error": w.message, "code": w.code}
	sent := make(chan struct{}, 1)
	written := func(transports.Transport) {
		select {
		case sent <- struct{}{}:
		default:
		}
	}
	if !final {
		for _, ss := range sessions {
			_ = ss.sock.Emit(evError, body)
		}
		c.eio.Write(types.NewStringBufferString("6"), nil, written) // an engine.io noop, to learn the error was written
	} else if len(sessions) == 0 {
		data := map[string]any{"code": w.code, "message": w.message}
		if w.limit > 0 {
			data["limit"] = w.limit
		}
		name := w.name
		if name == "" {
			name = w.message
		}
		b, _ := json.Marshal(map[string]any{"message": name, "data": data})
		c.eio.Write(types.NewStringBufferString("4"+string(b)), nil, written)
	} else {
		for i, ss := range sessions {
			_ = ss.sock.Emit(evError, body)
			var cb engine.SendCallback
			if i == len(sessions)-1 {
				cb = written
			}
			c.eio.Write(types.NewStringBufferString(disconnectPacket(ss.sock)), nil, cb)
		}
	}
	return sent
}

// disconnectPacket is a Socket.IO DISCONNECT for the socket's namespace.
func disconnectPacket(sock *socket.Socket) string {
	if nsp := sock.Nsp().Name(); nsp != "/" {
		return "1" + nsp + ","
	}
	return "1"
}

// onRefused handles what the parser wrapper refused: the library reports it
// to each namespace socket and then closes the connection at once, which
// would lose the reason and the DISCONNECT. Marking the engine socket as
// closing makes that close a no-op; kick closes it once the client has been
// told.
func (s *Server) onRefused(c *conn, err error) {
	r, ok := asRefusal(err)
	if !ok {
		return
	}
	s.kickHolding(c, why{code: r.code, message: r.message}, true, true)
}

// closeAll tells every client why, then closes its connection without a
// DISCONNECT, so that clients reconnect; it waits at most until done ends.
func (s *Server) closeAll(code, message string, done <-chan struct{}) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	waits := make([]<-chan struct{}, 0, len(conns))
	for _, c := range conns {
		waits = append(waits, s.kickHolding(c, why{code: code, message: message}, false, false))
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-done:
			return
		}
	}
}
