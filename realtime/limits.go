package realtime

import (
	"fmt"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// How many sockets a client may hold, on this instance:
//
//   - SocketsPerUser authenticated namespace sockets per identity (its
//     sub, emails without regard to case, as its room). The next one is
//     refused: in its handshake with connect_error too_many_sockets; by the
//     authenticate event with that error as the answer, then the connection
//     is disconnected.
//   - UnauthenticatedPerAddress engine.io connections per client address
//     (an IPv4 address, an IPv6 /64) that have no authenticated socket
//     UnauthenticatedGrace (2 s) after they opened. One over the limit then
//     is told too_many_sockets (a connect_error, or an error event and a
//     disconnect if it has a socket) and closed. A client that authenticates
//     in its handshake is never counted, so a burst of them from one
//     address (a NAT, a restart's reconnects) is never refused; a
//     connection counts until a socket on it authenticates, and again at
//     once when none is left authenticated.
//
// Counts are kept per instance, in maps whose entries are deleted at zero:
// nothing is left behind once sockets close.

// DefaultSocketsPerUser is SOCKETS_PER_USER's default.
const DefaultSocketsPerUser = 32

// DefaultUnauthenticatedPerAddress is how many connections one address may
// hold before any socket on them has authenticated.
const DefaultUnauthenticatedPerAddress = 64

// DefaultUnauthenticatedGrace is how long a new connection has to
// authenticate before it counts against its address.
const DefaultUnauthenticatedGrace = 2 * time.Second

// grace is the first step of a connection's deadline.
func (s *Server) grace() time.Duration { return min(s.cfg.UnauthenticatedGrace, s.cfg.AuthTimeout) }

// codeTooManySockets is the connect_error message and error code of a
// socket refused by these limits.
const codeTooManySockets = "too_many_sockets"

// counts is a count per key; a key at zero is deleted.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounts() *counts { return &counts{n: map[string]int{}} }

// take adds one to key unless it is already at limit (limit < 1: no limit).
func (k *counts) take(key string, limit int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if limit > 0 && k.n[key] >= limit {
		return false
	}
	k.n[key]++
	return true
}

func (k *counts) full(key string, limit int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[key] >= limit
}

func (k *counts) drop(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n[key] <= 1 {
		delete(k.n, key)
		return
	}
	k.n[key]--
}

func (k *counts) sum() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, v := range k.n {
		n += v
	}
	return n
}

func (k *counts) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.n)
}

// Counted is how many identities hold an authenticated socket here, how
// many addresses hold a connection counted as unauthenticated, and how many
// such connections there are.
func (s *Server) Counted() (users, addresses, unauthenticated int) {
	return s.users.len(), s.pending.len(), s.pending.sum()
}

func userKey(id services.Identity) string { return zoom.UserKey(id.Subject) }

// addrKey is the unit the unauthenticated connections are counted in.
func addrKey(c *conn) string { return gate.AddrKey(c.addr) }

// tooManyForUser is the body of a refusal over SocketsPerUser.
func (s *Server) tooManyForUser() map[string]any {
	n := s.cfg.SocketsPerUser
	msg := fmt.Sprintf("This identity already holds %d sockets on this server, the most it may (SOCKETS_PER_USER); close one before opening another.", n)
	return map[string]any{"success": false, "code": codeTooManySockets, "message": msg, "error": msg, "limit": n}
}

// tooManyPending is the sentence of a refusal over UnauthenticatedPerAddress.
func (s *Server) tooManyPending() string {
	return fmt.Sprintf("Your address already holds %d connections that have not authenticated, the most it may; authenticate or close one first.",
		s.cfg.UnauthenticatedPerAddress)
}

// refuseTooMany answers a socket that authenticated over SocketsPerUser
// (through its ack, else as an error event) and disconnects its connection.
func (s *Server) refuseTooMany(sock *socket.Socket, ss *session, ack socket.Ack) {
	body := s.tooManyForUser()
	body["event"] = evAuthenticate
	if ack != nil {
		ack([]any{body}, nil)
	}
	s.kick(ss.c, codeTooManySockets, body["message"].(string))
}
