package realtime

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// closeLinger is how long a websocket's TCP connection is kept, after the
// server's close frame, for the client to read it and close its side.
const closeLinger = time.Second

// holdMax bounds how long a new websocket session's reads are held (see
// wsConn.hold) if the engine never reports the session.
const holdMax = 10 * time.Second

// hijackWriter hands the websocket library a wrapped connection (wsConn)
// when it takes the connection over. hold: the request opens a new session
// (no sid), whose reads wait until Socket.IO listens to it.
//
// Its Header starts empty: engine.io copies the answer's headers into the
// session's state and keeps them for the session's life, and the REST
// side's headers (security, CORS) mean nothing on a 101 answer. An answer
// other than the upgrade (engine.io refusing the request) still carries
// them: they stay on the ResponseWriter, and what engine.io sets is added.
type hijackWriter struct {
	http.ResponseWriter
	hold   bool
	header http.Header
	wrote  bool // the header is out
}

func newHijackWriter(w http.ResponseWriter, hold bool) *hijackWriter {
	return &hijackWriter{ResponseWriter: w, hold: hold, header: http.Header{}}
}

func (h *hijackWriter) Header() http.Header { return h.header }

func (h *hijackWriter) WriteHeader(code int) {
	if h.wrote {
		return
	}
	h.wrote = true
	dst := h.ResponseWriter.Header()
	for k, v := range h.header {
		dst[k] = v
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *hijackWriter) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.ResponseWriter.Write(b)
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	wc := newWSConn(c)
	if h.hold {
		wc.holdReads()
	}
	return wc, rw, nil
}

func (h *hijackWriter) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// wsConn completes the websocket close handshake that engine.io/v2 leaves
// undone, below the library, on the raw connection.
//
// The library's websocket transport closes the TCP connection without a
// close frame when the server ends a session, so browsers and
// socket.io-client see an abnormal closure and reconnect. And when the
// client closes, the websocket library answers the close frame but the
// transport never closes the TCP connection: the client waits for it (30 s
// in socket.io-client) and the server keeps the descriptor in CLOSE-WAIT.
//
// wsConn follows the server's frames as they are written (a server's frames
// are not masked, so their lengths are in plain sight). When a close frame
// goes out, whoever wrote it, it ends the server's side of the TCP
// connection at once (FIN) and closes the descriptor when the client has
// closed too, or after closeLinger. When the library closes the connection
// without a close frame, wsConn writes one first (1000, at a frame boundary).
type wsConn struct {
	net.Conn

	mu        sync.Mutex  // serialises writes and the frame state
	upgraded  bool        // the HTTP 101 answer, the first write, is out
	hdr       []byte      // header of the frame being written, while incomplete
	remaining uint64      // payload bytes of the frame being written, not yet out
	closeSent bool        // a close frame went out: no other frame may follow
	closeWant atomic.Bool // Close was called mid-frame: close at the boundary
	shutdown  atomic.Bool // FIN sent, descriptor closing

	closeOnce sync.Once

	// hold, while open, keeps the library's reader from reading (see
	// holdReads); nil when reads were never held.
	hold     chan struct{}
	holdOnce sync.Once
	holdEnd  *time.Timer // releases the reads after holdMax
}

func newWSConn(c net.Conn) *wsConn { return &wsConn{Conn: c} }

// holdReads makes reads wait until release (or holdMax).
//
// engine.io/v2 starts a new websocket session's reader and sends the OPEN
// packet before it emits "connection", the event upon which socket.io/v2
// creates its client and starts listening to the session's data. The OPEN
// goes out on a goroutine of its own; a client that answers it with its
// CONNECT ("40") quickly enough, or a handler goroutine that is descheduled
// in between (a connect storm on two cores), has that CONNECT read and
// emitted to no listener: it is dropped without a word, and socket.io-client
// waits for its connect timeout before it dials again. Holding the reads
// until the "connection" listeners have run (Server.onEngineConnection
// releases them) leaves early bytes in the kernel's buffer instead.
func (c *wsConn) holdReads() {
	c.hold = make(chan struct{})
	c.holdEnd = time.AfterFunc(holdMax, c.release)
}

// release lets reads go on.
func (c *wsConn) release() {
	if c.hold != nil {
		c.holdOnce.Do(func() {
			close(c.hold)
			c.holdEnd.Stop() // else 10,000 timers fire 10 s after a storm, each on a goroutine
		})
	}
}

// closeFrame is a server's close frame with status 1000 (normal closure).
var closeFrame = []byte{0x88, 0x02, 0x03, 0xe8}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	if !c.upgraded {
		c.upgraded = true // the websocket library writes its 101 answer in one call
		return n, err
	}
	c.track(p[:n])
	if err != nil {
		return n, err
	}
	if c.atBoundary() {
		if c.closeWant.Load() && !c.closeSent {
			c.writeCloseLocked()
		}
		if c.closeSent {
			c.shutdownLocked()
		}
	}
	return n, err
}

// track follows frame boundaries through the bytes written.
func (c *wsConn) track(p []byte) {
	for len(p) > 0 {
		if c.remaining > 0 {
			k := min(uint64(len(p)), c.remaining)
			c.remaining -= k
			p = p[k:]
			continue
		}
		c.hdr = append(c.hdr, p[0])
		p = p[1:]
		need := headerLen(c.hdr)
		if need == 0 || len(c.hdr) < need {
			continue
		}
		var size uint64
		switch l := c.hdr[1] & 0x7f; l {
		case 126:
			size = uint64(binary.BigEndian.Uint16(c.hdr[2:4]))
		case 127:
			size = binary.BigEndian.Uint64(c.hdr[2:10])
		default:
			size = uint64(l)
		}
		if c.hdr[0]&0x0f == 0x8 {
			c.closeSent = true
		}
		c.remaining = size
		c.hdr = c.hdr[:0]
	}
}

// headerLen is the length of a frame header given its first bytes, or 0 if
// they do not tell yet.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func (c *wsConn) atBoundary() bool { return c.remaining == 0 && len(c.hdr) == 0 }

func (c *wsConn) writeCloseLocked() {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(closeLinger))
	_, _ = c.Conn.Write(closeFrame)
	c.closeSent = true
}

// shutdownLocked ends the server's side of the TCP connection and closes the
// descriptor after closeLinger, or sooner if a read sees the client's end.
func (c *wsConn) shutdownLocked() {
	if !c.shutdown.CompareAndSwap(false, true) {
		return
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	time.AfterFunc(closeLinger, c.closeNow)
}

func (c *wsConn) closeNow() {
	c.closeOnce.Do(func() { _ = c.Conn.Close() })
}

func (c *wsConn) Read(p []byte) (int, error) {
	if c.hold != nil {
		<-c.hold
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.shutdown.Load() {
		c.closeNow()
	}
	return n, err
}

// Close is called by the websocket library when the server ends the
// session. It sends a close frame first, unless one went out already.
func (c *wsConn) Close() error {
	c.release()
	if !c.mu.TryLock() {
		// A write is under way, perhaps blocked on a client that does not
		// read: close at the next frame boundary, or give up after a while.
		c.closeWant.Store(true)
		time.AfterFunc(closeLinger, c.closeNow)
		return nil
	}
	defer c.mu.Unlock()
	if !c.upgraded {
		c.closeNow()
		return nil
	}
	if !c.closeSent {
		if !c.atBoundary() {
			c.closeWant.Store(true)
			time.AfterFunc(closeLinger, c.closeNow)
			return nil
		}
		c.writeCloseLocked()
	}
	c.shutdownLocked()
	return nil
}
