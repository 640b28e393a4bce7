// Package routes is the REST API: Gin handlers, request validation, and
// the one mapping from service errors to HTTP statuses and codes.
package routes

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/unrolled/secure"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/web/openapi"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// Authenticator checks a caller's credential.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (services.Identity, error)
}

// Checker reports whether Zoom (or the sandbox) can be used: an S2S token can be had.
type Checker interface {
	Check(ctx context.Context) error
}

// TokenIssuer signs caller JWTs; only the sandbox's POST /sandbox/tokens uses it.
type TokenIssuer interface {
	IssueToken(sub string, role services.Role, ttl time.Duration) (string, error)
}

// CallerLimiter limits each caller's requests; Allow returns how long to wait when refused.
type CallerLimiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// AuthGuard throttles failed authentication by client address.
type AuthGuard interface {
	Allow(addr string) (ok bool, retryAfter time.Duration)
	Failed(addr string)
}

// Deps are the parts the REST API is built from.
type Deps struct {
	Domain        wire.Domain      // the operations of wire.Ops, served under /api/meetings/
	MeetingInfo   wire.MeetingInfo // a meeting's access and its recording token; nil: not served
	Connections   Connections      // users' OAuth connections; nil: not configured
	Webhooks      Webhooks         // POST /api/webhooks/zoom; nil: not served (no ZOOM_WEBHOOK_SECRETS)
	Awaits        Awaits           // POST /api/meetings/await; nil: not served
	RTMS          RTMS             // GET /api/rtms/streams, POST /api/rtms/signature; nil: not served
	Auth          Authenticator
	Zoom          Checker
	Limiter       CallerLimiter // nil: no per-caller limit
	AuthGuard     AuthGuard     // nil: failed authentication is not throttled
	SandboxTokens TokenIssuer   // nil outside sandbox mode
	Demo          *DemoFiles    // the browser example at /examples/browser/; nil: not served
	Console       http.Handler  // the console's files, served at /console/ (prefix stripped); nil: none
	Socket        http.Handler  // Socket.IO, mounted at /socket.io/; nil: none
	Metrics       http.Handler  // Prometheus, mounted at /metrics; nil: none
	Observe       func(route string, status int, d time.Duration)
	Info          Info
	CORSOrigins   []string
	BodyLimit     int64
	Logger        *slog.Logger
	Now           func() time.Time
	Cluster       ClusterHealth // the "cluster" field of /api/health; nil: none

	// SandboxControls: sandbox mode only, the sandbox's control routes
	// (its meetings and their participants, its judge of Meeting SDK joins),
	// served on this port at their own paths under /sandbox/; nil otherwise.
	SandboxControls http.Handler

	// TrustedProxies (TRUSTED_PROXIES, IPs and CIDRs): a request from one
	// of these takes its client's address (ClientIP: the failed-auth guard,
	// the request log) from X-Forwarded-For; empty: the peer's, the
	// header ignored.
	TrustedProxies gate.TrustedProxies

	// Bot platforms: signed callback URLs (nil: CALLBACK_URL_KEY is not set)
	// and Attendee's zoom_tokens callback (nil: ATTENDEE_WEBHOOK_SECRET is not set).
	CallbackURLs CallbackURLs
	Attendee     AttendeeCallbacks
}

// ClusterHealth reports the backends the instances of a cluster share, each
// by name ("redis", "database") with its state ("ok", "degraded",
// "unavailable"); nil when there are none.
type ClusterHealth interface {
	State(ctx context.Context) map[string]string
}

// Info describes the service in GET / and /api/health.
type Info struct {
	Name    string
	Version string
	Mode    string // "zoom" or "sandbox"
	Sandbox any    // what the sandbox offers (users, how to get a token); nil in zoom mode
}

type api struct {
	Deps
	// unhealthy is the last readiness verdict, so a change is logged once
	// with its cause rather than on every probe.
	unhealthy atomic.Bool
}

// New builds the Gin engine with every route: the areas below, in this
// order, then the answers for no route and no method.
func New(d Deps) *gin.Engine {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.BodyLimit <= 0 {
		d.BodyLimit = 1 << 20
	}
	a := &api{Deps: d}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(nil) // gin trusts no proxy; clientAddr applies TRUSTED_PROXIES
	r.Use(a.requestLog(), a.recovery(), securityHeaders())
	if len(d.CORSOrigins) > 0 {
		r.Use(corsMiddleware(d.CORSOrigins))
	}

	auth := a.authenticate()
	a.healthRoutes(r)
	a.docsRoutes(r)
	a.meetingRoutes(r, auth)
	a.connectionRoutes(r, auth)
	a.webhookRoutes(r)
	a.rtmsRoutes(r, auth)
	a.callbackRoutes(r, auth)
	a.sandboxRoutes(r)
	a.consoleRoutes(r)
	a.socketRoutes(r)

	r.NoRoute(func(c *gin.Context) {
		problem(c, http.StatusNotFound, apperr.CodeNotFound, "There is no such route; GET / lists the endpoints.")
	})
	r.NoMethod(func(c *gin.Context) {
		problem(c, http.StatusMethodNotAllowed, "method_not_allowed", "This route does not take "+c.Request.Method+"; GET / lists the endpoints.")
	})
	return r
}

// healthRoutes: the index, health and liveness (GET and HEAD), metrics.
func (a *api) healthRoutes(r *gin.Engine) {
	r.GET("/", a.index)
	r.HEAD("/", a.index) // load balancers and uptime checks probe with HEAD
	r.GET("/api/health", a.health)
	r.GET("/api/live", a.live)
	r.HEAD("/api/health", a.health) // probes that send HEAD
	r.HEAD("/api/live", a.live)
	if a.Metrics != nil {
		r.GET("/metrics", gin.WrapH(a.Metrics))
	}
}

// docsRoutes: the API reference, in every mode: the OpenAPI document and
// the page that renders it.
func (a *api) docsRoutes(r *gin.Engine) {
	docs, err := openapi.New()
	if err != nil {
		a.Logger.Error("the API reference is not served", "err", err)
		return
	}
	r.GET("/openapi.json", gin.WrapF(docs.ServeDocument))
	r.GET("/docs/api", func(c *gin.Context) { c.Redirect(http.StatusFound, "/docs/api/") })
	r.GET("/docs/api/*file", gin.WrapH(http.StripPrefix("/docs/api", docs)))
}

// meetingRoutes: POST /api/meetings/start, join, batch-join, setup... (the
// REST half of the operations table, shared with Socket.IO), a meeting's
// access, and awaiting a participant.
func (a *api) meetingRoutes(r *gin.Engine, auth gin.HandlerFunc) {
	for _, op := range wire.Ops() {
		if op.Path != "" {
			r.POST(op.Path, auth, a.serve(op))
		}
	}
	if a.MeetingInfo != nil {
		r.GET("/api/meetings/:meetingId/access", auth, a.meetingAccess)
	}
	if a.Awaits != nil {
		r.POST("/api/meetings/await", auth, a.awaitPresence)
	}
}

// connectionRoutes: users' OAuth connections to Zoom.
func (a *api) connectionRoutes(r *gin.Engine, auth gin.HandlerFunc) {
	if a.Connections == nil {
		return
	}
	r.GET("/api/connections/zoom/authorize", auth, a.authorizeConnection)
	r.GET("/api/connections/zoom/callback", a.connectionCallback) // Zoom's redirect: the state authenticates it
	r.GET("/api/connections", auth, a.listConnections)
	r.POST("/api/connections", auth, a.createConnection)
	r.GET("/api/connections/:sub", auth, a.getConnection)
	r.DELETE("/api/connections/:sub", auth, a.deleteConnection)
}

// webhookRoutes: Zoom's webhooks, authenticated by its signature alone.
func (a *api) webhookRoutes(r *gin.Engine) {
	if a.Webhooks != nil {
		r.POST("/api/webhooks/zoom", a.zoomWebhook)
	}
}

// callbackRoutes: bot platforms. Making and revoking a signed URL takes a
// caller; a signed URL, or Attendee's signature, authenticates the call.
func (a *api) callbackRoutes(r *gin.Engine, auth gin.HandlerFunc) {
	if a.CallbackURLs != nil {
		r.POST("/api/callback-urls", auth, a.createCallbackURL)
		r.POST("/api/callback-urls/revoke", auth, a.revokeCallbackURL)
		r.GET("/api/callbacks/:kind", a.redeemCallbackURL)
	}
	if a.Attendee != nil {
		r.POST("/api/callbacks/attendee/zoom-tokens", a.attendeeZoomTokens)
	}
}

// sandboxRoutes: the sandbox's caller tokens, and its controls at the paths
// the sandbox itself serves them at: a newcomer (and a container, whose
// sandbox listens on loopback inside it) reaches them on this port.
func (a *api) sandboxRoutes(r *gin.Engine) {
	if a.SandboxTokens != nil {
		r.POST("/sandbox/tokens", a.sandboxToken)
	}
	if a.SandboxControls == nil {
		return
	}
	h := gin.WrapH(a.SandboxControls)
	for _, rt := range sandboxControlRoutes {
		r.Handle(rt.method, rt.path, h)
	}
}

// sandboxControlRoutes are the sandbox's control routes, as GET / lists them.
var sandboxControlRoutes = []struct{ method, path, index, does string }{
	{http.MethodPost, "/sandbox/sdk/join", "POST /sandbox/sdk/join",
		"{signature, meetingNumber, zak?|obfToken?, userName} -> the sandbox's judge of a Meeting SDK join (a stand-in for the SDK's join: nobody joins a real meeting)"},
	{http.MethodPost, "/sandbox/meetings", "POST /sandbox/meetings",
		"{number?, host} -> a sandbox meeting (a host @example.com: this account's own; @partner.example: an outside meeting, OBF required)"},
	{http.MethodGet, "/sandbox/meetings/:meetingNumber", "GET /sandbox/meetings/{meetingNumber}",
		"the sandbox's view of a meeting: host, account, status, the users in it now"},
	{http.MethodDelete, "/sandbox/meetings/:meetingNumber", "DELETE /sandbox/meetings/{meetingNumber}",
		"ends the meeting: everyone leaves, and it no longer exists"},
	{http.MethodPost, "/sandbox/meetings/:meetingNumber/participants", "POST /sandbox/meetings/{meetingNumber}/participants",
		"{user} -> the user is in the meeting now, as when they join in their Zoom client (an OBF joins only then)"},
	{http.MethodDelete, "/sandbox/meetings/:meetingNumber/participants/:user", "DELETE /sandbox/meetings/{meetingNumber}/participants/{user}",
		"the user leaves the meeting"},
	{http.MethodGet, "/sandbox/sdk/sessions/:sessionId", "GET /sandbox/sdk/sessions/{sessionId}",
		"a session the judge let in (the join's sessionId): in_meeting, or ended and why (user_left: the OBF's user left; meeting_ended; left)"},
	{http.MethodGet, "/sandbox/sdk/sessions/:sessionId/wait", "GET /sandbox/sdk/sessions/{sessionId}/wait",
		"?timeoutSeconds=1..60 (20) -> the session, once it ends or the time runs out: how a bot learns Zoom removed it"},
	{http.MethodDelete, "/sandbox/sdk/sessions/:sessionId", "DELETE /sandbox/sdk/sessions/{sessionId}",
		"the bot leaves the meeting: its session ends (left)"},
	{http.MethodPost, "/sandbox/meetings/:meetingNumber/rtms", "POST /sandbox/meetings/{meetingNumber}/rtms",
		"{failover?: restarted|interrupted} -> starts an RTMS stream in the meeting (someone must be in it) and sends meeting.rtms_started to this server's webhook; failover: as Zoom's RTMS failover"},
	{http.MethodGet, "/sandbox/meetings/:meetingNumber/rtms", "GET /sandbox/meetings/{meetingNumber}/rtms",
		"the meeting's RTMS stream: its id, signaling URL, state, handshakes accepted and refused"},
	{http.MethodDelete, "/sandbox/meetings/:meetingNumber/rtms", "DELETE /sandbox/meetings/{meetingNumber}/rtms",
		"?stop_reason= -> stops the stream (its signaling connection is closed) and sends meeting.rtms_stopped"},
}

// consoleRoutes: the browser example and the console (GET and HEAD), and
// the old demo page's addresses, which lead to the console.
func (a *api) consoleRoutes(r *gin.Engine) {
	if a.Demo != nil {
		r.GET("/examples/browser", func(c *gin.Context) { c.Redirect(http.StatusFound, "/examples/browser/") })
		r.GET("/examples/browser/*file", a.demo)
	}
	if a.Console == nil {
		return
	}
	h := gin.WrapH(http.StripPrefix("/console", a.Console))
	toConsole := func(c *gin.Context) { c.Redirect(http.StatusFound, "/console/") }
	r.GET("/console", toConsole)
	r.HEAD("/console", toConsole)
	r.GET("/console/*file", h)
	r.HEAD("/console/*file", h)
	// The console replaced the old demo page; its bookmarks land there.
	r.GET("/demo", toConsole)
	r.GET("/demo/*file", toConsole)
}

// socketRoutes: Socket.IO's polling and websocket transport.
func (a *api) socketRoutes(r *gin.Engine) {
	if a.Socket == nil {
		return
	}
	h := gin.WrapH(a.Socket)
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
		r.Handle(method, "/socket.io/*any", h)
	}
}

func securityHeaders() gin.HandlerFunc {
	s := secure.New(secure.Options{
		FrameDeny:             true,
		ContentTypeNosniff:    true,
		ReferrerPolicy:        "no-referrer",
		ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
	})
	return func(c *gin.Context) {
		if err := s.Process(c.Writer, c.Request); err != nil {
			problem(c, http.StatusBadRequest, apperr.CodeInvalidRequest, "The request was refused by the security policy.")
			return
		}
	}
}

func corsMiddleware(origins []string) gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions},
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-ID"},
		ExposeHeaders:    []string{"Retry-After", "X-Request-ID"},
		AllowCredentials: false,
		MaxAge:           10 * time.Minute,
	}
	if len(origins) == 1 && origins[0] == "*" {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOrigins = origins
	}
	return cors.New(cfg)
}

const identityKey = "identity"

// authenticate requires an identity: X-API-Key, or Authorization: Bearer
// with a JWT or an API key. An address that keeps presenting bad
// credentials is refused for a while before its next one is even checked.
func (a *api) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		cred, err := credential(c.Request.Header)
		if err != nil {
			fail(c, a.Logger, err)
			return
		}
		addr := a.clientAddr(c)
		if a.AuthGuard != nil {
			if ok, wait := a.AuthGuard.Allow(addr); !ok {
				fail(c, a.Logger, gate.TooManyFailures(wait))
				return
			}
		}
		id, err := a.Auth.Authenticate(c.Request.Context(), cred)
		if err != nil {
			if a.AuthGuard != nil {
				a.AuthGuard.Failed(addr)
			}
			fail(c, a.Logger, err)
			return
		}
		if c.FullPath() != rtmsPathSignature {
			if err := services.WorkerOnlyRTMS(id); err != nil { // a worker's credential is for RTMS alone
				fail(c, a.Logger, err)
				return
			}
		}
		c.Set(identityKey, id)
		c.Request = c.Request.WithContext(services.WithClientAddr(c.Request.Context(), addr)) // connect links count by it
		if a.Limiter != nil {
			if ok, wait := a.Limiter.Allow(id.RateKey()); !ok {
				fail(c, a.Logger, callerLimited(wait))
				return
			}
		}
		c.Next()
	}
}

func callerLimited(wait time.Duration) error {
	return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "limit caller", RetryAfter: wait,
		Message: "You are sending requests faster than this server allows each caller; wait for Retry-After seconds."}
}

// credential extracts the caller's credential from the headers.
func credential(h http.Header) (string, error) {
	if k := strings.TrimSpace(h.Get("X-API-Key")); k != "" {
		return k, nil
	}
	v := strings.TrimSpace(h.Get("Authorization"))
	if v == "" {
		return "", &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: "authenticate",
			Message: "Credentials are required: send Authorization: Bearer <jwt> or X-API-Key: <key>."}
	}
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
		return "", &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: "authenticate",
			Message: "The Authorization header must be \"Bearer <token>\"."}
	}
	return strings.TrimSpace(rest), nil
}

func caller(c *gin.Context) services.Identity {
	id, _ := c.Get(identityKey)
	v, _ := id.(services.Identity)
	return v
}

func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}
