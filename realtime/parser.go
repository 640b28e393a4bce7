package realtime

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/events"
	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io-go-parser/v2/parser"
	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// refusal is why the parser wrapper refused a connection's input. The
// library reports it to each namespace socket of that connection as an
// "error" event; the server then tells the client why and closes the
// connection.
type refusal struct {
	code    string
	message string
}

func (r *refusal) Error() string { return r.message }

var (
	// errMalformed: a packet the library would crash on.
	errMalformed = &refusal{code: apperr.CodeInvalidRequest,
		message: "Malformed Socket.IO packet: an event must be an array starting with its name, an ack must carry its id."}
	// errBinary: the API has no binary events, and a binary packet makes the
	// library buffer every attachment frame until the last one arrives.
	errBinary = &refusal{code: apperr.CodeInvalidRequest,
		message: "Binary packets are not accepted: every event of this API is JSON."}
)

func asRefusal(err error) (*refusal, bool) {
	var r *refusal
	ok := errors.As(err, &r)
	return r, ok
}

// safeParser wraps socket.io's parser.
//
// socket.io/v2 v2.5.0 panics, in a goroutine of its own where no recovery can
// reach, on an EVENT whose data is not an array (the raw packet "42") and on
// an ACK without data or id ("431"): one client could kill the process. And a
// BINARY_EVENT header such as `451000000-["ping"]` makes the inner decoder
// keep every following binary frame until a million have arrived.
//
// The wrapper refuses binary packet headers (types 5 and 6) and binary data
// before the inner decoder sees them, so nothing is ever buffered, and drops
// malformed events. It then reports an error, upon which the library closes
// that one connection, as socket.io does on any parse error. Once it has
// refused something, it refuses everything else that connection sends.
type safeParser struct {
	inner   parser.Parser
	dropped func()
}

func newSafeParser(dropped func()) parser.Parser {
	if dropped == nil {
		dropped = func() {}
	}
	return safeParser{inner: parser.NewParser(), dropped: dropped}
}

func (p safeParser) NewEncoder() parser.Encoder { return p.inner.NewEncoder() }

func (p safeParser) NewDecoder() parser.Decoder {
	d := &safeDecoder{EventEmitter: events.New(), inner: p.inner.NewDecoder(), dropped: p.dropped}
	_ = d.inner.On("decoded", d.ondecoded)
	return d
}

type safeDecoder struct {
	events.EventEmitter
	inner   parser.Decoder
	dropped func()

	mu       sync.Mutex // Add is serial per connection; the lock keeps it so
	rejected bool       // set by ondecoded, within Add
	refused  *refusal   // the connection's first refusal

	gateMu sync.Mutex   // Destroy runs beside Add: never held while waiting
	gate   *connectGate // the pending gate of "/", the one namespace gated
}

// The library answers a namespace CONNECT, then registers the socket, on a
// goroutine of its own: a packet that arrives in between finds no socket,
// and the library closes the connection without a word. socket.io-client
// sends the events it buffered the moment it is connected, so that gap is
// met in practice. The decoder closes it: after a CONNECT, it holds that
// namespace's next packets until the socket is registered. The gate travels
// to the handshake in the CONNECT's auth payload (gateKey), and is opened
// once the socket is connected, or refused.
type connectGate struct {
	once sync.Once
	ch   chan struct{}
}

// gateKey carries the gate in a CONNECT's auth payload; the handshake takes
// it out before anything reads the payload.
const gateKey = "\x00connect-gate"

// gateWait bounds how long packets wait for a gate that is never opened.
const gateWait = 5 * time.Second

func (g *connectGate) open() {
	if g != nil {
		g.once.Do(func() { close(g.ch) })
	}
}

// takeGate removes the gate from a CONNECT's auth payload, if it is there.
func takeGate(auth any) *connectGate {
	m, ok := auth.(map[string]any)
	if !ok {
		return nil
	}
	g, _ := m[gateKey].(*connectGate)
	delete(m, gateKey)
	return g
}

// Add decodes data. The inner decoder emits "decoded" synchronously from
// inside Add, so a rejection is known before Add returns.
func (d *safeDecoder) Add(data any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refused != nil {
		return d.refused
	}
	if !textPacket(data) {
		return d.refuse(errBinary)
	}
	d.rejected = false
	if err := d.inner.Add(data); err != nil {
		return err
	}
	if d.rejected {
		return d.refuse(errMalformed)
	}
	return nil
}

// refuse records the connection's refusal. The library reports it to the
// namespace sockets it has registered; one whose CONNECT was answered but
// which is not registered yet would miss it, and the client would not be
// told why: the refusal waits for a pending gate first, as packets do.
func (d *safeDecoder) refuse(r *refusal) error {
	d.refused = r
	d.dropped()
	d.gateMu.Lock()
	g := d.gate
	d.gateMu.Unlock()
	if g != nil {
		t := time.NewTimer(gateWait)
		select {
		case <-g.ch:
		case <-t.C:
		}
		t.Stop()
	}
	return r
}

// textPacket reports whether data is a text packet of a type other than
// BINARY_EVENT (5) and BINARY_ACK (6), judged by its first character.
func textPacket(data any) bool {
	var first byte
	switch v := data.(type) {
	case string:
		if v == "" {
			return true // the inner decoder refuses it
		}
		first = v[0]
	case *strings.Reader:
		b, err := v.ReadByte()
		if err != nil {
			return true
		}
		_ = v.UnreadByte()
		first = b
	case *types.StringBuffer:
		b := v.Bytes()
		if len(b) == 0 {
			return true
		}
		first = b[0]
	default:
		return false // binary: only attachments are, and none are accepted
	}
	return first != byte(parser.BINARY_EVENT) && first != byte(parser.BINARY_ACK)
}

func (d *safeDecoder) Destroy() {
	d.gateMu.Lock()
	d.gate.open()
	d.gate = nil
	d.gateMu.Unlock()
	d.inner.Destroy()
}

func (d *safeDecoder) ondecoded(args ...any) {
	if len(args) == 0 {
		return
	}
	p, ok := args[0].(*parser.Packet)
	if !ok || !wellFormed(p) {
		d.rejected = true
		return
	}
	if p.Type == parser.CONNECT && p.Nsp == "/" { // the one namespace served
		d.newGate(p)
	} else if g := d.takeGate(p.Nsp); g != nil {
		t := time.NewTimer(gateWait)
		select {
		case <-g.ch:
		case <-t.C:
		}
		t.Stop()
	}
	d.Emit("decoded", p)
}

// newGate puts a new gate for the CONNECT's namespace into its auth payload.
// A payload that is neither absent nor an object gets none: the library
// keeps its own behaviour for it.
func (d *safeDecoder) newGate(p *parser.Packet) {
	var auth map[string]any
	switch v := p.Data.(type) {
	case nil:
		auth = map[string]any{}
		p.Data = auth
	case map[string]any:
		auth = v
	default:
		return
	}
	g := &connectGate{ch: make(chan struct{})}
	auth[gateKey] = g
	d.gateMu.Lock()
	d.gate.open() // a CONNECT again for the same namespace: release the old
	d.gate = g
	d.gateMu.Unlock()
}

// takeGate removes and returns the namespace's gate, if one is pending.
func (d *safeDecoder) takeGate(nsp string) *connectGate {
	if nsp != "/" {
		return nil
	}
	d.gateMu.Lock()
	defer d.gateMu.Unlock()
	g := d.gate
	d.gate = nil
	return g
}

// wellFormed: an event is an array whose first element is the event name;
// an ack is an array and carries the id it answers. Binary packets never
// get this far.
func wellFormed(p *parser.Packet) bool {
	switch p.Type {
	case parser.EVENT:
		data, ok := p.Data.([]any)
		if !ok || len(data) == 0 {
			return false
		}
		_, ok = data[0].(string)
		return ok
	case parser.ACK:
		_, ok := p.Data.([]any)
		return ok && p.Id != nil
	case parser.BINARY_EVENT, parser.BINARY_ACK:
		return false
	default:
		return true
	}
}
