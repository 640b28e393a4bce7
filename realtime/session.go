package realtime

import (
	"sync"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/services"
)

// session is one socket's identity. Events of one socket run concurrently,
// so it is guarded.
type session struct {
	c    *conn
	sock *socket.Socket
	gate *connectGate // holds the client's next packets until the socket is connected

	mu     sync.Mutex
	id     services.Identity
	ok     bool // authenticated
	joined bool // in its user's room
	closed bool // disconnected: the library may say so twice
}

func (ss *session) identity() (services.Identity, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.id, ss.ok
}

// listen attaches a socket's listeners: every event goes to dispatch, and
// what the parser wrapper refused reaches each namespace socket as an error,
// just before the library would close the connection.
func (s *Server) listen(sock *socket.Socket, ss *session) {
	_ = sock.On("error", func(args ...any) {
		if len(args) > 0 {
			if err, ok := args[0].(error); ok {
				s.onRefused(ss.c, err)
			}
		}
	})
	sock.OnAny(s.safe(sock, "", func(args ...any) { s.dispatch(sock, ss, args) }))
}

// onConnection follows the CONNECT answer: the socket is counted, and one
// authenticated in its handshake is admitted to its user's room.
func (s *Server) onConnection(args ...any) {
	sock, ok := args[0].(*socket.Socket)
	if !ok {
		return
	}
	ss, ok := sock.Data().(*session)
	if !ok {
		sock.Disconnect(true)
		return
	}
	c := ss.c
	c.mu.Lock()
	c.sessions = append(c.sessions, ss)
	c.mu.Unlock()
	s.obs.SocketConnected(1)
	_ = sock.On("disconnect", func(...any) { s.onDisconnect(ss) })
	ss.gate.open() // the library has registered the socket: its packets may flow

	if id, ok := ss.identity(); ok {
		s.admit(sock, ss, id, nil)
	}
}

// onDisconnect forgets a socket, once: the library can report one
// disconnect twice (a client's "41" racing the end of its transport).
func (s *Server) onDisconnect(ss *session) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	wasAuthed, key := ss.joined, userKey(ss.id)
	ss.mu.Unlock()
	s.left(ss.c, ss, wasAuthed)
	if wasAuthed {
		s.users.drop(key)
	}
	s.obs.SocketConnected(-1)
}
