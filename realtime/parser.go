package realtime

import (
	"errors"
	"sync"

	"github.com/zishang520/engine.io/v2/events"
	"github.com/zishang520/socket.io-go-parser/v2/parser"
)

// errMalformed closes a connection that sent a packet the library would
// crash on.
var errMalformed = errors.New("malformed socket.io packet")

// safeParser wraps socket.io's parser. socket.io/v2 v2.5.0 panics, in a
// goroutine of its own where no recovery can reach, on an EVENT whose data is
// not an array (the raw packet "42") and on an ACK without data or id
// ("431"): one client could kill the process. The wrapper drops such packets
// before the library sees them and reports a protocol error, upon which the
// library closes that one connection, as socket.io does on any parse error.
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
	rejected bool
}

// Add decodes data. The inner decoder emits "decoded" synchronously from
// inside Add, so a rejection is known before Add returns.
func (d *safeDecoder) Add(data any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rejected = false
	if err := d.inner.Add(data); err != nil {
		return err
	}
	if d.rejected {
		return errMalformed
	}
	return nil
}

func (d *safeDecoder) Destroy() { d.inner.Destroy() }

func (d *safeDecoder) ondecoded(args ...any) {
	if len(args) == 0 {
		return
	}
	p, ok := args[0].(*parser.Packet)
	if !ok || !wellFormed(p) {
		d.rejected = true
		d.dropped()
		return
	}
	d.Emit("decoded", p)
}

// wellFormed: an event is an array whose first element is the event name;
// an ack is an array and carries the id it answers.
func wellFormed(p *parser.Packet) bool {
	switch p.Type {
	case parser.EVENT, parser.BINARY_EVENT:
		data, ok := p.Data.([]any)
		if !ok || len(data) == 0 {
			return false
		}
		_, ok = data[0].(string)
		return ok
	case parser.ACK, parser.BINARY_ACK:
		_, ok := p.Data.([]any)
		return ok && p.Id != nil
	default:
		return true
	}
}
