package main

import (
	"strings"
	"testing"
	"time"

	"github.com/joho/godotenv"
)

func TestLoadConfig(t *testing.T) {
	zoom := map[string]string{"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": "secret", "API_KEYS": "key-0123456789abcdef"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr []string // each must appear in the error
		check   func(t *testing.T, c Config)
	}{
		{"defaults are sandbox mode", map[string]string{}, nil, func(t *testing.T, c Config) {
			if c.Mode != "sandbox" || c.Port != 3000 || c.Host != "0.0.0.0" || c.ZoomQPS != 25 || c.BatchMax != 500 ||
				c.ZoomTokenTTL != 55*time.Minute || c.ZoomOAuthURL != "https://zoom.us/oauth/token" || c.ZoomAPIURL != "https://api.zoom.us/v2" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"zoom mode", zoom, nil, func(t *testing.T, c Config) {
			if c.Mode != "zoom" || c.ZoomClientSecret.Reveal() != "secret" || len(c.APIKeys) != 1 {
				t.Errorf("zoom: %+v", c)
			}
		}},
		{"events: an http EVENTS_URL on the internet is refused, with the reason", with(zoom, "EVENTS_URL", "http://hooks.example.com/x", "EVENTS_SECRET", strings.Repeat("s", 32)),
			[]string{"EVENTS_URL: must be https"}, nil},
		{"events: a short EVENTS_SECRET is refused", with(zoom, "EVENTS_URL", "https://hooks.example.com/x", "EVENTS_SECRET", "short"),
			[]string{"EVENTS_SECRET: must be at least 32 bytes"}, nil},
		{"events: EVENTS_SECRET without EVENTS_URL", with(zoom, "EVENTS_SECRET", strings.Repeat("s", 32)), []string{"EVENTS_URL: is required"}, nil},
		{"events: https, or http to loopback or a private address", with(zoom, "EVENTS_URL", "http://10.1.2.3:8080/hooks", "EVENTS_SECRET", strings.Repeat("s", 32),
			"ZOOM_OAUTH_REDIRECT_URLS", "https://app.example/cb, https://app.example/cb2"), nil, func(t *testing.T, c Config) {
			if c.App.EventsURL != "http://10.1.2.3:8080/hooks" || len(c.App.RedirectURLs) != 2 || c.App.RedirectURLs[1] != "https://app.example/cb2" {
				t.Errorf("app: %+v", c.App)
			}
			for _, u := range []string{"https://hooks.example.com/x", "http://127.0.0.1:9/x", "http://localhost/x", "http://192.168.1.5/x"} {
				if why := eventsURLProblem(u); why != "" {
					t.Errorf("%s refused: %s", u, why)
				}
			}
			for _, u := range []string{"http://8.8.8.8/x", "ftp://h/x", "https://user:pw@h/x", "hooks.example.com"} {
				if eventsURLProblem(u) == "" {
					t.Errorf("%s accepted", u)
				}
			}
		}},
		{"ZOOM_OAUTH_REDIRECT_URLS: not a URL", with(zoom, "ZOOM_OAUTH_REDIRECT_URLS", "app.example/cb"), []string{"ZOOM_OAUTH_REDIRECT_URLS: \"app.example/cb\" is not an absolute"}, nil},
		{"partial credentials name the missing ones", map[string]string{"ZOOM_ACCOUNT_ID": "a", "ZOOM_CLIENT_ID": "b"}, []string{"ZOOM_CLIENT_SECRET: missing"}, nil},
		{"only the secret", map[string]string{"ZOOM_CLIENT_SECRET": "s"}, []string{"ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID: missing"}, nil},
		{"zoom mode needs caller auth", with(zoom, "API_KEYS", ""), []string{"AUTH_JWT_SECRET, AUTH_JWKS_URL, API_KEYS"}, nil},
		{"short JWT secret", with(zoom, "AUTH_JWT_SECRET", "short"), []string{"AUTH_JWT_SECRET: must be at least 32 bytes"}, nil},
		{"short API key", with(zoom, "API_KEYS", "abc"), []string{"API_KEYS: key 1"}, nil},
		{"user OAuth alone is zoom mode", map[string]string{"ZOOM_OAUTH_CLIENT_ID": "gid", "ZOOM_OAUTH_CLIENT_SECRET": "gsec",
			"ZOOM_OAUTH_REDIRECT_URL": "https://t.example.com/api/connections/zoom/callback", "CONNECTIONS_KEY": "k1:AAAA", "API_KEYS": "key-0123456789abcdef"}, nil,
			func(t *testing.T, c Config) {
				if c.Mode != "zoom" || c.ZoomAccountID != "" || c.OAuthClientID != "gid" || c.DatabaseURL != "sqlite:data/connections.db" {
					t.Errorf("oauth only: %+v", c)
				}
			}},
		{"a partial General app names what is missing", with(zoom, "ZOOM_OAUTH_CLIENT_ID", "gid"), []string{"ZOOM_OAUTH_CLIENT_SECRET, ZOOM_OAUTH_REDIRECT_URL: missing"}, nil},
		{"a General app needs CONNECTIONS_KEY", with(zoom, "ZOOM_OAUTH_CLIENT_ID", "gid", "ZOOM_OAUTH_CLIENT_SECRET", "s",
			"ZOOM_OAUTH_REDIRECT_URL", "https://t.example.com/api/connections/zoom/callback"), []string{"CONNECTIONS_KEY: is required"}, nil},
		{"the redirect URL points at the callback", with(zoom, "ZOOM_OAUTH_CLIENT_ID", "gid", "ZOOM_OAUTH_CLIENT_SECRET", "s",
			"ZOOM_OAUTH_REDIRECT_URL", "https://t.example.com/oauth", "CONNECTIONS_KEY", "k1:AAAA"), []string{"ZOOM_OAUTH_REDIRECT_URL: must point at"}, nil},
		{"DATABASE_URL is memory or sqlite", map[string]string{"DATABASE_URL": "mysql://x"}, []string{"DATABASE_URL"}, nil},
		{"DATABASE_URL may be postgres", map[string]string{"DATABASE_URL": "postgres://u:pw@db:5432/tokens?sslmode=require"}, nil, func(t *testing.T, c Config) {
			if c.DatabaseURL != "postgres://u:pw@db:5432/tokens?sslmode=require" {
				t.Errorf("DATABASE_URL = %q", c.DatabaseURL)
			}
		}},
		{"postgres needs a host", map[string]string{"DATABASE_URL": "postgres:///tokens"}, []string{"DATABASE_URL: must be memory, sqlite:PATH or postgres://"}, nil},
		{"one process by default", map[string]string{}, nil, func(t *testing.T, c Config) {
			if !c.RedisURL.Empty() || c.ClusterSize != 1 {
				t.Errorf("REDIS_URL %v, CLUSTER_SIZE %d", c.RedisURL, c.ClusterSize)
			}
		}},
		{"a cluster", map[string]string{"REDIS_URL": "rediss://:pw-0123@redis:6380/2", "CLUSTER_SIZE": "3"}, nil, func(t *testing.T, c Config) {
			if c.RedisURL.Reveal() != "rediss://:pw-0123@redis:6380/2" || c.ClusterSize != 3 {
				t.Errorf("REDIS_URL %v, CLUSTER_SIZE %d", c.RedisURL, c.ClusterSize)
			}
		}},
		{"REDIS_URL is redis://", map[string]string{"REDIS_URL": "http://:hunter22@redis:6379"}, []string{"REDIS_URL: must start with redis://"}, nil},
		{"REDIS_URL needs a host", map[string]string{"REDIS_URL": "redis://"}, []string{"REDIS_URL: needs a host"}, nil},
		{"REDIS_URL malformed", map[string]string{"REDIS_URL": "redis://:hunter22@redis:port"}, []string{"REDIS_URL: is not a valid URL"}, nil},
		{"CLUSTER_SIZE at least 1", map[string]string{"CLUSTER_SIZE": "0"}, []string{"CLUSTER_SIZE"}, nil},
		{"no trusted proxy by default", map[string]string{}, nil, func(t *testing.T, c Config) {
			if len(c.TrustedProxies) != 0 {
				t.Errorf("TRUSTED_PROXIES = %v", c.TrustedProxies)
			}
		}},
		{"trusted proxies: IPv4, IPv6, CIDRs", map[string]string{"TRUSTED_PROXIES": " 10.0.0.5, 172.18.0.0/16 ,fd00::/8, ::1, ::ffff:192.0.2.1, 10.1.2.3/8"}, nil, func(t *testing.T, c Config) {
			var list []string
			for _, p := range c.TrustedProxies {
				list = append(list, p.String())
			}
			if got := strings.Join(list, " "); got != "10.0.0.5/32 172.18.0.0/16 fd00::/8 ::1/128 192.0.2.1/32 10.0.0.0/8" {
				t.Errorf("TRUSTED_PROXIES = %s", got)
			}
		}},
		{"a trusted proxy that is not an address", map[string]string{"TRUSTED_PROXIES": "10.0.0.5, lb.internal"}, []string{"TRUSTED_PROXIES: \"lb.internal\" is not an IP address or CIDR"}, nil},
		{"a malformed CIDR", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"TRUSTED_PROXIES: \"10.0.0.0/33\""}, nil},
		{"an address with a port", map[string]string{"TRUSTED_PROXIES": "10.0.0.5:80"}, []string{"TRUSTED_PROXIES: \"10.0.0.5:80\""}, nil},
		{"an address with a zone", map[string]string{"TRUSTED_PROXIES": "fe80::1%eth0"}, []string{"TRUSTED_PROXIES: \"fe80::1%eth0\""}, nil},
		{"trusting every IPv4 address", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0"}, []string{"TRUSTED_PROXIES: \"0.0.0.0/0\" trusts every address"}, nil},
		{"trusting every IPv6 address", map[string]string{"TRUSTED_PROXIES": "10.0.0.5, ::/0"}, []string{"TRUSTED_PROXIES: \"::/0\" trusts every address"}, nil},
		{"sandbox keeps connections in memory", map[string]string{}, nil, func(t *testing.T, c Config) {
			if c.DatabaseURL != "memory" {
				t.Errorf("sandbox DATABASE_URL = %q", c.DatabaseURL)
			}
		}},
		{"bad port", map[string]string{"PORT": "http"}, []string{"PORT"}, nil},
		{"port out of range", map[string]string{"PORT": "70000"}, []string{"PORT"}, nil},
		{"bad ttl", map[string]string{"ZOOM_TOKEN_CACHE_TTL": "2h"}, []string{"ZOOM_TOKEN_CACHE_TTL"}, nil},
		{"ttl without unit", map[string]string{"ZOOM_TOKEN_CACHE_TTL": "3300"}, []string{"ZOOM_TOKEN_CACHE_TTL"}, nil},
		{"bad qps", map[string]string{"ZOOM_QPS": "0"}, []string{"ZOOM_QPS"}, nil},
		{"NaN qps", map[string]string{"ZOOM_QPS": "NaN"}, []string{"ZOOM_QPS"}, nil},
		{"bad batch max", map[string]string{"BATCH_MAX": "-1"}, []string{"BATCH_MAX"}, nil},
		{"sockets per user default", map[string]string{}, nil, func(t *testing.T, c Config) {
			if c.SocketsPerUser != 32 {
				t.Errorf("SocketsPerUser = %d, want 32", c.SocketsPerUser)
			}
		}},
		{"bad sockets per user", map[string]string{"SOCKETS_PER_USER": "0"}, []string{"SOCKETS_PER_USER: must be a whole number from 1"}, nil},
		{"sockets per user not a number", map[string]string{"SOCKETS_PER_USER": "lots"}, []string{"SOCKETS_PER_USER"}, nil},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, []string{"LOG_LEVEL"}, nil},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, []string{"LOG_FORMAT"}, nil},
		{"bad origin", map[string]string{"CORS_ORIGINS": "https://ok.example.com, not an origin"}, []string{"CORS_ORIGINS"}, nil},
		{"origin with path", map[string]string{"CORS_ORIGINS": "https://ok.example.com/app"}, []string{"CORS_ORIGINS"}, nil},
		{"origins", map[string]string{"CORS_ORIGINS": "https://a.example.com, http://localhost:5173/"}, nil, func(t *testing.T, c Config) {
			if strings.Join(c.CORSOrigins, " ") != "https://a.example.com http://localhost:5173" {
				t.Errorf("origins = %v", c.CORSOrigins)
			}
		}},
		{"plain http to Zoom refused", with(zoom, "ZOOM_OAUTH_URL", "http://zoom.example.com/oauth/token"), []string{"ZOOM_OAUTH_URL: must use https"}, nil},
		{"plain http to loopback allowed", with(zoom, "ZOOM_API_URL", "http://127.0.0.1:9999/v2"), nil, nil},
		{"bad sandbox outage", map[string]string{"SANDBOX_OUTAGE": "sometimes"}, []string{"SANDBOX_OUTAGE"}, nil},
		{"bad sandbox error rate", map[string]string{"SANDBOX_ERROR_RATE": "2"}, []string{"SANDBOX_ERROR_RATE"}, nil},
		{"every problem is reported", map[string]string{"PORT": "x", "ZOOM_QPS": "y"}, []string{"PORT", "ZOOM_QPS"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return c.env[k] })
			if len(c.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range c.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v does not contain %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "hunter22") {
				t.Fatalf("a password is in the error: %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret\"") {
				t.Fatalf("a secret is in the error: %v", err)
			}
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	env := map[string]string{"ZOOM_ACCOUNT_ID": "a", "ZOOM_CLIENT_ID": "b", "ZOOM_CLIENT_SECRET": "super-secret-value"}
	err := run(t.Context(), func(k string) string { return env[k] }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "AUTH_JWT_SECRET, AUTH_JWKS_URL, API_KEYS") {
		t.Fatalf("zoom mode without caller auth: %v", err)
	}
	if strings.Contains(err.Error(), "super-secret-value") {
		t.Fatal("the client secret is in the error")
	}
}

func TestDotenvNeverOverridesTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/.env"
	if err := writeFile(path, "PORT=4000\nHOST=127.0.0.2\n# comment\nLOG_LEVEL=debug\n"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PORT": "5000"}
	get := dotenv(func(k string) string { return env[k] }, path)
	if get("PORT") != "5000" || get("HOST") != "127.0.0.2" || get("LOG_LEVEL") != "debug" || get("NOPE") != "" {
		t.Fatalf("PORT=%q HOST=%q", get("PORT"), get("HOST"))
	}
	if g := dotenv(func(k string) string { return env[k] }, dir+"/missing"); g("PORT") != "5000" {
		t.Fatal("a missing .env broke the environment")
	}
}

// .env.example works as a .env, and documents every variable the server reads.
func TestEnvExample(t *testing.T) {
	vals, err := godotenv.Read("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	if _, err := loadConfig(func(k string) string { asked[k] = true; return vals[k] }); err != nil {
		t.Fatalf(".env.example as .env is refused: %v", err)
	}
	for k := range asked {
		if _, ok := vals[k]; !ok {
			t.Errorf("%s is read but not in .env.example", k)
		}
	}
	for k := range vals {
		if !asked[k] {
			t.Errorf(".env.example lists %s, which the server does not read", k)
		}
	}
}

// A bad keyring stops the server at start, naming CONNECTIONS_KEY and not
// echoing what was given.
func TestBadConnectionsKeyIsRefusedAtStart(t *testing.T) {
	const key = "k1:c2hvcnQta2V5LW1hdGVyaWFsLXRoYXQtbXVzdC1ub3QtbGVhaw"
	env := map[string]string{"PORT": "0", "HOST": "127.0.0.1", "API_KEYS": "key-0123456789abcdef",
		"ZOOM_OAUTH_CLIENT_ID": "gid", "ZOOM_OAUTH_CLIENT_SECRET": "gsec",
		"ZOOM_OAUTH_REDIRECT_URL": "https://t.example.com/api/connections/zoom/callback",
		"CONNECTIONS_KEY":         key, "DATABASE_URL": "memory"}
	var out strings.Builder
	err := run(t.Context(), func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "CONNECTIONS_KEY") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "c2hvcnQta2V5") || strings.Contains(out.String(), "c2hvcnQta2V5") {
		t.Fatal("the key is echoed")
	}
}
