package realtime

import (
	"context"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// Each authenticated socket is in its user's room; a minted token is sent
// to that room and nowhere else.

func room(userID string) string { return "user:" + zoom.UserKey(userID) }

// Deliver is the bus's subscriber: it sends a TokenMinted event's token to
// the sockets of the user it was minted for, and to no one else, as
// meeting:started (a ZAK, with the start answer's body) or
// meeting:credentials (an OBF, with the join answer's body). It reports
// whether any socket of that user was there. Other events are not its.
//
// A ConnectionChanged event goes to its user's sockets as
// connection:changed {status, reason}.
func (s *Server) Deliver(ctx context.Context, e services.Event) bool {
	switch e.Kind {
	case services.TokenMinted:
	case services.ConnectionChanged:
		return s.emitTo(ctx, e.User.String(), wire.EventConnectionChanged,
			wire.ConnectionChanged{Status: e.Status, Reason: e.Reason, Timestamp: s.cfg.Now().UTC()})
	default:
		return false
	}
	tok := e.Token
	event := wire.EventCredentials
	var body any
	if tok.Type == zoom.TokenZAK {
		event, body = wire.EventStarted, wire.NewStartResponse(services.Minted{Token: tok, Via: e.Via, SDK: e.SDK, Delivered: true})
	} else {
		body = wire.NewJoinResponse(services.Minted{Token: tok, Via: e.Via, SDK: e.SDK, Delivered: true})
	}
	return s.emitTo(ctx, tok.UserID.String(), event, body)
}

// emitTo sends event to the user's sockets and reports whether there were
// any. In a cluster the broadcast goes to every instance, and the others
// are asked whether they had a socket of the user's (adapter.go).
func (s *Server) emitTo(ctx context.Context, userID, event string, body any) bool {
	if s.cfg.Cluster == nil && !s.online(userID) {
		s.obs.Pushed(event, false)
		return false
	}
	s.io.To(socket.Room(room(userID))).Emit(event, body)
	ok := s.delivered(ctx, room(userID))
	s.obs.Pushed(event, ok)
	return ok
}

// online reports whether any socket of the user is in its room. The adapter
// keeps rooms per socket id, so a disconnect reported twice cannot make a
// user who still has a socket look offline.
func (s *Server) online(userID string) bool {
	members, ok := s.io.Sockets().Adapter().Rooms().Load(socket.Room(room(userID)))
	return ok && members.Len() > 0
}
