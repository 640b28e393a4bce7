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

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/joho/godotenv"

	"github.com/zoomtoken/tokenserver/bus"
	"github.com/zoomtoken/tokenserver/connections"
	"github.com/zoomtoken/tokenserver/console"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/routes"
	"github.com/zoomtoken/tokenserver/sandbox"
	"github.com/zoomtoken/tokenserver/secret"
	"github.com/zoomtoken/tokenserver/services"
	"github.com/zoomtoken/tokenserver/services/metrics"
	"github.com/zoomtoken/tokenserver/zoom"
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
	mx := metrics.New()
	events := bus.NewLocal[services.Event]()
	sb, err := startSandbox(cfg, log)
	if err != nil {
		return err
	}
	defer sb.close()
	zc, err := zoom.New(zoomConfig(cfg, sb, log, mx))
	if err != nil {
		return err
	}
	defer zc.Close()
	auth, issuer, err := newAuthenticator(ctx, cfg, log)
	if err != nil {
		return err
	}
	conns, closeStore, err := newConnections(ctx, cfg, sb, zc, events, ln.Addr(), log)
	if err != nil {
		return err
	}
	defer closeStore()
	meetings := services.NewMeetings(zc, grants(conns), signer(cfg, sb), events, cfg.BatchMax, log)
	limiter := services.NewCallerLimiter(cfg.CallerRPS, cfg.CallerBurst, nil)
	guard := services.NewAuthGuard(cfg.AuthFailuresPerMinute, nil)
	rt := realtime.New(realtime.Config{
		Auth: auth, Domain: meetings, Limiter: limiter, AuthGuard: guard, CORSOrigins: cfg.CORSOrigins,
		EventTimeout: writeTimeout(cfg), MaxPayload: bodyLimit(cfg.BatchMax), Logger: log, Observer: mx,
	})
	events.Subscribe(rt.Deliver)
	page, err := newConsole(log)
	if err != nil {
		return err
	}
	engine := routes.New(routes.Deps{
		Domain: meetings, Auth: auth, Zoom: zc, Connections: routesConnections(conns), Limiter: limiter, AuthGuard: guard,
		SandboxTokens: issuer, Demo: demoFiles(issuer != nil), Console: page,
		Socket: rt.Handler(), Metrics: mx.Handler(), Observe: mx.HTTPRequest,
		Info:        routes.Info{Name: "zoom-token-server", Version: version, Mode: cfg.Mode, Sandbox: sb.info()},
		CORSOrigins: cfg.CORSOrigins, BodyLimit: bodyLimit(cfg.BatchMax), Logger: log,
	})
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
// a generated key, the database in memory); nil otherwise. The returned
// function closes the store.
func newConnections(ctx context.Context, cfg Config, sb *sandboxRun, zc *zoom.Client, events services.Publisher, addr net.Addr, log *slog.Logger) (*services.Connections, func(), error) {
	nop := func() {}
	app := zoom.OAuthApp{ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret, RedirectURL: cfg.OAuthRedirectURL,
		AuthorizeURL: cfg.AuthorizeURL, TokenURL: cfg.ZoomOAuthURL, RevokeURL: cfg.RevokeURL}
	var keys *connections.Keyring
	switch {
	case sb.sb != nil:
		id, sec := sb.sb.GeneralApp()
		app = zoom.OAuthApp{ClientID: id, ClientSecret: secret.New(sec), RedirectURL: cfg.OAuthRedirectURL,
			AuthorizeURL: sb.sb.AuthorizeURL(), TokenURL: sb.sb.OAuthURL(), RevokeURL: sb.sb.RevokeURL()}
		if app.RedirectURL == "" {
			app.RedirectURL = "http://" + browserHost(addr) + callbackPath
		}
		sb.sb.AllowRedirect(app.RedirectURL)
		keys = connections.GenerateKeyring()
	case cfg.OAuthClientID == "":
		return nil, nop, nil
	default:
		k, err := connections.ParseKeyring(cfg.ConnectionsKey)
		if err != nil {
			return nil, nop, fmt.Errorf("CONNECTIONS_KEY: %w", err)
		}
		keys = k
	}
	store, err := connections.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return nil, nop, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: zc, App: app, Store: store, Keyring: keys,
		Events: events, Logger: log})
	if err != nil {
		_ = store.Close()
		return nil, nop, fmt.Errorf("ZOOM_OAUTH_*: %w", err)
	}
	log.Info("user OAuth connections", "redirect_url", app.RedirectURL, "database", strings.SplitN(cfg.DatabaseURL, ":", 2)[0],
		"sealing_key", keys.SealingKeyID())
	return cs, func() { _ = store.Close() }, nil
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

// sandboxRun is the sandbox of sandbox mode; nil in zoom mode.
type sandboxRun struct{ sb *sandbox.Sandbox }

// startSandbox starts the in-memory Zoom in sandbox mode, and says loudly
// that its tokens are not real.
func startSandbox(cfg Config, log *slog.Logger) (*sandboxRun, error) {
	if cfg.Mode != "sandbox" {
		return &sandboxRun{}, nil
	}
	sb := sandbox.New(cfg.Sandbox)
	if err := sb.Start(); err != nil {
		return nil, err
	}
	log.Warn("SANDBOX MODE: no Zoom credentials are set, so tokens come from an in-memory Zoom stand-in and are NOT real Zoom tokens",
		"sandbox_url", sb.URL(), "sandbox_users", sb.Users())
	return &sandboxRun{sb: sb}, nil
}

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
	}
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
func newAuthenticator(ctx context.Context, cfg Config, log *slog.Logger) (*services.Authenticator, routes.TokenIssuer, error) {
	authCfg := services.AuthConfig{JWTSecret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
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
	auth, err := services.NewAuthenticator(authCfg)
	if err != nil {
		return nil, nil, err
	}
	if !generated {
		return auth, nil, nil
	}
	log.Warn("SANDBOX MODE: no caller authentication is configured; a JWT secret was generated for this process and POST /sandbox/tokens issues caller tokens")
	return auth, auth, nil
}

// demoFiles is the browser example at /demo/, served only with the sandbox's
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
	log.Info("listening", "addr", ln.Addr().String(), "mode", cfg.Mode, "version", version,
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
	return max(60*time.Second, batch+30*time.Second)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
