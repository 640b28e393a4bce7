// Package realtime serves Socket.IO on the REST port: handshake
// authentication, per-user rooms, the meeting events, and the push of each
// minted token to the sockets of the one user it was minted for.
//
// The files follow the path of a socket: handshake.go (origin, credentials,
// the authenticate event), session.go (a socket's identity, connect and
// disconnect), events.go (every other event, run through the operations
// table of package wire), rtms.go (the RTMS workers' events), push.go (bus
// events to a user's room), reply.go
// (answers and error bodies), and conn.go, wsconn.go, http.go, parser.go
// (the engine.io connection: limits, deadlines, kicks, close handshakes).
package realtime

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// Authenticator checks a caller's credential.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (services.Identity, error)
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
	Domain       wire.Domain   // what the operations of wire.Ops run against
	Awaits       Awaits        // meeting:await; nil: answered not_found
	RTMS         RTMS          // the rtms: events (rtms.go); nil: answered not_found
	Limiter      CallerLimiter // nil: none; every event counts, by caller or, before authentication, by address
	AuthGuard    AuthGuard     // nil: none; failed credentials by client address
	CORSOrigins  []string      // "*" allows any; empty: same origin only
	AuthTimeout  time.Duration // to authenticate after connecting without credentials (10 s)
	EventTimeout time.Duration // one event's work, Zoom calls included
	MaxPayload   int64         // largest packet accepted
	Logger       *slog.Logger
	Observer     Observer
	Now          func() time.Time
	Cluster      Cluster // nil: one instance (adapter.go)

	// SocketsPerUser (SOCKETS_PER_USER): the most authenticated sockets one
	// identity holds on this instance (DefaultSocketsPerUser when < 1).
	// UnauthenticatedPerAddress: the most connections one client address
	// holds before any socket on them authenticates
	// (DefaultUnauthenticatedPerAddress when < 1), counted once they have
	// not authenticated within UnauthenticatedGrace
	// (DefaultUnauthenticatedGrace when <= 0). See limits.go.
	SocketsPerUser            int
	UnauthenticatedPerAddress int
	UnauthenticatedGrace      time.Duration

	// TrustedProxies (TRUSTED_PROXIES): a connection from one of these
	// takes its client's address from X-Forwarded-For (clientaddr.go);
	// empty: the peer's address, the header ignored.
	TrustedProxies gate.TrustedProxies
}

// Server is the Socket.IO side of the token server.
type Server struct {
	cfg     Config
	io      *socket.Server
	eio     http.Handler // engine.io's own handler
	handler http.Handler
	log     *slog.Logger
	obs     Observer
	ops     eventTable // the operations, by event name
	env     wire.Env   // what they run with

	ctx    context.Context // ends at shutdown: in-flight events stop waiting on Zoom
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[string]*conn // engine.io connections by session id

	aw socketAwaits  // meeting:await, by socket (await.go)
	rw socketWorkers // RTMS workers, by socket (rtms.go)

	users   *counts // authenticated sockets by identity (limits.go)
	pending *counts // connections not yet authenticated, by address
}

// New builds the Socket.IO server. Mount Handler on /socket.io/ for GET,
// POST and OPTIONS.
func New(cfg Config) *Server {
	cfg = withDefaults(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, ctx: ctx, cancel: cancel, conns: map[string]*conn{},
		ops: newEventTable(wire.Ops()), env: wire.Env{Domain: cfg.Domain, Now: cfg.Now, Candidates: candidateJoiner(cfg.Awaits)},
		users: newCounts(), pending: newCounts()}

	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetConnectTimeout(10 * time.Second)
	// A pong that the library reads before it has stored the ping's
	// timeout timer (its timer goroutine descheduled between sending the
	// ping and storing the timer: about 1 socket in 100 per minute at
	// 10,000 sockets on two cores) leaves that timer armed, and the socket
	// is closed for a "ping timeout" although the client answered. With the
	// timeout longer than the interval, the next ping clears such a timer
	// before it fires. A dead client is still dropped after 45 s (interval
	// plus timeout), and socket.io-client still gives up on a silent
	// server after the same 45 s.
	opts.SetPingInterval(20 * time.Second)
	opts.SetPingTimeout(25 * time.Second)
	opts.SetMaxHttpBufferSize(cfg.MaxPayload)
	opts.SetParser(newSafeParser(cfg.Observer.PacketDropped))
	opts.SetAllowRequest(s.allowRequest)
	if cfg.Cluster != nil {
		opts.SetAdapter(cfg.Cluster.Adapter())
	}
	// CORS headers come from the REST side's middleware, which wraps this
	// handler too: setting them here as well would send each header twice.
	s.io = socket.NewServer(nil, opts)
	s.io.Use(s.handshake)
	if cfg.Cluster != nil {
		cfg.Cluster.Answer(s.hasMembers)
	}
	_ = s.io.On("connection", s.onConnection)
	s.eio = s.io.ServeHandler(nil)
	s.io.Engine().On("connection", s.onEngineConnection)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 10 * time.Second
	}
	if cfg.EventTimeout <= 0 {
		cfg.EventTimeout = 2 * time.Minute
	}
	if cfg.SocketsPerUser < 1 {
		cfg.SocketsPerUser = DefaultSocketsPerUser
	}
	if cfg.UnauthenticatedPerAddress < 1 {
		cfg.UnauthenticatedPerAddress = DefaultUnauthenticatedPerAddress
	}
	if cfg.UnauthenticatedGrace <= 0 {
		cfg.UnauthenticatedGrace = DefaultUnauthenticatedGrace
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
	return cfg
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
