package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/realtime"
)

// Config is everything the server reads from its environment (docs/CONFIGURATION.md).
type Config struct {
	Port int
	Host string

	Mode             string // "zoom" or "sandbox"
	ZoomAccountID    string
	ZoomClientID     string
	ZoomClientSecret secret.Value
	ZoomOAuthURL     string
	ZoomAPIURL       string
	ZoomTokenTTL     time.Duration
	ZoomQPS          float64

	// A General app: users' own OAuth grants ("connections").
	OAuthClientID     string
	OAuthClientSecret secret.Value
	OAuthRedirectURL  string
	AuthorizeURL      string
	RevokeURL         string
	ConnectionsKey    string // CONNECTIONS_KEY, parsed by package connections (in sandbox mode too, when set); "" in sandbox mode: generated
	DatabaseURL       string

	// Meeting SDK and Video SDK signing; the Meeting SDK defaults to the General app's.
	SDKKey         string
	SDKSecret      secret.Value
	VideoSDKKey    string
	VideoSDKSecret secret.Value

	// WebhookSecrets: the secret tokens of the apps whose webhooks are
	// accepted (ZOOM_WEBHOOK_SECRETS); sandbox mode generates one when unset.
	WebhookSecrets []secret.Value

	JWTSecret   secret.Value
	JWKSURL     string
	JWTIssuer   string
	JWTAudience string
	JWTMaxTTL   time.Duration
	APIKeys     []secret.Value

	CallerRPS   float64
	CallerBurst int

	AuthFailuresPerMinute int
	SocketsPerUser        int // SOCKETS_PER_USER: authenticated sockets one identity holds on an instance

	CORSOrigins []string
	BatchMax    int
	LogLevel    slog.Level
	LogFormat   string

	Sandbox sandbox.Options // sandbox mode only, from SANDBOX_*

	// A cluster of instances behind one load balancer.
	RedisURL    secret.Value // REDIS_URL (may hold a password); empty: one process, state in memory
	ClusterSize int          // CLUSTER_SIZE: instances sharing the Zoom quota; while Redis is down each paces at ZOOM_QPS / CLUSTER_SIZE
	// TRUSTED_PROXIES: load balancers whose X-Forwarded-For names the
	// client; empty: none, the peer is the client.
	TrustedProxies gate.TrustedProxies
	// Bot platforms: the key signing callback URLs (empty: off; generated in
	// sandbox mode), the public base URL they start with, and Attendee's
	// webhook secret (its decoded bytes; empty: off).
	CallbackURLKey secret.Value
	PublicURL      string
	AttendeeSecret secret.Value
	// RTMS: the app whose streams are signed (ZOOM_RTMS_CLIENT_ID/SECRET;
	// default the General app's; in sandbox mode the sandbox's General
	// app), and how long a lost worker's streams wait (RTMS_REASSIGN_SECONDS).
	RTMSClientID     string
	RTMSClientSecret secret.Value
	RTMSReassign     time.Duration
	RTMSUnassigned   time.Duration // RTMS_UNASSIGNED_SECONDS: a stream pending that long with no worker: rtms.unassigned

	App AppOAuth // the app's own OAuth flow and its events (config_events.go)
}

// minWebhookSecretLen is the shortest webhook secret accepted. Zoom's secret
// tokens are 22 characters; its documented test secret has 15.
const minWebhookSecretLen = 12

// AuthConfigured reports whether any way to authenticate callers is set.
func (c Config) AuthConfigured() bool {
	return !c.JWTSecret.Empty() || c.JWKSURL != "" || len(c.APIKeys) > 0
}

// loadConfig reads and checks the configuration. Every problem is reported,
// each naming its variable; each part of the configuration is read by a
// function of its own, in this order.
func loadConfig(getenv func(string) string) (Config, error) {
	p := &parser{getenv: getenv}
	c := Config{
		Port:                  p.intRange("PORT", 3000, 0, 65535),
		Host:                  p.str("HOST", "0.0.0.0"),
		ZoomOAuthURL:          p.url("ZOOM_OAUTH_URL", "https://zoom.us/oauth/token"),
		ZoomAPIURL:            p.url("ZOOM_API_URL", "https://api.zoom.us/v2"),
		ZoomTokenTTL:          p.duration("ZOOM_TOKEN_CACHE_TTL", 55*time.Minute, time.Second, time.Hour),
		ZoomQPS:               p.floatRange("ZOOM_QPS", 25, 0.1, 1000000),
		JWTIssuer:             p.str("AUTH_JWT_ISSUER", ""),
		JWTAudience:           p.str("AUTH_JWT_AUDIENCE", ""),
		JWTMaxTTL:             p.duration("AUTH_JWT_MAX_TTL", gate.DefaultJWTMaxTTL, time.Minute, 30*24*time.Hour),
		CallerRPS:             p.floatRange("CALLER_RPS", 20, 0.1, 100000),
		CallerBurst:           p.intRange("CALLER_BURST", 40, 1, 100000),
		AuthFailuresPerMinute: p.intRange("AUTH_FAILURES_PER_MINUTE", gate.DefaultAuthFailuresPerMinute, 1, 100000),
		SocketsPerUser:        p.intRange("SOCKETS_PER_USER", realtime.DefaultSocketsPerUser, 1, 100000),
		BatchMax:              p.intRange("BATCH_MAX", 500, 1, 10000),
		LogFormat:             p.oneOf("LOG_FORMAT", "json", "json", "text"),
	}
	if c.Host == "" {
		p.bad("HOST", "must not be empty (use 0.0.0.0 for every interface)")
	}

	loadZoomApps(p, &c)
	loadWebhookSecrets(p, &c)
	loadDatabase(p, &c)
	loadCallers(p, &c)
	loadLogLevel(p, &c)
	checkZoomMode(p, &c)
	loadBotPlatforms(p, &c)
	loadSandbox(p, &c)
	loadCluster(p, &c)
	loadRTMS(p, &c)
	loadAppOAuth(p, &c)
	return c, errors.Join(p.errs...)
}

// loadZoomApps reads the mode from which Zoom apps are set: the S2S app, the General app (users' OAuth), and the SDK apps that sign.
func loadZoomApps(p *parser, c *Config) {
	// The apps' ids, keys and secrets hold no white space: one that does was pasted wrong.
	for _, name := range []string{"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET",
		"ZOOM_OAUTH_CLIENT_ID", "ZOOM_OAUTH_CLIENT_SECRET", "ZOOM_SDK_KEY", "ZOOM_SDK_SECRET",
		"ZOOM_VIDEOSDK_KEY", "ZOOM_VIDEOSDK_SECRET"} {
		p.noSpace(name)
	}
	s2s := p.group("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
	oauth := p.group("ZOOM_OAUTH_CLIENT_ID", "ZOOM_OAUTH_CLIENT_SECRET", "ZOOM_OAUTH_REDIRECT_URL")
	switch {
	case s2s == nil || oauth == nil: // a partial set, already reported
	case len(s2s) == 0 && len(oauth) == 0:
		c.Mode = "sandbox"
	default:
		c.Mode = "zoom"
	}
	if len(s2s) > 0 {
		c.ZoomAccountID, c.ZoomClientID, c.ZoomClientSecret = s2s[0], s2s[1], secret.New(s2s[2])
	}
	if len(oauth) > 0 {
		c.OAuthClientID, c.OAuthClientSecret = oauth[0], secret.New(oauth[1])
		c.OAuthRedirectURL = p.url("ZOOM_OAUTH_REDIRECT_URL", "")
		if u, err := url.Parse(c.OAuthRedirectURL); err == nil && !strings.HasSuffix(u.Path, "/api/connections/zoom/callback") {
			p.bad("ZOOM_OAUTH_REDIRECT_URL", "must point at this server's /api/connections/zoom/callback, as registered on the General app")
		}
	}
	c.AuthorizeURL = p.url("ZOOM_AUTHORIZE_URL", "https://zoom.us/oauth/authorize")
	c.RevokeURL = p.url("ZOOM_REVOKE_URL", "https://zoom.us/oauth/revoke")
	if sdkApp := p.group("ZOOM_SDK_KEY", "ZOOM_SDK_SECRET"); len(sdkApp) > 0 {
		c.SDKKey, c.SDKSecret = sdkApp[0], secret.New(sdkApp[1])
	} else if len(oauth) > 0 {
		c.SDKKey, c.SDKSecret = c.OAuthClientID, c.OAuthClientSecret
	}
	if video := p.group("ZOOM_VIDEOSDK_KEY", "ZOOM_VIDEOSDK_SECRET"); len(video) > 0 {
		c.VideoSDKKey, c.VideoSDKSecret = video[0], secret.New(video[1])
	}
}

// noSpace refuses a set value with white space anywhere in it (leading,
// trailing or inside), naming the variable and never showing the value.
func (p *parser) noSpace(name string) {
	v := p.getenv(name)
	if strings.TrimSpace(v) != "" && strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		p.bad(name, "contains white space (a space, tab or line break, at either end or inside); Zoom's ids, keys and secrets have none: copy it again from the app's App Credentials page")
	}
}

// loadWebhookSecrets reads the secret tokens of the apps whose webhooks are accepted.
func loadWebhookSecrets(p *parser, c *Config) {
	for i, k := range splitList(p.getenv("ZOOM_WEBHOOK_SECRETS")) {
		if len(k) < minWebhookSecretLen || strings.ContainsAny(k, " \t\r\n") {
			p.bad("ZOOM_WEBHOOK_SECRETS", fmt.Sprintf("secret %d is %d characters; each must be at least %d, without spaces: the app's Secret Token (Marketplace → your app → Features → Access)", i+1, len(k), minWebhookSecretLen))
			continue
		}
		c.WebhookSecrets = append(c.WebhookSecrets, secret.New(k))
	}
}

// loadDatabase reads where connections and guard state live, and the key that seals refresh tokens.
func loadDatabase(p *parser, c *Config) {
	c.ConnectionsKey = strings.TrimSpace(p.getenv("CONNECTIONS_KEY"))
	defaultDB := "memory"
	if c.Mode == "zoom" {
		defaultDB = "sqlite:data/connections.db"
	}
	c.DatabaseURL = p.str("DATABASE_URL", defaultDB)
	if c.DatabaseURL != "memory" && !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !isPostgresURL(c.DatabaseURL) {
		p.bad("DATABASE_URL", "must be memory, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	} else if c.DatabaseURL == "sqlite:" {
		p.bad("DATABASE_URL", "sqlite: needs a path, e.g. sqlite:data/connections.db")
	}
	if c.Mode == "zoom" && c.OAuthClientID != "" && c.ConnectionsKey == "" {
		p.bad("CONNECTIONS_KEY", "is required with ZOOM_OAUTH_CLIENT_ID: id:base64(32 random bytes), e.g. k1:$(openssl rand -base64 32)")
	}
}

// loadCallers reads how callers authenticate (JWT secret, JWKS, API keys) and which browser origins may call.
func loadCallers(p *parser, c *Config) {
	if s := p.getenv("AUTH_JWT_SECRET"); s != "" {
		if len(s) < gate.MinJWTSecretLen {
			p.bad("AUTH_JWT_SECRET", fmt.Sprintf("must be at least %d bytes (it has %d); generate one with: openssl rand -hex 32", gate.MinJWTSecretLen, len(s)))
		}
		c.JWTSecret = secret.New(s)
	}
	c.JWKSURL = p.url("AUTH_JWKS_URL", "")
	for i, k := range splitList(p.getenv("API_KEYS")) {
		if len(k) < 16 {
			p.bad("API_KEYS", fmt.Sprintf("key %d is %d characters; each key must be at least 16 (generate one with: openssl rand -hex 24)", i+1, len(k)))
			continue
		}
		c.APIKeys = append(c.APIKeys, secret.New(k))
	}
	for _, o := range splitList(p.getenv("CORS_ORIGINS")) {
		if reason := checkOrigin(o); reason != "" {
			p.bad("CORS_ORIGINS", fmt.Sprintf("%q %s", o, reason))
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, strings.TrimRight(o, "/"))
	}
	if len(c.CORSOrigins) > 1 && contains(c.CORSOrigins, "*") {
		p.bad("CORS_ORIGINS", `"*" allows every origin and cannot be combined with others`)
	}
}

// loadLogLevel reads LOG_LEVEL.
func loadLogLevel(p *parser, c *Config) {
	switch v := strings.ToLower(strings.TrimSpace(p.getenv("LOG_LEVEL"))); v {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		p.bad("LOG_LEVEL", fmt.Sprintf("must be debug, info, warn or error, not %q", v))
	}
}

// checkZoomMode holds zoom mode to what real credentials need: https to Zoom, and a way to authenticate callers.
func checkZoomMode(p *parser, c *Config) {
	if c.Mode == "zoom" {
		for _, k := range []string{"ZOOM_OAUTH_URL", "ZOOM_API_URL", "ZOOM_AUTHORIZE_URL", "ZOOM_REVOKE_URL"} {
			if u := p.getenv(k); u != "" && !secureURL(u) {
				p.bad(k, "must use https; plain http is allowed only to a loopback address, since the S2S secret and access token are sent to it")
			}
		}
		if !c.AuthConfigured() {
			p.errs = append(p.errs, errors.New("AUTH_JWT_SECRET, AUTH_JWKS_URL, API_KEYS: none is set, so callers cannot be authenticated; in zoom mode set at least one"))
		}
	}
	if c.JWKSURL != "" && !secureURL(c.JWKSURL) {
		p.bad("AUTH_JWKS_URL", "must use https (plain http only to a loopback address)")
	}
}

// loadSandbox reads the sandbox's knobs (SANDBOX_*; sandbox mode only).
func loadSandbox(p *parser, c *Config) {
	c.Sandbox = sandbox.Options{
		Latency:        p.duration("SANDBOX_LATENCY", 0, 0, time.Minute),
		QPS:            p.intRange("SANDBOX_QPS", 0, 0, 1000000),
		DailyLimit:     p.intRange("SANDBOX_DAILY_LIMIT", 0, 0, 100000000),
		ErrorRate:      p.floatRange("SANDBOX_ERROR_RATE", 0, 0, 1),
		TokenExpiresIn: p.intRange("SANDBOX_TOKEN_EXPIRES_IN", 3600, 60, 86400),
	}
	if o, err := sandbox.ParseOutage(p.getenv("SANDBOX_OUTAGE")); err != nil {
		p.bad("SANDBOX_OUTAGE", err.Error())
	} else {
		c.Sandbox.Outage = o
	}
}

// loadCluster reads what a cluster's instances share: Redis, their number, the trusted load balancers.
func loadCluster(p *parser, c *Config) {
	c.RedisURL = p.redisURL("REDIS_URL")
	c.ClusterSize = p.intRange("CLUSTER_SIZE", 1, 1, 1000)
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
}

// isPostgresURL: postgres://… or postgresql://… with a host (the rest is
// checked when the database is opened).
func isPostgresURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && u.Host != ""
}

// redisURL reads a redis:// or rediss:// URL. It may hold a password, so
// a complaint never quotes the value.
func (p *parser) redisURL(name string) secret.Value {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return secret.Value{}
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		p.bad(name, "is not a valid URL (expected redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…)")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		p.bad(name, "must start with redis:// or rediss:// (TLS)")
	case u.Host == "":
		p.bad(name, "needs a host, as in redis://redis:6379/0")
	default:
		return secret.New(v)
	}
	return secret.Value{}
}

// group reads variables that go together: all set (their values, trimmed),
// none set (an empty slice), or some (reported, naming the missing ones; nil).
func (p *parser) group(names ...string) []string {
	var vals, set, missing []string
	for _, k := range names {
		if v := strings.TrimSpace(p.getenv(k)); v != "" {
			vals, set = append(vals, v), append(set, k)
		} else {
			missing = append(missing, k)
		}
	}
	switch len(set) {
	case 0:
		return []string{}
	case len(names):
		return vals
	}
	p.errs = append(p.errs, fmt.Errorf("%s: missing; %s set it too (set all of %s, or none)",
		strings.Join(missing, ", "), strings.Join(set, ", "), strings.Join(names, ", ")))
	return nil
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) bad(name, reason string) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", name, reason))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.bad(name, fmt.Sprintf("must be a whole number from %d to %d, not %q", lo, hi, v))
		return def
	}
	return n
}

func (p *parser) floatRange(name string, def, lo, hi float64) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi || f != f {
		p.bad(name, fmt.Sprintf("must be a number from %g to %g, not %q", lo, hi, v))
		return def
	}
	return f
}

func (p *parser) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		p.bad(name, fmt.Sprintf("must be a duration from %s to %s such as 55m or 300ms, not %q", lo, hi, v))
		return def
	}
	return d
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(p.getenv(name)))
	if v == "" {
		return def
	}
	if !contains(allowed, v) {
		p.bad(name, fmt.Sprintf("must be one of %s, not %q", strings.Join(allowed, ", "), v))
		return def
	}
	return v
}

func (p *parser) url(name, def string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.bad(name, fmt.Sprintf("must be an absolute http(s) URL, not %q", v))
		return def
	}
	return v
}

// secureURL: https, or http to a loopback address.
func secureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return u.Scheme == "http" && ip != nil && ip.IsLoopback()
}

func checkOrigin(o string) string {
	if o == "*" {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an origin such as https://app.example.com"
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must be scheme://host[:port] with no path"
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadBotPlatforms reads CALLBACK_URL_KEY, PUBLIC_URL and
// ATTENDEE_WEBHOOK_SECRET. PUBLIC_URL defaults to the origin (and path
// prefix) of ZOOM_OAUTH_REDIRECT_URL; in sandbox mode, to the listening
// address. No proxy is trusted, so the URL is never taken from a request's
// Host or X-Forwarded-* headers.
func loadBotPlatforms(p *parser, c *Config) {
	if k := p.getenv("CALLBACK_URL_KEY"); k != "" {
		if len(k) < callbacks.MinKeyLen {
			p.bad("CALLBACK_URL_KEY", fmt.Sprintf("must be at least %d bytes (it has %d); generate one with: openssl rand -hex 32", callbacks.MinKeyLen, len(k)))
		}
		c.CallbackURLKey = secret.New(k)
	}
	if v := strings.TrimSpace(p.getenv("PUBLIC_URL")); v != "" {
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.bad("PUBLIC_URL", fmt.Sprintf("must be an absolute http(s) URL such as https://tokens.example.com, not %q", v))
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.bad("PUBLIC_URL", "must be scheme://host[:port][/path prefix] with no query, fragment or user")
		case c.Mode == "zoom" && !secureURL(v):
			p.bad("PUBLIC_URL", "must use https (plain http only to a loopback address): bot platforms send the signed URL to it")
		default:
			c.PublicURL = strings.TrimRight(v, "/")
		}
	} else if c.OAuthRedirectURL != "" {
		if u, err := url.Parse(c.OAuthRedirectURL); err == nil {
			c.PublicURL = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/api/connections/zoom/callback")
		}
	}
	if c.Mode == "zoom" && !c.CallbackURLKey.Empty() && c.PublicURL == "" && strings.TrimSpace(p.getenv("PUBLIC_URL")) == "" {
		p.bad("PUBLIC_URL", "is required with CALLBACK_URL_KEY (the https address bot platforms reach this server at), unless ZOOM_OAUTH_REDIRECT_URL is set")
	}
	if s := strings.TrimSpace(p.getenv("ATTENDEE_WEBHOOK_SECRET")); s != "" {
		key, err := callbacks.ParseAttendeeSecret(s)
		if err != nil {
			p.bad("ATTENDEE_WEBHOOK_SECRET", err.Error())
		}
		c.AttendeeSecret = key
	}
}

// prefixes reads a comma-separated list of IP addresses and CIDRs (an
// address is its own /32 or /128). A prefix of every address (/0) is
// refused: every client could then name its own address.
func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range splitList(p.getenv(name)) {
		var pr netip.Prefix
		if strings.Contains(item, "/") {
			v, err := netip.ParsePrefix(item)
			if err != nil {
				p.bad(name, fmt.Sprintf("%q is not an IP address or CIDR (as 10.0.0.5, 10.0.0.0/8 or fd00::/8)", item))
				continue
			}
			pr = v.Masked()
		} else {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				p.bad(name, fmt.Sprintf("%q is not an IP address or CIDR (as 10.0.0.5, 10.0.0.0/8 or fd00::/8)", item))
				continue
			}
			pr = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if pr.Bits() == 0 {
			p.bad(name, fmt.Sprintf("%q trusts every address, so any client could choose its own address; name the load balancers' addresses or network", item))
			continue
		}
		out = append(out, pr)
	}
	return out
}

// loadRTMS reads the RTMS app (by default the General app's) and
// RTMS_REASSIGN_SECONDS.
func loadRTMS(p *parser, c *Config) {
	p.noSpace("ZOOM_RTMS_CLIENT_ID")
	p.noSpace("ZOOM_RTMS_CLIENT_SECRET")
	if app := p.group("ZOOM_RTMS_CLIENT_ID", "ZOOM_RTMS_CLIENT_SECRET"); len(app) > 0 {
		c.RTMSClientID, c.RTMSClientSecret = app[0], secret.New(app[1])
	} else if c.OAuthClientID != "" {
		c.RTMSClientID, c.RTMSClientSecret = c.OAuthClientID, c.OAuthClientSecret
	}
	c.RTMSReassign = time.Duration(p.intRange("RTMS_REASSIGN_SECONDS", 10, 1, 3600)) * time.Second
	c.RTMSUnassigned = time.Duration(p.intRange("RTMS_UNASSIGNED_SECONDS", 5, 1, 3600)) * time.Second
}
