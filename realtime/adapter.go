package realtime

import (
	"context"

	"github.com/zishang520/socket.io/v2/socket"
)

// Cluster is what the Socket.IO server shares with the other instances
// behind one load balancer (package cluster implements it over Redis).
// Without it the server is alone and a push reaches its own sockets.
type Cluster interface {
	// Adapter carries broadcasts to every instance.
	Adapter() socket.AdapterConstructor
	// Answer sets how this instance tells the others whether it has a
	// socket in a room.
	Answer(local func(room string) bool)
	// Elsewhere reports whether an instance (this one included) said it
	// has a socket in room, within a short timeout: false when the
	// instances cannot reach each other (Redis down).
	Elsewhere(ctx context.Context, room string) bool
}

// hasMembers reports whether this instance has a socket in room.
func (s *Server) hasMembers(r string) bool {
	members, ok := s.io.Sockets().Adapter().Rooms().Load(socket.Room(r))
	return ok && members.Len() > 0
}

// delivered reports whether a push to room reached a socket: one here, or,
// in a cluster, one on another instance (asked after the broadcast, so
// what it counts was there when the broadcast went out, or joined since).
func (s *Server) delivered(ctx context.Context, r string) bool {
	if s.hasMembers(r) {
		return true
	}
	return s.cfg.Cluster != nil && s.cfg.Cluster.Elsewhere(ctx, r)
}
