package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// The events realtime handles itself; the meeting events and their answers
// are the operations' (wire.Ops and wire.Event*).
const (
	evAuthenticate  = "authenticate"
	evAuthenticated = "authenticated"
	evError         = "error"
)

// eventTable holds the operations a socket can ask for, by event name.
type eventTable struct {
	byEvent map[string]wire.Op
	names   string // "authenticate, meeting:start, … and ping", for an unknown event's answer
}

// newEventTable keeps the operations that have an event, in table order.
func newEventTable(ops []wire.Op) eventTable {
	t := eventTable{byEvent: map[string]wire.Op{}}
	names := []string{evAuthenticate}
	for _, op := range ops {
		if op.Event == "" {
			continue
		}
		t.byEvent[op.Event] = op
		names = append(names, op.Event)
	}
	t.names = names[0]
	if n := len(names); n > 1 {
		t.names = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return t
}

func (t eventTable) unknown(name string) error {
	return &apperr.Error{Kind: apperr.ErrInvalidInput, Op: "event",
		Message: fmt.Sprintf("Unknown event %q; the events are %s.", truncate(name, 64), t.names)}
}

// dispatch runs one event. Every event a client sends, known or not, counts
// against its limit: the caller's once authenticated, its address's before.
func (s *Server) dispatch(sock *socket.Socket, ss *session, args []any) {
	if len(args) == 0 || ss.c.isKicked() {
		return
	}
	name, _ := args[0].(string)
	payload, ack := splitArgs(args[1:])
	if err := s.allowEvent(ss); err != nil {
		s.reply(sock, ack, name, nil, err)
		return
	}
	if name == evAuthenticate {
		s.onAuthenticate(sock, ss, payload, ack)
		return
	}
	if s.onRTMSEvent(sock, ss, name, payload, ack) {
		return
	}
	if s.onAwaitEvent(sock, ss, name, payload, ack) {
		return
	}
	op, ok := s.ops.byEvent[name]
	if !ok {
		s.reply(sock, ack, name, nil, s.ops.unknown(name))
		return
	}
	s.run(sock, ss, op, payload, ack)
}

// allowEvent counts one event against the Limiter: by caller once the
// socket is authenticated, by client address before.
func (s *Server) allowEvent(ss *session) error {
	if s.cfg.Limiter == nil {
		return nil
	}
	key := "addr:" + ss.c.addr
	if id, ok := ss.identity(); ok {
		key = id.RateKey()
	}
	if ok, wait := s.cfg.Limiter.Allow(key); !ok {
		return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "event", RetryAfter: wait,
			Message: fmt.Sprintf("You are sending events faster than this server allows each caller; retry in %s.", wait)}
	}
	return nil
}

// run does an operation for an authenticated caller and answers: through
// the ack when the client gave one, else with the operation's Reply event,
// else not at all (the token's push to the caller's room answers). A caller
// whose role may never do it is refused before its body is read.
func (s *Server) run(sock *socket.Socket, ss *session, op wire.Op, payload any, ack socket.Ack) {
	id, ok := ss.identity()
	if !ok {
		s.reply(sock, ack, op.Event, nil, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: op.Event,
			Message: "Authenticate first: send authenticate {token} or connect with auth.token."})
		return
	}
	if op.May != nil {
		if err := op.May(id); err != nil {
			s.reply(sock, ack, op.Event, nil, err)
			return
		}
	}
	var raw []byte
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	ctx, cancel := context.WithTimeout(services.WithClientAddr(s.ctx, ss.c.addr), s.cfg.EventTimeout)
	defer cancel()
	env := s.env
	// A batch's progress goes to the socket that asked, not to its room.
	env.Progress = func(p wire.Progress) { _ = sock.Emit(wire.EventProgress, p) }
	body, err := op.Do(ctx, env, id, raw)
	switch {
	case err != nil:
		s.reply(sock, ack, op.Event, nil, err)
	case ack != nil:
		ack([]any{body}, nil)
	case op.Reply != "":
		_ = sock.Emit(op.Reply, body)
	}
}
