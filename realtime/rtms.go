package realtime

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// RTMS hands Zoom's Realtime Media Streams to workers (*rtms.RTMS).
type RTMS interface {
	Ready(w rtms.RTMSWorker, capacity int, resume []string) (rtms.RTMSReady, error)
	Release(w rtms.RTMSWorker, streamID string) error
	Gone(w rtms.RTMSWorker)
}

// socketWorker is a worker's socket as services sees it.
type socketWorker struct {
	sock *socket.Socket
	sub  string
}

func (w *socketWorker) WorkerID() string { return string(w.sock.Id()) }
func (w *socketWorker) Subject() string  { return w.sub }

// Assign emits rtms:assign with an ack; acked runs on the first ack only.
func (w *socketWorker) Assign(a rtms.RTMSAssignment, acked func()) {
	var once sync.Once
	_ = w.sock.Emit(wire.EventRTMSAssign, a, socket.Ack(func([]any, error) { once.Do(acked) }))
}

func (w *socketWorker) Reconnect(r rtms.RTMSReconnect) {
	_ = w.sock.Emit(wire.EventRTMSReconnect, r)
}

func (w *socketWorker) Stopped(st rtms.RTMSStop) { _ = w.sock.Emit(wire.EventRTMSStopped, st) }

// socketWorkers: the worker of each socket that sent rtms:ready.
type socketWorkers struct {
	mu     sync.Mutex
	bySock map[*session]*socketWorker
}

// onRTMSEvent handles the rtms: events, and refuses a worker every other
// event (but authenticate, handled before, and ping); it reports false for
// an event it leaves to dispatch.
func (s *Server) onRTMSEvent(sock *socket.Socket, ss *session, name string, payload any, ack socket.Ack) bool {
	id, authed := ss.identity()
	isRTMS := strings.HasPrefix(name, wire.RTMSEventPrefix)
	if !isRTMS {
		if authed && name != "ping" {
			if err := services.WorkerOnlyRTMS(id); err != nil {
				s.reply(sock, ack, name, nil, err)
				return true
			}
		}
		return false
	}
	if !authed {
		s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: name,
			Message: "Authenticate first: send authenticate {token} or connect with auth.token."})
		return true
	}
	if err := services.AuthorizeRTMSWorker(id); err != nil {
		s.reply(sock, ack, name, nil, err)
		return true
	}
	if s.cfg.RTMS == nil {
		s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrNotFound, Op: name, Message: "RTMS is not configured on this server."})
		return true
	}
	var raw []byte
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	body, err := s.rtmsDo(sock, ss, id, name, raw)
	s.reply(sock, ack, name, body, err)
	return true
}

// rtmsDo runs rtms:ready or rtms:release.
func (s *Server) rtmsDo(sock *socket.Socket, ss *session, id services.Identity, name string, raw []byte) (any, error) {
	switch name {
	case wire.EventRTMSReady:
		capacity, resume, err := wire.DecodeRTMSReady(raw)
		if err != nil {
			return nil, err
		}
		w := s.workerOf(sock, ss, id)
		ready, err := s.cfg.RTMS.Ready(w, capacity, resume)
		if err == nil && !sock.Connected() { // gone while it was registered: forget it again
			s.cfg.RTMS.Gone(w)
		}
		return ready, err
	case wire.EventRTMSRelease:
		streamID, err := wire.DecodeRTMSRelease(raw)
		if err != nil {
			return nil, err
		}
		if err := s.cfg.RTMS.Release(s.workerOf(sock, ss, id), streamID); err != nil {
			return nil, err
		}
		return map[string]any{"success": true, "streamId": streamID}, nil
	}
	return nil, &apperr.Error{Kind: apperr.ErrInvalidInput, Op: "event",
		Message: "Unknown event \"" + truncate(name, 64) + "\"; a worker sends rtms:ready and rtms:release."}
}

// workerOf is the socket's worker, made on its first rtms: event; when the
// socket disconnects, services is told the worker is gone.
func (s *Server) workerOf(sock *socket.Socket, ss *session, id services.Identity) *socketWorker {
	s.rw.mu.Lock()
	if s.rw.bySock == nil {
		s.rw.bySock = map[*session]*socketWorker{}
	}
	w, ok := s.rw.bySock[ss]
	if !ok {
		w = &socketWorker{sock: sock, sub: id.Subject}
		s.rw.bySock[ss] = w
	}
	s.rw.mu.Unlock()
	if !ok {
		_ = sock.On("disconnect", func(...any) { s.workerGone(ss) })
		if !sock.Connected() { // gone before the listener was set
			s.workerGone(ss)
		}
	}
	return w
}

func (s *Server) workerGone(ss *session) {
	s.rw.mu.Lock()
	w, ok := s.rw.bySock[ss]
	delete(s.rw.bySock, ss)
	s.rw.mu.Unlock()
	if ok {
		s.cfg.RTMS.Gone(w)
	}
}
