// Command server runs the Zoom token server: it reads its configuration from
// the environment (and .env), wires the parts, serves REST and Socket.IO on
// one port, and shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/gin-gonic/gin"
	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/joho/godotenv"

	"github.com/zoomtoken/tokenserver/internal/bus"
	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/metrics"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/web/console"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/routes"
	"github.com/zoomtoken/tokenserver/services"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck(ctx, os.Getenv, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if code, done := command(os.Args[1:], os.Stdout, os.Stderr); done {
		stop()
		os.Exit(code)
	}
	if err := run(ctx, dotenv(os.Getenv, ".env"), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// dotenv returns a getenv that falls back to the file's values: the file
// never overrides the environment. A missing file is fine.
func dotenv(getenv func(string) string, path string) func(string) string {
	vals, err := godotenv.Read(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "warning: %s could not be read (%v); using the environment only\n", path, err)
		}
		return getenv
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}
}

const shutdownGrace = 30 * time.Second

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	return serve(ctx, getenv, stdout, nil)
}

// serve is run, telling ready (when not nil) the address it listens on: the
// tests learn it from the server, not from its log. It is a straight list of
// constructors, each part given what it depends on.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(addr string)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	log := newLogger(cfg, stdout)
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	logURLs(log, cfg, ln.Addr())
	mx := metrics.New()
	events := bus.NewLocal[services.Event]()
	sb, err := startSandbox(cfg, log)
	if err != nil {
		return err
	}
	defer sb.close()
	shared, err := newShared(ctx, cfg, log, mx)
	if err != nil {
		return err
	}
	defer shared.close()
	zc, err := zoom.New(shared.withQuota(zoomConfig(cfg, sb, log, mx)))
	if err != nil {
		return err
	}
	defer zc.Close()
	defer checkCredentials(ctx, cfg, zc, log)() // starts the check now; at return, stops it and waits
	auth, issuer, err := newAuthenticator(ctx, cfg, log)
	if err != nil {
		return err
	}
	connStore, db, closeStore, err := openDatabase(ctx, cfg, log, mx)
	if err != nil {
		return err
	}
	defer closeStore()
	shared.useDatabase(cfg, connStore, log)
	conns, stopEvents, err := connectionsWithEvents(ctx, cfg, sb, zc, events, ln.Addr(), shared.pendingStates(), connStore, log, mx)
	if err != nil {
		return err
	}
	defer stopEvents()
	meetings := services.NewMeetings(zc, grants(conns), signer(cfg, sb), events, cfg.BatchMax, log).
		WithBatchSlots(shared.batchSlots())
	present := presence.NewMemory(presence.MemoryConfig{})
	rtms := newRTMS(cfg, sb, mx, log, shared, rtmsUnassigned(cfg, connStore, conns, log))
	defer rtms.close()
	hooks, err := newWebhooks(cfg, sb, present, events, conns, ln.Addr(), mx, log, shared, rtms)
	if err != nil {
		return err
	}
	defer hooks.close()
	awaits, err := awaits.NewAwaits(ctx, awaits.AwaitsConfig{Presence: present, Join: meetings,
		Identifiers: identifiers(conns), Observer: mx, Logger: log})
	if err != nil {
		return err
	}
	events.Subscribe(awaits.Deliver)
	meetingInfo := services.NewMeetingInfo(services.MeetingInfoConfig{Zoom: zc, Grants: grants(conns),
		WebhooksConfigured: hooks.routes() != nil, Presence: present, Logger: log})
	limiter := shared.callerLimiter(cfg, gate.NewMemoryLimiter(cfg.CallerRPS, cfg.CallerBurst, nil))
	guard := shared.authGuard(cfg, gate.NewMemoryGuard(cfg.AuthFailuresPerMinute, nil))
	rt := realtime.New(realtime.Config{
		Auth: auth, Domain: meetings, Awaits: awaits, Limiter: limiter, AuthGuard: guard, CORSOrigins: cfg.CORSOrigins,
		EventTimeout: writeTimeout(cfg), MaxPayload: bodyLimit(cfg.BatchMax), Logger: log, Observer: mx,
		Cluster: shared.socketCluster(), TrustedProxies: cfg.TrustedProxies,
		SocketsPerUser: cfg.SocketsPerUser, RTMS: rtms.realtime(),
	})
	events.Subscribe(rt.Deliver)
	engine, err := newEngine(wiring{cfg: cfg, log: log, mx: mx, addr: ln.Addr(), sb: sb, shared: shared, db: db, zc: zc,
		auth: auth, issuer: issuer, conns: conns, meetings: meetings, hooks: hooks, awaits: awaits,
		meetingInfo: meetingInfo, limiter: limiter, guard: guard, rt: rt, rtms: rtms})
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, cfg, log, ln, engine, rt, ready)
}

// listen opens the port first: the sandbox's General app must know the
// server's address, its redirect URL, before anything is built.
func listen(cfg Config) (net.Listener, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HOST/PORT: cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// callbackPath is where Zoom sends a user back after consent.
const callbackPath = "/api/connections/zoom/callback"

// newConnections builds users' OAuth connections when a General app is
// configured (zoom mode) or in sandbox mode (the sandbox's own General app,
// CONNECTIONS_KEY when set, else a generated key; DATABASE_URL, by default
// memory); nil otherwise. connStore is DATABASE_URL's (openDatabase).
func newConnections(cfg Config, sb *sandboxRun, zc *zoom.Client, events services.Publisher, addr net.Addr, states services.PendingStates, connStore store.Store, log *slog.Logger, kickEvents func()) (*services.Connections, error) {
	app := zoom.OAuthApp{ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret, RedirectURL: cfg.OAuthRedirectURL,
		AuthorizeURL: cfg.AuthorizeURL, TokenURL: cfg.ZoomOAuthURL, RevokeURL: cfg.RevokeURL}
	var keys *store.Keyring
	switch {
	case sb.sb != nil:
		id, sec := sb.sb.GeneralApp()
		app = zoom.OAuthApp{ClientID: id, ClientSecret: secret.New(sec), RedirectURL: cfg.OAuthRedirectURL,
			AuthorizeURL: sb.sb.AuthorizeURL(), TokenURL: sb.sb.OAuthURL(), RevokeURL: sb.sb.RevokeURL()}
		if app.RedirectURL == "" {
			app.RedirectURL = "http://" + browserHost(addr) + callbackPath
		}
		sb.sb.AllowRedirect(app.RedirectURL)
		for _, u := range cfg.App.RedirectURLs { // the app's own redirects, registered on the sandbox's General app
			sb.sb.AllowRedirect(u)
		}
		if cfg.ConnectionsKey == "" { // nothing sealed outlives the process
			keys = store.GenerateKeyring()
			break
		}
		fallthrough // a set CONNECTIONS_KEY seals, as in zoom mode, so sqlite: or postgres: connections outlive the process
	case cfg.OAuthClientID != "":
		k, err := store.ParseKeyring(cfg.ConnectionsKey)
		if err != nil {
			return nil, fmt.Errorf("CONNECTIONS_KEY: %w", err)
		}
		keys = k
	default:
		return nil, nil
	}
	keyring := "CONNECTIONS_KEY"
	if cfg.ConnectionsKey == "" {
		keyring = "generated for this process (CONNECTIONS_KEY unset): connections do not outlive it"
	}
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: zc, App: app, Store: connStore, Keyring: keys,
		Events: events, States: states, Logger: log, RedirectURLs: cfg.App.RedirectURLs,
		RecordEvents: kickEvents != nil, EventRecorded: kickEvents})
	if err != nil {
		return nil, fmt.Errorf("ZOOM_OAUTH_*: %w", err)
	}
	log.Info("user OAuth connections", "redirect_url", app.RedirectURL, "database", strings.SplitN(cfg.DatabaseURL, ":", 2)[0],
		"keyring", keyring, "sealing_key", keys.SealingKeyID())
	return cs, nil
}

// browserHost is how a browser on this machine reaches addr: a loopback
// address as it is, any other (0.0.0.0, ::) as localhost.
func browserHost(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr.String()
	}
	return net.JoinHostPort("localhost", port)
}

// signer signs Meeting SDK JWTs with ZOOM_SDK_KEY/SECRET (by default the
// General app's; in sandbox mode the sandbox's SDK app) and Video SDK JWTs
// with ZOOM_VIDEOSDK_KEY/SECRET; nil when neither is configured.
func signer(cfg Config, sb *sandboxRun) *services.Signer {
	s := &services.Signer{MeetingKey: cfg.SDKKey, MeetingSecret: cfg.SDKSecret,
		VideoKey: cfg.VideoSDKKey, VideoSecret: cfg.VideoSDKSecret}
	if sb.sb != nil && s.MeetingKey == "" {
		key, sec := sb.sb.SDKApp()
		s.MeetingKey, s.MeetingSecret = key, secret.New(sec)
	}
	if s.MeetingKey == "" && s.VideoKey == "" {
		return nil
	}
	return s
}

// grants and routesConnections keep a nil *services.Connections a nil
// interface, so the parts that take one see "not configured".
func grants(cs *services.Connections) services.Grants {
	if cs == nil {
		return nil
	}
	return cs
}

func routesConnections(cs *services.Connections) routes.Connections {
	if cs == nil {
		return nil
	}
	return cs
}

// newCallbackURLs builds the signed callback URLs for bot platforms when
// CALLBACK_URL_KEY is set; in sandbox mode, with a key generated for the
// process (URLs die with it) and the listening address as the public URL.
// It answers a nil interface when the feature is off.
func newCallbackURLs(cfg Config, addr net.Addr, meetings *services.Meetings, conns *services.Connections, join callbacks.JoinTokens, cands callbacks.Candidates, limiter routes.CallerLimiter, state callbacks.State, log *slog.Logger) (routes.CallbackURLs, error) {
	key, base := cfg.CallbackURLKey, cfg.PublicURL
	if cfg.Mode == "sandbox" {
		if key.Empty() {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			key = secret.New(hex.EncodeToString(b))
		}
		if base == "" {
			base = "http://" + browserHost(addr)
		}
	}
	if key.Empty() {
		return nil, nil
	}
	signer, err := callbacks.NewSigner(key, base)
	if err != nil {
		return nil, fmt.Errorf("CALLBACK_URL_KEY, PUBLIC_URL: %w", err)
	}
	ucfg := callbacks.URLsConfig{Signer: signer, State: state, Tokens: meetings, Join: join, Candidates: cands,
		Allow: limiter.Allow, Makers: newCallbackMakers(cfg), Logger: log}
	if conns != nil {
		ucfg.Access = conns
	}
	u, err := callbacks.NewURLs(ucfg)
	if err != nil {
		return nil, err
	}
	log.Info("bot platforms: signed callback URLs", "public_url", base, "key_generated", cfg.CallbackURLKey.Empty())
	return u, nil
}

// newAttendee answers Attendee's zoom_tokens callback when
// ATTENDEE_WEBHOOK_SECRET is set; a nil interface otherwise.
func newAttendee(cfg Config, meetings *services.Meetings, join callbacks.JoinTokens, cands callbacks.Candidates, log *slog.Logger) (routes.AttendeeCallbacks, error) {
	if cfg.AttendeeSecret.Empty() {
		return nil, nil
	}
	a, err := callbacks.NewAttendee(callbacks.AttendeeConfig{Key: cfg.AttendeeSecret, Tokens: meetings, Join: join,
		Candidates: cands, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("ATTENDEE_WEBHOOK_SECRET: %w", err)
	}
	log.Info("bot platforms: Attendee's zoom_tokens callback", "route", "/api/callbacks/attendee/zoom-tokens")
	return a, nil
}

// recordingJoinTokens gives bot platforms a meeting's local-recording join
// token through the same domain method as POST /api/meetings/recording-token,
// asked as the URL's (or the Attendee bot's) user in the role of host: it
// answers only for a meeting that user hosts (its own connection, or the
// account's app once Zoom names the user as the host). The waiting room is
// bypassed, as the platforms ask.
type recordingJoinTokens struct{ mi *services.MeetingInfo }

func (r recordingJoinTokens) JoinToken(ctx context.Context, host zoom.UserID, meeting zoom.MeetingID) (secret.Value, error) {
	as := services.Identity{Subject: host.Key(), User: host, Role: services.RoleHost, Method: "callback"}
	t, err := r.mi.RecordingToken(ctx, as, services.RecordingInput{MeetingID: meeting, BypassWaitingRoom: true})
	if err != nil {
		return secret.Value{}, err
	}
	return t.Value, nil
}

// sandboxRun is the sandbox of sandbox mode; nil in zoom mode.
type sandboxRun struct{ sb *sandbox.Sandbox }

// startSandbox starts the in-memory Zoom in sandbox mode, and says loudly
// that its tokens are not real.
func startSandbox(cfg Config, log *slog.Logger) (*sandboxRun, error) {
	if cfg.Mode != "sandbox" {
		return &sandboxRun{}, nil
	}
	o := cfg.Sandbox
	if o.Scopes == "" { // every endpoint the server calls, meetings included
		o.Scopes = sandbox.ServerScopes
	}
	if o.OAuthScopes == "" {
		o.OAuthScopes = sandbox.UserScopes
	}
	sb := sandbox.New(o)
	if err := sb.Start(); err != nil {
		return nil, err
	}
	log.Warn("SANDBOX MODE: no Zoom credentials are set, so tokens come from an in-memory Zoom stand-in and are NOT real Zoom tokens",
		"sandbox_url", sb.URL(), "sandbox_users", sb.Users())
	if _, err := sb.CreateMeeting(exampleHost, exampleMeeting); err != nil {
		_ = sb.Close()
		return nil, fmt.Errorf("sandbox: the examples' meeting: %w", err)
	}
	log.Info("sandbox: meeting "+exampleMeeting+" (the README's and the examples') is hosted by "+exampleHost+
		" in the sandbox's account; POST /sandbox/meetings/"+exampleMeeting+"/participants {user} puts a user in it",
		"meeting", exampleMeeting, "host", exampleHost)
	return &sandboxRun{sb: sb}, nil
}

// The meeting the README's curl session and every example use by default:
// sandbox mode makes it at start, hosted by a user of the sandbox's own
// account, so the examples find it the first time.
const (
	exampleMeeting = "85746065432"
	exampleHost    = "host@example.com"
)

func (r *sandboxRun) close() {
	if r.sb != nil {
		_ = r.sb.Close()
	}
}

// info is what GET / says of the sandbox; nil in zoom mode.
func (r *sandboxRun) info() any {
	if r.sb == nil {
		return nil
	}
	return map[string]any{
		"users":       r.sb.Users(),
		"emails":      "any address ending in @example.com",
		"callerToken": "POST /sandbox/tokens {\"sub\":\"host@example.com\",\"role\":\"host\"} (only when no caller auth is configured)",
		"url":         r.sb.URL(),
		"meeting": map[string]any{"number": exampleMeeting, "host": exampleHost,
			"note": "made at start, in the sandbox's own account: the meeting of the README and the examples"},
		"meetings": "POST /sandbox/meetings {number, host} (a host @" + sandbox.PartnerDomain + " makes an outside meeting: OBF required); " +
			"POST /sandbox/meetings/{number}/participants {user}; DELETE /sandbox/meetings/{number}/participants/{user}; GET /sandbox/meetings/{number}" +
			" (on this port; also at {url})",
		"sdkJoin": "POST /sandbox/sdk/join (on this port; also at {url}) {signature, meetingNumber, zak?|obfToken?, userName}: judges a Meeting SDK join as Zoom would" +
			"; a join let in answers a sessionId, ended when the OBF's user leaves or the meeting ends: GET /sandbox/sdk/sessions/{id}[/wait]",
		"rtms": "POST /sandbox/meetings/{number}/rtms (someone in the meeting first) starts an RTMS stream and sends meeting.rtms_started to this server's webhook; " +
			"DELETE stops it; its signaling socket (server_urls, at {url}) checks the handshake's signature as Zoom does (examples/node/rtms-worker.js)",
	}
}

// controls are the sandbox's control routes (meetings, participants, the
// judge of Meeting SDK joins), served by the token server under /sandbox/;
// nil in zoom mode. Its Zoom side stays on its own loopback port.
func (r *sandboxRun) controls() http.Handler {
	if r.sb == nil {
		return nil
	}
	return r.sb.ControlHandler()
}

// zoomConfig points the Zoom client at Zoom, or at the sandbox.
func zoomConfig(cfg Config, sb *sandboxRun, log *slog.Logger, obs zoom.Observer) zoom.Config {
	zc := zoom.Config{
		Observer: obs, Logger: log,
		OAuthURL: cfg.ZoomOAuthURL, APIURL: cfg.ZoomAPIURL,
		AccountID: cfg.ZoomAccountID, ClientID: cfg.ZoomClientID, ClientSecret: cfg.ZoomClientSecret,
		TokenTTL: cfg.ZoomTokenTTL, QPS: cfg.ZoomQPS,
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}},
	}
	if sb.sb != nil {
		acct, id, clientSecret := sb.sb.Credentials()
		zc.OAuthURL, zc.APIURL = sb.sb.OAuthURL(), sb.sb.APIURL()
		zc.AccountID, zc.ClientID, zc.ClientSecret = acct, id, secret.New(clientSecret)
	}
	return zc
}

// newAuthenticator checks callers' credentials. In sandbox mode with no
// caller authentication configured, it generates a JWT secret for the process
// and returns itself as the issuer behind POST /sandbox/tokens; otherwise the
// issuer is nil.
func newAuthenticator(ctx context.Context, cfg Config, log *slog.Logger) (*gate.Authenticator, routes.TokenIssuer, error) {
	authCfg := gate.AuthConfig{JWTSecret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		APIKeys: cfg.APIKeys, MaxTTL: cfg.JWTMaxTTL}
	if cfg.JWKSURL != "" {
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{cfg.JWKSURL})
		if err != nil {
			return nil, nil, fmt.Errorf("AUTH_JWKS_URL: %w", err)
		}
		authCfg.JWKS = jwt.Keyfunc(kf.Keyfunc)
	}
	generated := cfg.Mode == "sandbox" && !cfg.AuthConfigured()
	if generated {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		authCfg.JWTSecret = secret.New(hex.EncodeToString(b))
	}
	auth, err := gate.NewAuthenticator(authCfg)
	if err != nil {
		return nil, nil, err
	}
	if !generated {
		return auth, nil, nil
	}
	log.Warn("SANDBOX MODE: no caller authentication is configured; a JWT secret was generated for this process and POST /sandbox/tokens issues caller tokens")
	return auth, auth, nil
}

// demoFiles is the browser example at /examples/browser/, served only with the sandbox's
// caller tokens; it is found relative to where the server starts.
func demoFiles(on bool) *routes.DemoFiles {
	if !on {
		return nil
	}
	page, _ := filepath.Abs("examples/browser")
	bundle, _ := filepath.Abs("examples/node/node_modules/socket.io-client/dist/socket.io.min.js")
	return &routes.DemoFiles{PageDir: page, Bundle: bundle}
}

// newConsole is the console at /console/, its files embedded in the binary.
// A binary built before `make node-deps` lacks socket.io-client's bundle: the
// page says so, and so does the log.
func newConsole(log *slog.Logger) (*console.Handler, error) {
	page, err := console.New()
	if err != nil {
		return nil, err
	}
	if !page.HasBundle() {
		log.Warn("console: built without its npm assets (socket.io-client's browser bundle); /console/ cannot sign in: run `make node-deps` and rebuild")
	}
	return page, nil
}

// serveUntilDone serves engine on ln until ctx ends, then shuts down:
// sockets first (http.Server.Shutdown does not track hijacked websockets),
// then in-flight requests, within shutdownGrace.
func serveUntilDone(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener, engine http.Handler, rt *realtime.Server, ready func(string)) error {
	srv := &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A whole batch is answered at once: allow for BATCH_MAX calls at ZOOM_QPS.
		WriteTimeout:   writeTimeout(cfg),
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "open", "http://"+browserHost(ln.Addr())+"/", "mode", cfg.Mode, "version", version,
		"zoom_qps", cfg.ZoomQPS, "batch_max", cfg.BatchMax, "auth_jwt", !cfg.JWTSecret.Empty() || (cfg.Mode == "sandbox" && !cfg.AuthConfigured()),
		"auth_jwks", cfg.JWKSURL != "", "api_keys", len(cfg.APIKeys))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(sctx) }()
	if err := rt.Close(sctx); err != nil {
		log.Warn("shutdown: sockets", "err", err)
	}
	if err := <-shutdownErr; err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// bodyLimit allows a batch of BATCH_MAX of the longest ids, escaped.
func bodyLimit(batchMax int) int64 {
	return max(64<<10, int64(batchMax)*(zoom.MaxUserIDLen*6+8)+4096)
}

func writeTimeout(cfg Config) time.Duration {
	batch := time.Duration(float64(cfg.BatchMax)/cfg.ZoomQPS*float64(time.Second)) * 2
	// POST /api/meetings/await holds its answer up to 60 s, then mints.
	return max(90*time.Second, batch+30*time.Second)
}

// webhookPath is where Zoom sends the app's events.
const webhookPath = "/api/webhooks/zoom"

// webhooksRun is Zoom's webhooks; svc is nil when none are accepted.
type webhooksRun struct{ svc *services.Webhooks }

// newWebhooks accepts Zoom's webhooks signed with ZOOM_WEBHOOK_SECRETS. In
// sandbox mode it generates a secret when none is set, and points the
// sandbox's webhooks at this server, so that its meetings show presence.
// Without secrets in zoom mode no webhook is accepted, and every await
// answers unknown.
func newWebhooks(cfg Config, sb *sandboxRun, store presence.Store, events services.Publisher, conns *services.Connections,
	addr net.Addr, mx *metrics.Metrics, log *slog.Logger, shared *sharedState, rtms *rtmsRun) (*webhooksRun, error) {
	secrets := cfg.WebhookSecrets
	if sb.sb != nil && len(secrets) == 0 {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		secrets = []secret.Value{secret.New(hex.EncodeToString(b))}
	}
	if len(secrets) == 0 {
		log.Info("webhooks: off (ZOOM_WEBHOOK_SECRETS is not set); awaits answer presence unknown")
		return &webhooksRun{}, nil
	}
	var deauth services.Deauthorizer
	if conns != nil {
		deauth = conns
	}
	svc, err := services.NewWebhooks(services.WebhooksConfig{Verifier: webhooks.NewVerifier(secrets),
		Dedupe: shared.webhookDedupe(webhooks.NewDedupe(webhooks.DedupeConfig{})), Presence: store, Events: events, Deauth: deauth,
		Observer: mx, Logger: log, Relay: shared.webhookRelay(), RTMS: rtms.webhooks()})
	if err != nil {
		return nil, err
	}
	if sb.sb != nil {
		sb.sb.SetWebhook("http://"+browserHost(addr)+webhookPath, secrets[0].Reveal())
	}
	log.Info("webhooks: accepting Zoom's events", "path", webhookPath, "secrets", len(secrets), "sandbox_sends", sb.sb != nil)
	return &webhooksRun{svc: svc}, nil
}

// routes is the webhook receiver for routes.Deps; nil (not served) when off.
func (w *webhooksRun) routes() routes.Webhooks {
	if w.svc == nil {
		return nil
	}
	return w.svc
}

func (w *webhooksRun) close() {
	if w.svc != nil {
		w.svc.Close()
	}
}

// identifiers keeps a nil *services.Connections a nil interface.
func identifiers(cs *services.Connections) awaits.Identifiers {
	if cs == nil {
		return nil
	}
	return cs
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// wiring is what serve has built by the time the HTTP side is made.
type wiring struct {
	cfg         Config
	log         *slog.Logger
	mx          *metrics.Metrics
	addr        net.Addr
	sb          *sandboxRun
	shared      *sharedState
	db          *dbHealth
	zc          *zoom.Client
	auth        *gate.Authenticator
	issuer      routes.TokenIssuer
	conns       *services.Connections
	meetings    *services.Meetings
	hooks       *webhooksRun
	awaits      *awaits.Awaits
	meetingInfo *services.MeetingInfo
	limiter     routes.CallerLimiter
	guard       routes.AuthGuard
	rt          *realtime.Server
	rtms        *rtmsRun
}

// newEngine makes the REST side: the bot platforms' routes, the console,
// and the route table over every part.
func newEngine(w wiring) (*gin.Engine, error) {
	joinTokens := recordingJoinTokens{w.meetingInfo}
	callbackURLs, err := newCallbackURLs(w.cfg, w.addr, w.meetings, w.conns, joinTokens, w.awaits, w.limiter, w.shared.callbackState(), w.log)
	if err != nil {
		return nil, err
	}
	attendee, err := newAttendee(w.cfg, w.meetings, joinTokens, w.awaits, w.log)
	if err != nil {
		return nil, err
	}
	page, err := newConsole(w.log)
	if err != nil {
		return nil, err
	}
	return routes.New(routes.Deps{
		Domain: w.meetings, Webhooks: w.hooks.routes(), Awaits: w.awaits, Auth: w.auth, Zoom: w.zc, Connections: routesConnections(w.conns), Limiter: w.limiter, AuthGuard: w.guard,
		MeetingInfo:   w.meetingInfo,
		SandboxTokens: w.issuer, Demo: demoFiles(w.issuer != nil), Console: page,
		Socket: w.rt.Handler(), Metrics: w.mx.Handler(), Observe: w.mx.HTTPRequest,
		Info:        routes.Info{Name: "zoom-token-server", Version: version, Mode: w.cfg.Mode, Sandbox: w.sb.info()},
		CORSOrigins: w.cfg.CORSOrigins, BodyLimit: bodyLimit(w.cfg.BatchMax), Logger: w.log,
		Cluster:      clusterHealth{shared: w.shared, db: w.db},
		CallbackURLs: callbackURLs, Attendee: attendee, SandboxControls: w.sb.controls(),
		TrustedProxies: w.cfg.TrustedProxies, RTMS: w.rtms.routes(),
	}), nil
}
