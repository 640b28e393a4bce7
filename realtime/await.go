package realtime

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// Awaits waits for a user's presence in a meeting (awaits.Awaits).
type Awaits interface {
	Await(ctx context.Context, caller services.Identity, in awaits.AwaitInput, sink awaits.AwaitSink) (*awaits.Await, error)
	JoinCandidates(ctx context.Context, caller services.Identity, in services.JoinInput) (awaits.AwaitCredentials, error)
}

// socketAwaits are the awaits of each socket, so that meeting:cancel-await
// and a disconnect end them.
type socketAwaits struct {
	mu     sync.Mutex
	bySock map[*session]map[*awaits.Await]struct{}
}

// onAwaitEvent handles meeting:await and meeting:cancel-await; it reports
// false for any other event (dispatch goes on with the operations table).
func (s *Server) onAwaitEvent(sock *socket.Socket, ss *session, name string, payload any, ack socket.Ack) bool {
	if name != wire.EventAwait && name != wire.EventCancelAwait {
		return false
	}
	id, ok := ss.identity()
	if !ok {
		s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: name,
			Message: "Authenticate first: send authenticate {token} or connect with auth.token."})
		return true
	}
	var raw []byte
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	if name == wire.EventCancelAwait {
		meeting, err := wire.DecodeCancelAwait(raw)
		if err != nil {
			s.reply(sock, ack, name, nil, err)
			return true
		}
		n := 0
		for _, w := range s.awaitsOf(ss) {
			if w.Meeting().String() == meeting.String() {
				w.Cancel()
				s.forgetAwait(ss, w)
				n++
			}
		}
		if ack != nil {
			ack([]any{wire.CancelledAwaits{Success: true, MeetingID: meeting, Cancelled: n}}, nil)
		}
		return true
	}
	if s.cfg.Awaits == nil {
		s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrNotFound, Op: name, Message: "Awaiting presence is not configured on this server."})
		return true
	}
	in, err := wire.DecodeAwait(raw, wire.AwaitSocketDefault, wire.AwaitSocketMax, false)
	if err != nil {
		s.reply(sock, ack, name, nil, err)
		return true
	}
	in.Watch = true
	sink := &socketSink{s: s, sock: sock, ss: ss, ack: ack, in: in, ready: make(chan struct{}), inRoom: reachesRoom(id, in)}
	defer sink.release()
	s.watchDisconnect(sock, ss)
	sink.mu.Lock() // the sink forgets its await only once it is remembered
	w, err := s.cfg.Awaits.Await(s.ctx, id, in, sink)
	if err == nil {
		sink.w = w
		s.rememberAwait(ss, w)
	}
	sink.mu.Unlock()
	if err != nil {
		s.reply(sock, ack, name, nil, err)
		return true
	}
	if !sock.Connected() { // gone while it was set up
		s.endAwaits(ss)
	}
	return true
}

// reachesRoom: the join's push to the user's room reaches this socket (the
// socket's own user awaited alone, not followed: candidates' and followed
// OBFs are never pushed to a room).
func reachesRoom(id services.Identity, in awaits.AwaitInput) bool {
	return !in.Listed && !in.Follow && !id.User.IsZero() && id.User.Same(in.User)
}

// watchDisconnect ends a socket's awaits when it disconnects.
func (s *Server) watchDisconnect(sock *socket.Socket, ss *session) {
	s.aw.mu.Lock()
	defer s.aw.mu.Unlock()
	if s.aw.bySock == nil {
		s.aw.bySock = map[*session]map[*awaits.Await]struct{}{}
	}
	if _, ok := s.aw.bySock[ss]; ok {
		return
	}
	s.aw.bySock[ss] = map[*awaits.Await]struct{}{}
	_ = sock.On("disconnect", func(...any) { s.endAwaits(ss) })
}

func (s *Server) rememberAwait(ss *session, w *awaits.Await) {
	s.aw.mu.Lock()
	defer s.aw.mu.Unlock()
	if set, ok := s.aw.bySock[ss]; ok {
		set[w] = struct{}{}
	}
}

func (s *Server) forgetAwait(ss *session, w *awaits.Await) {
	s.aw.mu.Lock()
	defer s.aw.mu.Unlock()
	delete(s.aw.bySock[ss], w)
}

func (s *Server) awaitsOf(ss *session) []*awaits.Await {
	s.aw.mu.Lock()
	defer s.aw.mu.Unlock()
	out := make([]*awaits.Await, 0, len(s.aw.bySock[ss]))
	for w := range s.aw.bySock[ss] {
		out = append(out, w)
	}
	return out
}

// endAwaits cancels every await of a socket that went away.
func (s *Server) endAwaits(ss *session) {
	s.aw.mu.Lock()
	set := s.aw.bySock[ss]
	delete(s.aw.bySock, ss)
	s.aw.mu.Unlock()
	for w := range set {
		w.Cancel()
	}
}

// socketSink tells a socket how its await goes: meeting:awaiting (or the
// ack), then meeting:credentials (unless the push to the user's room already
// reached this socket) or an error, then meeting:user-left.
type socketSink struct {
	s      *Server
	sock   *socket.Socket
	ss     *session
	ack    socket.Ack
	in     awaits.AwaitInput
	inRoom bool

	mu   sync.Mutex
	w    *awaits.Await
	said atomic.Bool // the first answer is held (or sent)

	// The answer (meeting:awaiting or the ack) is held until the await is
	// remembered: a client that cancels as soon as it is told "waiting"
	// must find it. ready is closed once the answer is sent; what follows
	// (credentials, an error, user-left) waits for it, so order holds.
	held  *wire.Awaiting
	ready chan struct{}
	once  sync.Once
}

// release sends the held answer, once.
func (k *socketSink) release() {
	k.once.Do(func() {
		if k.held != nil {
			if k.ack != nil {
				k.ack([]any{*k.held}, nil)
			} else {
				_ = k.sock.Emit(wire.EventAwaiting, *k.held)
			}
		}
		close(k.ready)
	})
}

func (k *socketSink) done() {
	k.mu.Lock()
	w := k.w
	k.mu.Unlock()
	if w != nil {
		k.s.forgetAwait(k.ss, w)
	}
}

// Awaiting holds the first answer until the await is remembered; a
// following await's later ones (waiting after a departure, ended) are sent
// as meeting:awaiting.
func (k *socketSink) Awaiting(p presence.State) {
	body := wire.NewAwaiting(k.in, p, k.s.cfg.Now())
	if first := !k.said.Swap(true); first {
		k.held = &body // sent by release, once Await has returned and the await is remembered
		if p == presence.Unknown {
			go k.done() // Await has not returned yet: forget it once it has
		}
		return
	}
	<-k.ready
	_ = k.sock.Emit(wire.EventAwaiting, body)
	if p == presence.Ended {
		k.done()
	}
}

func (k *socketSink) Credentials(c awaits.AwaitCredentials) {
	<-k.ready
	if !k.inRoom {
		c.Delivered = true
		_ = k.sock.Emit(wire.EventCredentials, wire.NewCandidateJoinResponse(c))
		k.s.obs.Pushed(wire.EventCredentials, true)
	}
}

func (k *socketSink) Failed(err error) {
	<-k.ready
	body := errorEvent(wire.EventAwait, err)
	body["meetingId"] = k.in.MeetingID
	_ = k.sock.Emit(evError, body)
	k.done()
}

func (k *socketSink) UserLeft(user zoom.UserID) {
	<-k.ready
	_ = k.sock.Emit(wire.EventUserLeft, wire.UserLeft{MeetingID: k.in.MeetingID, UserID: user, Timestamp: k.s.cfg.Now().UTC()})
	k.s.obs.Pushed(wire.EventUserLeft, true)
	if !k.in.Follow { // a following await goes on: a hand-off or a wait follows
		k.done()
	}
}

// candidateJoiner is aw as the operations' CandidateJoiner; nil when no
// awaits are configured.
func candidateJoiner(aw Awaits) wire.CandidateJoiner {
	if aw == nil {
		return nil
	}
	return aw
}
