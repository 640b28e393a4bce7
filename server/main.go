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
	"syscall"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/joho/godotenv"

	"github.com/zoomtoken/tokenserver/bus"
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
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	log := newLogger(cfg, stdout)

	mx := metrics.New()
	zoomCfg := services.ZoomConfig{
		Observer: mx,
		OAuthURL: cfg.ZoomOAuthURL, APIURL: cfg.ZoomAPIURL,
		AccountID: cfg.ZoomAccountID, ClientID: cfg.ZoomClientID, ClientSecret: cfg.ZoomClientSecret,
		TokenTTL: cfg.ZoomTokenTTL, QPS: cfg.ZoomQPS, Logger: log,
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}},
	}
	var sandboxInfo any
	if cfg.Mode == "sandbox" {
		sb := sandbox.New(cfg.Sandbox)
		if err := sb.Start(); err != nil {
			return err
		}
		defer sb.Close()
		zoomCfg.OAuthURL, zoomCfg.APIURL = sb.OAuthURL(), sb.APIURL()
		acct, id, clientSecret := sb.Credentials()
		zoomCfg.AccountID, zoomCfg.ClientID, zoomCfg.ClientSecret = acct, id, secret.New(clientSecret)
		log.Warn("SANDBOX MODE: no Zoom credentials are set, so tokens come from an in-memory Zoom stand-in and are NOT real Zoom tokens",
			"sandbox_url", sb.URL(), "sandbox_users", sb.Users())
		sandboxInfo = map[string]any{
			"users":       sb.Users(),
			"emails":      "any address ending in @example.com",
			"callerToken": "POST /sandbox/tokens {\"sub\":\"host@example.com\",\"role\":\"host\"} (only when no caller auth is configured)",
		}
	}
	zoom, err := services.NewZoom(zoomCfg)
	if err != nil {
		return err
	}

	authCfg := services.AuthConfig{JWTSecret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		APIKeys: cfg.APIKeys, MaxTTL: cfg.JWTMaxTTL}
	if cfg.JWKSURL != "" {
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{cfg.JWKSURL})
		if err != nil {
			return fmt.Errorf("AUTH_JWKS_URL: %w", err)
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
		return err
	}
	if generated {
		log.Warn("SANDBOX MODE: no caller authentication is configured; a JWT secret was generated for this process and POST /sandbox/tokens issues caller tokens")
	}

	events := bus.NewLocal[services.Event]()
	meetings := services.NewMeetings(zoom, events, cfg.BatchMax, log)
	limiter := services.NewCallerLimiter(cfg.CallerRPS, cfg.CallerBurst, nil)
	guard := services.NewAuthGuard(cfg.AuthFailuresPerMinute, nil)
	rt := realtime.New(realtime.Config{
		Auth: auth, Domain: meetings, Limiter: limiter, AuthGuard: guard, CORSOrigins: cfg.CORSOrigins,
		EventTimeout: writeTimeout(cfg), MaxPayload: bodyLimit(cfg.BatchMax), Logger: log, Observer: mx,
	})
	events.Subscribe(rt.Deliver)
	deps := routes.Deps{
		Domain: meetings, Auth: auth, Zoom: zoom,
		Limiter:     limiter,
		AuthGuard:   guard,
		Socket:      rt.Handler(),
		Metrics:     mx.Handler(),
		Observe:     mx.HTTPRequest,
		Info:        routes.Info{Name: "zoom-token-server", Version: version, Mode: cfg.Mode, Sandbox: sandboxInfo},
		CORSOrigins: cfg.CORSOrigins,
		BodyLimit:   bodyLimit(cfg.BatchMax),
		Logger:      log,
	}
	if generated {
		deps.SandboxTokens = auth
		// Resolved now: the browser example is found relative to where the server starts.
		page, _ := filepath.Abs("examples/browser")
		bundle, _ := filepath.Abs("examples/node/node_modules/socket.io-client/dist/socket.io.min.js")
		deps.Demo = &routes.DemoFiles{PageDir: page, Bundle: bundle}
	}
	engine := routes.New(deps)

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("HOST/PORT: cannot listen on %s: %w", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), err)
	}
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
		"zoom_qps", cfg.ZoomQPS, "batch_max", cfg.BatchMax, "auth_jwt", !authCfg.JWTSecret.Empty(),
		"auth_jwks", cfg.JWKSURL != "", "api_keys", len(cfg.APIKeys))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Sockets first: http.Server.Shutdown does not track hijacked websockets.
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
