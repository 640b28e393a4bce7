// Package realtime serves Socket.IO on the REST port: handshake
// authentication, per-user rooms, the meeting events, and the push of each
// minted token to the sockets of the one user it was minted for.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/apperr"
	"github.com/zoomtoken/tokenserver/services"
	"github.com/zoomtoken/tokenserver/wire"
	"github.com/zoomtoken/tokenserver/zoom"
)

// Authenticator checks a caller's credential.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (services.Identity, error)
}

// Meetings is what the events need of the domain.
type Meetings interface {
	Start(ctx context.Context, caller services.Identity, in services.StartInput) (services.Minted, error)
	Join(ctx context.Context, caller services.Identity, in services.JoinInput) (services.Minted, error)
	Distribute(ctx context.Context, caller services.Identity, in services.DistributeInput) (services.BatchResult, error)
}

// CallerLimiter limits each caller's requests.
type CallerLimiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// AuthGuard throttles failed authentication by client address.
type AuthGuard interface {
	Allow(addr string) (ok bool, retryAfter time.Duration) // before a credential is tried
	Failed(addr string)                                    // after a credential was refused
}

// Observer is told about sockets and pushes, for metrics.
type Observer interface {
	SocketConnected(delta int)
	Pushed(event string, delivered bool)
	PacketDropped()
}

type nopObserver struct{}

func (nopObserver) SocketConnected(int) {}
func (nopObserver) Pushed(string, bool) {}
func (nopObserver) PacketDropped()      {}

// Config configures the Socket.IO server.
type Config struct {
	Auth         Authenticator
	Meetings     Meetings
	Limiter      CallerLimiter // nil: none; every event counts, by caller or, before authentication, by address
	AuthGuard    AuthGuard     // nil: none; failed credentials by client address
	CORSOrigins  []string      // "*" allows any; empty: same origin only
	AuthTimeout  time.Duration // to authenticate after connecting without credentials (10 s)
	EventTimeout time.Duration // one event's work, Zoom calls included
	MaxPayload   int64         // largest packet accepted
	Logger       *slog.Logger
	Observer     Observer
	Now          func() time.Time
}

// Server is the Socket.IO side of the token server.
type Server struct {
	cfg     Config
	io      *socket.Server
	eio     http.Handler // engine.io's own handler
	handler http.Handler
	log     *slog.Logger
	obs     Observer

	ctx    context.Context // ends at shutdown: in-flight events stop waiting on Zoom
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[string]*conn // engine.io connections by session id
}

// Event names (DESIGN.md).
const (
	evAuthenticate  = "authenticate"
	evStart         = "meeting:start"
	evJoin          = "meeting:join"
	evDistribute    = "meeting:distribute"
	evPing          = "ping"
	evAuthenticated = "authenticated"
	evStarted       = "meeting:started"
	evCredentials   = "meeting:credentials"
	evDistributed   = "meeting:distributed"
	evError         = "error"
	evPong          = "pong"
)

// Codes of the error event sent before the server disconnects a client,
// besides the API's own.
const (
	codeUnauthorized   = apperr.CodeUnauthorized
	codeServerShutdown = "server_shutdown"
)

// New builds the Socket.IO server. Mount Handler on /socket.io/ for GET,
// POST and OPTIONS.
func New(cfg Config) *Server {
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 10 * time.Second
	}
	if cfg.EventTimeout <= 0 {
		cfg.EventTimeout = 2 * time.Minute
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, ctx: ctx, cancel: cancel, conns: map[string]*conn{}}

	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetConnectTimeout(10 * time.Second)
	opts.SetPingInterval(25 * time.Second)
	opts.SetPingTimeout(20 * time.Second)
	opts.SetMaxHttpBufferSize(cfg.MaxPayload)
	opts.SetParser(newSafeParser(cfg.Observer.PacketDropped))
	opts.SetAllowRequest(s.allowRequest)
	// CORS headers come from the REST side's middleware, which wraps this
	// handler too: setting them here as well would send each header twice.
	s.io = socket.NewServer(nil, opts)
	s.io.Use(s.handshake)
	_ = s.io.On("connection", s.onConnection)
	s.eio = s.io.ServeHandler(nil)
	s.io.Engine().On("connection", s.onEngineConnection)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Handler serves engine.io's polling and websocket transports. Every
// long-polling body is capped at MaxPayload, and websockets end with a
// proper close handshake.
func (s *Server) Handler() http.Handler { return s.handler }

// Close tells every client the server is going away and disconnects it,
// stops in-flight events, and closes the Socket.IO server, waiting at most
// until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.closeAll(codeServerShutdown, "The server is shutting down; reconnect in a moment.", ctx.Done())
	done := make(chan struct{})
	s.io.Close(func(error) { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close sockets: %w", ctx.Err())
	}
}

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

// session is one socket's identity. Events of one socket run concurrently,
// so it is guarded.
type session struct {
	c    *conn
	sock *socket.Socket

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

// handshake authenticates a socket from auth.token or the Authorization
// header. No credential: the socket connects and must send authenticate.
//
// The socket's listeners are attached here, before the library sends the
// CONNECT answer: it emits "connection" only after sending it, so a client
// that speaks as soon as it is connected would otherwise find no listener
// and its first events would be lost.
func (s *Server) handshake(sock *socket.Socket, next func(*socket.ExtendedError)) {
	c := s.connOf(sock.Conn())
	ss := &session{c: c, sock: sock}
	sock.SetData(ss)
	s.listen(sock, ss)
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
	ss.id, ss.ok = id, true
	next(nil)
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
	c.sessions[ss] = struct{}{}
	c.mu.Unlock()
	s.obs.SocketConnected(1)
	_ = sock.On("disconnect", func(...any) { s.onDisconnect(ss) })

	if id, ok := ss.identity(); ok {
		s.admit(sock, ss, id, nil)
	}
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

// onDisconnect forgets a socket, once: the library can report one
// disconnect twice (a client's "41" racing the end of its transport).
func (s *Server) onDisconnect(ss *session) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	wasAuthed := ss.joined
	ss.mu.Unlock()
	s.left(ss.c, ss, wasAuthed)
	s.obs.SocketConnected(-1)
}

// dispatch runs one event. Every event a client sends, known or not, counts
// against its limit: the caller's once authenticated, its address's before.
func (s *Server) dispatch(sock *socket.Socket, ss *session, args []any) {
	if len(args) == 0 || ss.c.isKicked() {
		return
	}
	name, _ := args[0].(string)
	payload, ack := splitArgs(args[1:])
	if s.cfg.Limiter != nil {
		key := "addr:" + ss.c.addr
		if id, ok := ss.identity(); ok {
			key = id.RateKey()
		}
		if ok, wait := s.cfg.Limiter.Allow(key); !ok {
			s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrRateLimited, Op: "event", RetryAfter: wait,
				Message: fmt.Sprintf("You are sending events faster than this server allows each caller; retry in %s.", wait)})
			return
		}
	}
	switch name {
	case evAuthenticate:
		s.onAuthenticate(sock, ss, payload, ack)
	case evStart:
		s.authed(sock, ss, name, payload, ack, s.onStart)
	case evJoin:
		s.authed(sock, ss, name, payload, ack, s.onJoin)
	case evDistribute:
		s.authed(sock, ss, name, payload, ack, s.onDistribute)
	case evPing:
		s.authed(sock, ss, name, payload, ack, s.onPing)
	default:
		s.reply(sock, ack, name, nil, &apperr.Error{Kind: apperr.ErrInvalidInput, Op: "event",
			Message: fmt.Sprintf("Unknown event %q; the events are authenticate, meeting:start, meeting:join, meeting:distribute and ping.", truncate(name, 64))})
	}
}

// admit puts an authenticated socket in its user's room and tells it so.
func (s *Server) admit(sock *socket.Socket, ss *session, id services.Identity, ack socket.Ack) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	first := !ss.joined
	ss.id, ss.ok, ss.joined = id, true, true
	if first {
		// Under the session's lock, so a disconnect cannot slip between.
		sock.Join(socket.Room(room(id.Subject)))
		ss.c.authenticated()
	}
	ss.mu.Unlock()
	body := map[string]any{"success": true, "userId": id.Subject, "role": string(id.Role), "socketId": string(sock.Id()),
		"timestamp": s.cfg.Now().UTC()}
	s.reply(sock, ack, evAuthenticated, body, nil)
}

func room(userID string) string { return "user:" + zoom.UserKey(userID) }

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

// handlerFunc does an event's work for an authenticated caller. It returns
// the ack body and the event that carries it when the client gave no ack
// ("" when the push to the user's room already answers).
type handlerFunc func(ctx context.Context, sock *socket.Socket, caller services.Identity, payload []byte) (any, string, error)

// authed runs h for an authenticated caller, and answers.
func (s *Server) authed(sock *socket.Socket, ss *session, event string, payload any, ack socket.Ack, h handlerFunc) {
	id, ok := ss.identity()
	if !ok {
		s.reply(sock, ack, event, nil, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: event,
			Message: "Authenticate first: send authenticate {token} or connect with auth.token."})
		return
	}
	var raw []byte
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.EventTimeout)
	defer cancel()
	body, named, err := h(ctx, sock, id, raw)
	if err != nil {
		s.reply(sock, ack, event, nil, err)
		return
	}
	if ack != nil {
		ack([]any{body}, nil)
	} else if named != "" {
		_ = sock.Emit(named, body)
	}
}

func (s *Server) onStart(ctx context.Context, _ *socket.Socket, caller services.Identity, raw []byte) (any, string, error) {
	in, err := wire.DecodeStart(raw)
	if err != nil {
		return nil, "", err
	}
	m, err := s.cfg.Meetings.Start(ctx, caller, in)
	if err != nil {
		return nil, "", err
	}
	return wire.NewStartResponse(m), "", nil
}

func (s *Server) onJoin(ctx context.Context, _ *socket.Socket, caller services.Identity, raw []byte) (any, string, error) {
	in, err := wire.DecodeJoin(raw)
	if err != nil {
		return nil, "", err
	}
	m, err := s.cfg.Meetings.Join(ctx, caller, in)
	if err != nil {
		return nil, "", err
	}
	return wire.NewJoinResponse(m), "", nil
}

// Distributed is the body of meeting:distributed: who got a token, who was
// online to receive it, who was offline. It carries no token.
type Distributed struct {
	Success     bool              `json:"success"`
	MeetingID   zoom.MeetingID    `json:"meetingId"`
	HostUserID  string            `json:"hostUserId"`
	Successful  int               `json:"successful"`
	Failed      int               `json:"failed"`
	FailedUsers []wire.FailedUser `json:"failedUsers"`
	Delivered   []string          `json:"delivered"`
	Offline     []string          `json:"offline"`
	Timestamp   time.Time         `json:"timestamp"`
}

func (s *Server) onDistribute(ctx context.Context, _ *socket.Socket, caller services.Identity, raw []byte) (any, string, error) {
	// A caller who may not distribute at all is told so before its body is
	// read: it gets no list of the body's problems, however large the body.
	if err := services.AuthorizeBatch(caller); err != nil {
		return nil, "", err
	}
	in, err := wire.DecodeDistribute(raw, 0)
	if err != nil {
		return nil, "", err
	}
	r, err := s.cfg.Meetings.Distribute(ctx, caller, in)
	if err != nil {
		return nil, "", err
	}
	b := wire.NewBatchResponse(in.MeetingID, r)
	d := Distributed{Success: true, MeetingID: in.MeetingID, HostUserID: in.HostUserID.String(), Successful: b.Summary.Successful,
		Failed: b.Summary.Failed, FailedUsers: b.Results.Failed, Delivered: []string{}, Offline: []string{}, Timestamp: s.cfg.Now().UTC()}
	for _, p := range r.Successful {
		if p.Delivered {
			d.Delivered = append(d.Delivered, p.UserID.String())
		} else {
			d.Offline = append(d.Offline, p.UserID.String())
		}
	}
	return d, evDistributed, nil
}

func (s *Server) onPing(context.Context, *socket.Socket, services.Identity, []byte) (any, string, error) {
	return map[string]any{"success": true, "pong": true, "timestamp": s.cfg.Now().UTC()}, evPong, nil
}

// PushToken sends a freshly minted token to the sockets of the user it was
// minted for, and to no one else. It reports whether any socket was there.
func (s *Server) PushToken(tok zoom.Token) bool {
	event := evCredentials
	var body any
	if tok.Type == zoom.TokenZAK {
		event, body = evStarted, wire.NewStartResponse(services.Minted{Token: tok, Delivered: true})
	} else {
		body = wire.NewJoinResponse(services.Minted{Token: tok, Delivered: true})
	}
	if !s.online(tok.UserID.String()) {
		s.obs.Pushed(event, false)
		return false
	}
	s.io.To(socket.Room(room(tok.UserID.String()))).Emit(event, body)
	s.obs.Pushed(event, true)
	return true
}

// online reports whether any socket of the user is in its room. The adapter
// keeps rooms per socket id, so a disconnect reported twice cannot make a
// user who still has a socket look offline.
func (s *Server) online(userID string) bool {
	members, ok := s.io.Sockets().Adapter().Rooms().Load(socket.Room(room(userID)))
	return ok && members.Len() > 0
}

// reply answers an event: through the ack when there is one, else through
// the named event (or error).
func (s *Server) reply(sock *socket.Socket, ack socket.Ack, event string, body any, err error) {
	if err != nil {
		if apperr.Code(err) == apperr.CodeInternal {
			s.log.Error("socket event failed: internal error", "event", event, "err", err)
		}
		if ack != nil {
			ack([]any{wire.NewErrorResponse(err)}, nil)
			return
		}
		_ = sock.Emit(evError, errorEvent(event, err))
		return
	}
	if ack != nil {
		ack([]any{body}, nil)
		return
	}
	_ = sock.Emit(event, body)
}

// errorEvent is the body of the error event: {message, code} plus the event
// it answers, the error body's fields, and details for invalid input.
func errorEvent(event string, err error) map[string]any {
	r := wire.NewErrorResponse(err)
	m := map[string]any{"success": false, "message": r.Error, "error": r.Error, "code": r.Code}
	if event != "" {
		m["event"] = event
	}
	if len(r.Details) > 0 {
		m["details"] = r.Details
	}
	if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
		m["retryAfterSeconds"] = int(e.RetryAfter.Seconds() + 0.999)
	}
	return m
}

// safe recovers from a panic in a handler: the library runs handlers in
// goroutines of its own, where a panic would end the process.
func (s *Server) safe(sock *socket.Socket, event string, fn func(args ...any)) func(args ...any) {
	return func(args ...any) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in socket handler", "event", event, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				_, ack := splitArgs(args)
				s.reply(sock, ack, event, nil, fmt.Errorf("panic: %v", p))
			}
		}()
		fn(args...)
	}
}

// splitArgs separates an event's payload (its first argument) from its ack
// (its last argument, when it is one).
func splitArgs(args []any) (any, socket.Ack) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack = a
			args = args[:n-1]
		}
	}
	if len(args) == 0 {
		return nil, ack
	}
	return args[0], ack
}

var nonPrintable = regexp.MustCompile(`[^\x20-\x7e]`)

func truncate(s string, n int) string {
	s = nonPrintable.ReplaceAllString(s, "?")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
