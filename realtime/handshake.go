package realtime

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// A socket is authenticated once: in its handshake (auth.token, or the
// Authorization or X-API-Key header), or later by the authenticate event.
// Either way a refused credential counts against the client's address
// (AuthGuard) and against its connection, which is disconnected after
// MaxAuthFailures of them.

// allowRequest refuses a browser handshake from an origin that is neither
// this server's own nor in CORS_ORIGINS. CORS headers only stop a browser
// from reading answers; a websocket needs this check on the server.
func (s *Server) allowRequest(ctx *types.HttpContext) error {
	origin := ctx.Request().Header.Get("Origin")
	if origin == "" || s.originAllowed(origin, ctx.Request().Host) {
		return nil
	}
	return fmt.Errorf("origin %q is not allowed (CORS_ORIGINS)", truncate(origin, 100))
}

func (s *Server) originAllowed(origin, host string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// handshake authenticates a socket from auth.token or the Authorization
// header. No credential: the socket connects and must send authenticate.
//
// The socket's listeners are attached here, before the library sends the
// CONNECT answer: it emits "connection" only after sending it, so a client
// that speaks as soon as it is connected would otherwise find no listener
// and its first events would be lost.
func (s *Server) handshake(sock *socket.Socket, next func(*socket.ExtendedError)) {
	c := s.connOf(sock.Conn())
	ss := &session{c: c, sock: sock, gate: takeGate(sock.Handshake().Auth)}
	sock.SetData(ss)
	s.listen(sock, ss)
	next = openOnRefusal(ss.gate, next)
	if c.isKicked() {
		next(socket.NewExtendedError("unauthorized", map[string]any{"code": apperr.CodeUnauthorized, "message": "This connection is being closed."}))
		return
	}
	cred := handshakeCredential(sock.Handshake())
	if cred == "" {
		next(nil)
		return
	}
	if err := s.guardAllow(c, "handshake"); err != nil {
		next(socket.NewExtendedError("rate_limited", errorEvent("", err)))
		return
	}
	id, err := s.cfg.Auth.Authenticate(s.ctx, cred)
	if err != nil {
		last := s.authFailed(c)
		next(socket.NewExtendedError("unauthorized", map[string]any{"code": apperr.CodeUnauthorized, "message": apperr.PublicMessage(err)}))
		if last {
			s.kick(c, apperr.CodeRateLimited, tooManyFailures)
		}
		return
	}
	if s.users.full(userKey(id), s.cfg.SocketsPerUser) {
		// A check, not a count: the socket is counted when admitted
		// (onConnection), which refuses it too if others came between.
		next(socket.NewExtendedError(codeTooManySockets, s.tooManyForUser()))
		return
	}
	ss.id, ss.ok = id, true
	next(nil)
}

// openOnRefusal opens the gate when the handshake refuses the socket: no
// socket will be registered, so the packets held behind it may go on (the
// library closes the connection for them, as it would have).
func openOnRefusal(g *connectGate, next func(*socket.ExtendedError)) func(*socket.ExtendedError) {
	return func(err *socket.ExtendedError) {
		if err != nil {
			defer g.open()
		}
		next(err)
	}
}

const tooManyFailures = "Too many refused credentials on this connection; disconnecting."

// guardAllow asks the AuthGuard whether the client's address may try a
// credential now.
func (s *Server) guardAllow(c *conn, op string) error {
	if s.cfg.AuthGuard == nil {
		return nil
	}
	if ok, wait := s.cfg.AuthGuard.Allow(c.addr); !ok {
		return &apperr.Error{Kind: apperr.ErrRateLimited, Op: op, RetryAfter: wait,
			Message: fmt.Sprintf("Too many refused credentials from your address; retry in %s.", wait.Round(time.Second))}
	}
	return nil
}

// authFailed counts a refused credential against the address and the
// connection, and reports whether the connection has had its share.
func (s *Server) authFailed(c *conn) bool {
	// Debug, not Info: a line per refused credential would let an attacker
	// write the log at the rate it guesses. The address only, never the credential.
	s.log.Debug("socket: credential refused", "client", c.addr)
	if s.cfg.AuthGuard != nil {
		s.cfg.AuthGuard.Failed(c.addr)
	}
	return c.failed()
}

func handshakeCredential(h *socket.Handshake) string {
	if auth, ok := h.Auth.(map[string]any); ok {
		if t, ok := auth["token"].(string); ok && strings.TrimSpace(t) != "" {
			return bearerValue(t)
		}
	}
	for k, v := range h.Headers {
		if len(v) == 0 {
			continue
		}
		switch strings.ToLower(k) {
		case "authorization":
			return bearerValue(v[0])
		case "x-api-key":
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

func bearerValue(v string) string {
	v = strings.TrimSpace(v)
	if scheme, rest, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest)
	}
	return v
}

// onAuthenticate answers the authenticate event {token}: a socket that
// connected without a credential, or one that authenticates again as the
// same user.
func (s *Server) onAuthenticate(sock *socket.Socket, ss *session, payload any, ack socket.Ack) {
	var body struct {
		Token any `json:"token"`
	}
	raw, _ := json.Marshal(payload)
	_ = json.Unmarshal(raw, &body)
	tok, _ := body.Token.(string)
	if strings.TrimSpace(tok) == "" {
		s.reply(sock, ack, evAuthenticate, nil, apperr.InvalidInput("authenticate", apperr.FieldError{Field: "token", Reason: "is required: a caller JWT or API key"}))
		return
	}
	if ss.c.exhausted() {
		s.reply(sock, ack, evAuthenticate, nil, &apperr.Error{Kind: apperr.ErrRateLimited, Op: evAuthenticate,
			Message: "Too many refused credentials on this connection; open a new one."})
		return
	}
	if err := s.guardAllow(ss.c, evAuthenticate); err != nil {
		s.reply(sock, ack, evAuthenticate, nil, err)
		return
	}
	id, err := s.cfg.Auth.Authenticate(s.ctx, bearerValue(tok))
	if err != nil {
		last := s.authFailed(ss.c)
		s.reply(sock, ack, evAuthenticate, nil, err)
		if last {
			s.kick(ss.c, apperr.CodeRateLimited, tooManyFailures)
		}
		return
	}
	if cur, ok := ss.identity(); ok && zoom.UserKey(cur.Subject) != zoom.UserKey(id.Subject) {
		s.reply(sock, ack, evAuthenticate, nil, &apperr.Error{Kind: apperr.ErrForbidden, Op: "authenticate",
			Message: "This socket is already authenticated as another user; open a new connection to switch."})
		return
	}
	s.admit(sock, ss, id, ack)
}

// admit puts an authenticated socket in its user's room, counted against
// SocketsPerUser, and tells it so. Over the limit, it is refused and its
// connection disconnected.
func (s *Server) admit(sock *socket.Socket, ss *session, id services.Identity, ack socket.Ack) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	first := !ss.joined
	if !first && userKey(ss.id) != userKey(id) {
		// Two authenticate events raced: the room and the count are the first's.
		ss.mu.Unlock()
		s.reply(sock, ack, evAuthenticate, nil, &apperr.Error{Kind: apperr.ErrForbidden, Op: "authenticate",
			Message: "This socket is already authenticated as another user; open a new connection to switch."})
		return
	}
	if first && !s.users.take(userKey(id), s.cfg.SocketsPerUser) {
		ss.id, ss.ok = services.Identity{}, false
		ss.mu.Unlock()
		s.refuseTooMany(sock, ss, ack)
		return
	}
	ss.id, ss.ok, ss.joined = id, true, true
	if first {
		// Under the session's lock, so a disconnect cannot slip between:
		// onDisconnect sees joined and gives the count back.
		sock.Join(socket.Room(room(id.Subject)))
		s.authenticated(ss.c)
	}
	ss.mu.Unlock()
	body := map[string]any{"success": true, "userId": id.Subject, "role": string(id.Role), "socketId": string(sock.Id()),
		"timestamp": s.cfg.Now().UTC()}
	s.reply(sock, ack, evAuthenticated, body, nil)
}
