package realtime

import (
	"fmt"
	"sync"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/services"
	"github.com/zoomtoken/tokenserver/zoom"
)

// How many sockets a client may hold, on this instance:
//
//   - SocketsPerUser authenticated namespace sockets per identity (its
//     sub, emails without regard to case, as its room). The next one is
//     refused: in its handshake with connect_error too_many_sockets; by the
//     authenticate event with that error as the answer, then the connection
//     is disconnected.
//   - UnauthenticatedPerAddress engine.io connections per client address
//     (an IPv4 address, an IPv6 /64) that have no authenticated socket yet.
//     The next connection is told connect_error too_many_sockets and closed
//     at once, whatever credential it would have sent: it is refused before
//     its CONNECT is read. A connection counts until a socket on it
//     authenticates, and again once none is left authenticated.
//
// Counts are kept per instance, in maps whose entries are deleted at zero:
// nothing is left behind once sockets close.

// DefaultSocketsPerUser is SOCKETS_PER_USER's default.
const DefaultSocketsPerUser = 32

// DefaultUnauthenticatedPerAddress is how many connections one address may
// hold before any socket on them has authenticated.
const DefaultUnauthenticatedPerAddress = 64

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

func (k *counts) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.n)
}

// Counted is how many identities hold an authenticated socket here, and how
// many addresses hold a connection not yet authenticated.
func (s *Server) Counted() (users, addresses int) {
	return s.users.len(), s.pending.len()
}

func userKey(id services.Identity) string { return zoom.UserKey(id.Subject) }

// addrKey is the unit the unauthenticated connections are counted in.
func addrKey(c *conn) string { return services.AddrKey(c.addr) }

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
