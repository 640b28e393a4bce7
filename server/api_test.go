package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

func TestEndpointsSuccessShapes(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))

	t.Run("index", func(t *testing.T) {
		r := ts.do("GET", "/", nil, nil)
		if r.Status != 200 || r.Body["mode"] != "zoom" || r.Body["name"] == nil || r.Body["endpoints"] == nil || r.Body["socketEvents"] == nil {
			t.Fatalf("GET / = %d %s", r.Status, r.Raw)
		}
	})
	t.Run("health", func(t *testing.T) {
		r := ts.do("GET", "/api/health", nil, nil)
		if r.Status != 200 || r.Body["success"] != true || r.Body["status"] != "healthy" || r.Body["zoom"] != "connected" {
			t.Fatalf("health = %d %s", r.Status, r.Raw)
		}
	})
	t.Run("start", func(t *testing.T) {
		r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com"},
			bearer(t, "host@example.com", "host"))
		if r.Status != 200 {
			t.Fatalf("start = %d %s", r.Status, r.Raw)
		}
		for _, k := range []string{"success", "meetingId", "zakToken", "expiresIn", "expiresInSeconds", "expiresAt", "message"} {
			if _, ok := r.Body[k]; !ok {
				t.Errorf("start response lacks %q: %s", k, r.Raw)
			}
		}
		if r.Body["meetingId"] != meeting || r.Body["expiresIn"] != "2 hours" || r.Body["expiresInSeconds"] != float64(7200) {
			t.Errorf("start fields wrong: %s", r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
		exp, err := time.Parse(time.RFC3339, str(r.Body["expiresAt"]))
		if err != nil || time.Until(exp) < 7190*time.Second || time.Until(exp) > 7210*time.Second {
			t.Errorf("expiresAt = %v (%v)", r.Body["expiresAt"], err)
		}
		if n := strings.Count(str(r.Body["zakToken"]), "."); n != 2 {
			t.Errorf("zakToken is not token-shaped")
		}
	})
	t.Run("start with ttl, meetingId as a number", func(t *testing.T) {
		r := ts.do("POST", "/api/meetings/start", `{"meetingId": 85746065432, "hostUserId": "sandboxHostUser0000001", "ttl": 600}`, adminKey)
		if r.Status != 200 || r.Body["expiresInSeconds"] != float64(600) || r.Body["expiresIn"] != "10 minutes" {
			t.Fatalf("start ttl = %d %s", r.Status, r.Raw)
		}
		if !strings.Contains(r.Raw, `"meetingId":85746065432`) {
			t.Errorf("meetingId not echoed as a number: %s", r.Raw)
		}
	})
	t.Run("join", func(t *testing.T) {
		r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"},
			bearer(t, "pat@example.com", ""))
		if r.Status != 200 || r.Body["obfToken"] == nil || r.Body["expiresIn"] != "2 hours" || r.Body["meetingId"] != meeting {
			t.Fatalf("join = %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
	})
	t.Run("two joins mint two distinct OBF tokens", func(t *testing.T) {
		body := map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}
		a := ts.do("POST", "/api/meetings/join", body, adminKey)
		b := ts.do("POST", "/api/meetings/join", body, adminKey)
		if a.Body["obfToken"] == nil || a.Body["obfToken"] == b.Body["obfToken"] {
			t.Fatal("OBF tokens are shared between calls; each must be minted anew")
		}
	})
	t.Run("batch-join", func(t *testing.T) {
		before := sb.Stats().Minted
		r := ts.do("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting,
			"participantUserIds": []string{"a@example.com", "b@example.com", "A@Example.com", "nobody-here", "a@example.com"}},
			bearer(t, "host@example.com", "host"))
		if r.Status != 200 || r.Body["success"] != true {
			t.Fatalf("batch = %d %s", r.Status, r.Raw)
		}
		ok := field(r.Body, "results", "successful").([]any)
		failed := field(r.Body, "results", "failed").([]any)
		if len(ok) != 2 || len(failed) != 1 {
			t.Fatalf("batch results: %d ok, %d failed: %s", len(ok), len(failed), r.Raw)
		}
		if got := sb.Stats().Minted - before; got != 2 {
			t.Errorf("duplicates minted again: %d mints for 2 distinct known users", got)
		}
		first := ok[0].(map[string]any)
		if first["userId"] != "a@example.com" || first["obfToken"] == nil || first["expiresAt"] == nil {
			t.Errorf("successful[0] = %v", first)
		}
		f := failed[0].(map[string]any)
		if f["userId"] != "nobody-here" || f["code"] != "zoom_user_not_found" || f["error"] == "" {
			t.Errorf("failed[0] = %v", f)
		}
		sum := r.Body["summary"].(map[string]any)
		if sum["total"] != float64(3) || sum["successful"] != float64(2) || sum["failed"] != float64(1) {
			t.Errorf("summary = %v", sum)
		}
	})
	t.Run("setup", func(t *testing.T) {
		r := ts.do("POST", "/api/meetings/setup", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com",
			"participantUserIds": []string{"a@example.com", "b@example.com"}}, bearer(t, "host@example.com", "host"))
		if r.Status != 200 || field(r.Body, "host", "zakToken") == nil || field(r.Body, "host", "userId") != "host@example.com" ||
			len(r.Body["participants"].([]any)) != 2 || len(r.Body["failed"].([]any)) != 0 || r.Body["timestamp"] == nil {
			t.Fatalf("setup = %d %s", r.Status, r.Raw)
		}
	})
	t.Run("setup without participants", func(t *testing.T) {
		r := ts.do("POST", "/api/meetings/setup", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com"}, adminKey)
		if r.Status != 200 || len(r.Body["participants"].([]any)) != 0 {
			t.Fatalf("setup = %d %s", r.Status, r.Raw)
		}
	})
	ts.assertNoSecretsLogged()
}

func TestAuthorizationTable(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	host := bearer(t, "host@example.com", "host")
	part := bearer(t, "pat@example.com", "participant")
	noRole := bearer(t, "pat@example.com", "")
	admin := bearer(t, "boss@example.com", "admin")
	start := func(h string) map[string]any { return map[string]any{"meetingId": meeting, "hostUserId": h} }
	join := func(p string) map[string]any { return map[string]any{"meetingId": meeting, "participantUserId": p} }
	batch := map[string]any{"meetingId": meeting, "participantUserIds": []string{"a@example.com"}}
	setup := func(h string) map[string]any { return map[string]any{"meetingId": meeting, "hostUserId": h} }
	cases := []struct {
		name    string
		path    string
		body    map[string]any
		headers map[string]string
		want    int
	}{
		{"admin starts for anyone", "start", start("other@example.com"), admin, 200},
		{"api key starts for anyone", "start", start("other@example.com"), adminKey, 200},
		{"api key as bearer", "start", start("other@example.com"), map[string]string{"Authorization": "Bearer " + testAPIKey}, 200},
		{"host starts as itself", "start", start("host@example.com"), host, 200},
		{"host starts as itself, other case", "start", start("HOST@example.com"), host, 200},
		{"host cannot start for another", "start", start("other@example.com"), host, 403},
		{"participant cannot get a ZAK", "start", start("pat@example.com"), part, 403},
		{"no role means participant", "start", start("pat@example.com"), noRole, 403},
		{"participant joins as itself", "join", join("pat@example.com"), part, 200},
		{"participant cannot get another's OBF", "join", join("other@example.com"), part, 403},
		{"host cannot get another's OBF", "join", join("other@example.com"), host, 403},
		{"admin joins anyone", "join", join("other@example.com"), admin, 200},
		{"host batches", "batch-join", batch, host, 200},
		{"participant cannot batch", "batch-join", batch, part, 403},
		{"admin sets up for anyone", "setup", setup("other@example.com"), admin, 200},
		{"host sets up its own", "setup", setup("host@example.com"), host, 200},
		{"host cannot set up another's", "setup", setup("other@example.com"), host, 403},
		{"participant cannot set up", "setup", setup("pat@example.com"), part, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("POST", "/api/meetings/"+c.path, c.body, c.headers)
			if r.Status != c.want {
				t.Fatalf("status = %d, want %d: %s", r.Status, c.want, r.Raw)
			}
			if c.want == 403 && (r.Body["code"] != "forbidden" || r.Body["zakToken"] != nil || r.Body["obfToken"] != nil) {
				t.Fatalf("forbidden body = %s", r.Raw)
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["BATCH_MAX"] = "3"
	ts := startServer(t, sb, env)
	expired := map[string]string{"Authorization": "Bearer " + signJWT(t, testJWTSecret, jwt.MapClaims{"sub": "a@example.com", "exp": time.Now().Add(-time.Hour).Unix()})}
	noExp := map[string]string{"Authorization": "Bearer " + signJWT(t, testJWTSecret, jwt.MapClaims{"sub": "a@example.com"})}
	wrongKey := map[string]string{"Authorization": "Bearer " + signJWT(t, "another-secret-0123456789abcdef0123456789", jwt.MapClaims{"sub": "a@example.com", "exp": time.Now().Add(time.Hour).Unix()})}
	badRole := map[string]string{"Authorization": "Bearer " + signJWT(t, testJWTSecret, jwt.MapClaims{"sub": "a@example.com", "role": "root", "exp": time.Now().Add(time.Hour).Unix()})}
	noneAlg := map[string]string{"Authorization": "Bearer " + func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "a@example.com", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()}
	okStart := map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers map[string]string
		status  int
		code    string
		detail  string // a field named in details
	}{
		{"bad JSON", "POST", "/api/meetings/start", `{"meetingId": `, adminKey, 400, "invalid_request", "body"},
		{"JSON array", "POST", "/api/meetings/start", `[1,2]`, adminKey, 400, "invalid_request", "body"},
		{"empty body", "POST", "/api/meetings/start", ``, adminKey, 400, "invalid_request", "body"},
		{"two objects", "POST", "/api/meetings/start", `{"meetingId":"123456789","hostUserId":"a@example.com"}{}`, adminKey, 400, "invalid_request", "body"},
		{"missing fields", "POST", "/api/meetings/start", map[string]any{}, adminKey, 400, "invalid_request", "hostUserId"},
		{"short meeting id", "POST", "/api/meetings/start", map[string]any{"meetingId": "1234", "hostUserId": "a@example.com"}, adminKey, 400, "invalid_request", "meetingId"},
		{"meeting id with letters", "POST", "/api/meetings/join", map[string]any{"meetingId": "12345678a", "participantUserId": "a@example.com"}, adminKey, 400, "invalid_request", "meetingId"},
		{"meeting id float", "POST", "/api/meetings/join", `{"meetingId": 1.5e10, "participantUserId": "a@example.com"}`, adminKey, 400, "invalid_request", "meetingId"},
		{"meeting id object", "POST", "/api/meetings/join", `{"meetingId": {}, "participantUserId": "a@example.com"}`, adminKey, 400, "invalid_request", "meetingId"},
		{"user id a number", "POST", "/api/meetings/join", `{"meetingId": "123456789", "participantUserId": 5}`, adminKey, 400, "invalid_request", "participantUserId"},
		{"user id too long", "POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": strings.Repeat("a", 129)}, adminKey, 400, "invalid_request", "participantUserId"},
		{"user id control char", "POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "a\nb"}, adminKey, 400, "invalid_request", "participantUserId"},
		{"user id dot-dot", "POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": ".."}, adminKey, 400, "invalid_request", "participantUserId"},
		{"ttl negative", "POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com", "ttl": -1}, adminKey, 400, "invalid_request", "ttl"},
		{"ttl over a year", "POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com", "ttl": 31536001}, adminKey, 400, "invalid_request", "ttl"},
		{"batch not an array", "POST", "/api/meetings/batch-join", `{"meetingId":"123456789","participantUserIds":"a@example.com"}`, adminKey, 400, "invalid_request", "participantUserIds"},
		{"batch empty", "POST", "/api/meetings/batch-join", `{"meetingId":"123456789","participantUserIds":[]}`, adminKey, 400, "invalid_request", "participantUserIds"},
		{"batch bad element", "POST", "/api/meetings/batch-join", `{"meetingId":"123456789","participantUserIds":["a@example.com", 7]}`, adminKey, 400, "invalid_request", "participantUserIds[1]"},
		{"no credentials", "POST", "/api/meetings/start", okStart, nil, 401, "unauthorized", ""},
		{"basic auth", "POST", "/api/meetings/start", okStart, map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, 401, "unauthorized", ""},
		{"unknown API key", "POST", "/api/meetings/start", okStart, map[string]string{"X-API-Key": "not-a-key-0123456789"}, 401, "unauthorized", ""},
		{"expired JWT", "POST", "/api/meetings/start", okStart, expired, 401, "unauthorized", ""},
		{"JWT without exp", "POST", "/api/meetings/start", okStart, noExp, 401, "unauthorized", ""},
		{"JWT other secret", "POST", "/api/meetings/start", okStart, wrongKey, 401, "unauthorized", ""},
		{"JWT alg none", "POST", "/api/meetings/start", okStart, noneAlg, 401, "unauthorized", ""},
		{"JWT unknown role", "POST", "/api/meetings/start", okStart, badRole, 401, "unauthorized", ""},
		{"forbidden", "POST", "/api/meetings/start", okStart, bearer(t, "b@example.com", "host"), 403, "forbidden", ""},
		{"unknown route", "GET", "/api/nope", nil, nil, 404, "not_found", ""},
		{"wrong method", "GET", "/api/meetings/start", nil, adminKey, 405, "method_not_allowed", ""},
		{"unknown zoom user", "POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "ghost-user-id"}, adminKey, 404, "zoom_user_not_found", ""},
		{"body too large", "POST", "/api/meetings/start", `{"meetingId":"123456789","hostUserId":"` + strings.Repeat("a", 2<<20) + `"}`, adminKey, 413, "payload_too_large", ""},
		{"batch over BATCH_MAX", "POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}}, adminKey, 413, "payload_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(c.method, c.path, c.body, c.headers)
			if r.Status != c.status || r.Body["code"] != c.code || r.Body["success"] != false {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, c.status, c.code)
			}
			if msg, _ := r.Body["error"].(string); len(msg) < 10 {
				t.Errorf("error sentence missing: %s", r.Raw)
			}
			if c.detail != "" && !strings.Contains(fmt.Sprint(r.Body["details"]), "field:"+c.detail+" ") {
				t.Errorf("details do not name %q: %s", c.detail, r.Raw)
			}
			if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	ts.assertNoSecretsLogged()
}

func TestCallerRateLimit(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["CALLER_RPS"], env["CALLER_BURST"] = "1", "3"
	ts := startServer(t, sb, env)
	body := map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}
	pat := bearer(t, "pat@example.com", "")
	var limited reply
	for i := 0; i < 10; i++ {
		if r := ts.do("POST", "/api/meetings/join", body, pat); r.Status == 429 {
			limited = r
			break
		}
	}
	if limited.Status != 429 || limited.Body["code"] != "rate_limited" || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("caller was never limited: %+v", limited)
	}
	// Another caller is not affected.
	if r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "x@example.com"}, bearer(t, "x@example.com", "")); r.Status != 200 {
		t.Fatalf("a second caller was limited too: %d %s", r.Status, r.Raw)
	}
}

func TestZoomFailuresMapToCodes(t *testing.T) {
	t.Run("missing scope is zoom_rejected with a hint", func(t *testing.T) {
		sb := newSandbox(t, sandbox.Options{Scopes: "meeting:read:admin"})
		ts := startServer(t, sb, zoomEnv(sb))
		r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}, adminKey)
		if r.Status != 502 || r.Body["code"] != "zoom_rejected" || !strings.Contains(str(r.Body["error"]), "user:read:token:admin") {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	for _, c := range []struct {
		name  string
		setup func(*sandbox.Sandbox, map[string]string)
		hint  string
	}{
		{"invalid_client", func(_ *sandbox.Sandbox, env map[string]string) { env["ZOOM_CLIENT_SECRET"] = "wrong-secret" }, "ZOOM_CLIENT_SECRET"},
		{"general app", func(sb *sandbox.Sandbox, _ map[string]string) { sb.SetGeneralApp(true) }, "Server-to-Server OAuth app"},
		{"wrong account", func(_ *sandbox.Sandbox, env map[string]string) { env["ZOOM_ACCOUNT_ID"] = "not-the-account" }, "ZOOM_ACCOUNT_ID"},
		{"not activated", func(sb *sandbox.Sandbox, _ map[string]string) { sb.SetNotActivated(true) }, "Activate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := newSandbox(t, sandbox.Options{})
			env := zoomEnv(sb)
			c.setup(sb, env)
			ts := startServer(t, sb, env)
			r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}, adminKey)
			if r.Status != 503 || r.Body["code"] != "zoom_auth_failed" || !strings.Contains(str(r.Body["error"]), c.hint) {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			h := ts.do("GET", "/api/health", nil, nil)
			if h.Status != 503 || h.Body["status"] != "unhealthy" || h.Body["zoom"] != "disconnected" || h.Body["error"] == nil {
				t.Fatalf("health = %d %s", h.Status, h.Raw)
			}
			ts.assertNoSecretsLogged(env["ZOOM_CLIENT_SECRET"])
		})
	}
	t.Run("daily limit is zoom_rate_limited with Retry-After", func(t *testing.T) {
		sb := newSandbox(t, sandbox.Options{DailyLimit: 1})
		ts := startServer(t, sb, zoomEnv(sb))
		body := map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}
		if r := ts.do("POST", "/api/meetings/start", body, adminKey); r.Status != 200 {
			t.Fatalf("first = %d %s", r.Status, r.Raw)
		}
		calls := sb.Stats().APICalls
		for i := 0; i < 2; i++ {
			r := ts.do("POST", "/api/meetings/start", body, adminKey)
			if r.Status != 503 || r.Body["code"] != "zoom_rate_limited" {
				t.Fatalf("over daily limit = %d %s", r.Status, r.Raw)
			}
			now := time.Now().UTC()
			untilMidnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
			var ra int
			fmt.Sscan(r.Header.Get("Retry-After"), &ra)
			if d := time.Duration(ra) * time.Second; d < untilMidnight-5*time.Second || d > untilMidnight+5*time.Second {
				t.Errorf("Retry-After = %q, want about %v", r.Header.Get("Retry-After"), untilMidnight)
			}
		}
		if got := sb.Stats().APICalls - calls; got != 1 {
			t.Errorf("after a daily 429 the server asked Zoom %d more times; it must fail fast", got-1)
		}
	})
	t.Run("outage is zoom_unavailable", func(t *testing.T) {
		sb := newSandbox(t, sandbox.Options{Outage: sandbox.OutageAll})
		env := zoomEnv(sb)
		ts := startServer(t, sb, env)
		r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}, adminKey)
		if r.Status != 503 || r.Body["code"] != "zoom_unavailable" || r.Body["error"] == nil {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	t.Run("unreachable zoom is zoom_unavailable", func(t *testing.T) {
		sb := newSandbox(t, sandbox.Options{})
		env := zoomEnv(sb)
		env["ZOOM_OAUTH_URL"] = "http://127.0.0.1:1/oauth/token"
		ts := startServer(t, sb, env)
		r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "a@example.com"}, adminKey)
		if r.Status != 503 || r.Body["code"] != "zoom_unavailable" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
}

// A user id must never reach another Zoom route, however it is spelled: ids
// are checked against an allow-list before any URL is built, and the ones
// that pass go to Zoom with their dots as they are.
func TestUserIDsStayInTheirPathSegment(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	for _, id := range []string{"../../accounts/x", "a/b", "../token", "a?type=zak", "a#frag", "%2e%2e", "..%2F..%2Fusers",
		"x/../../../v2/accounts", ". ", ".", "..", "me", "a\\b", "a;b", "a b", "kate@example.com/../../x"} {
		r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": id}, adminKey)
		if r.Status != 400 || r.Body["code"] != "invalid_request" {
			t.Errorf("id %q: %d %s", id, r.Status, r.Raw)
		}
	}
	if n := sb.Stats().APICalls; n != 0 {
		t.Fatalf("%d refused ids reached the sandbox", n)
	}
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "first.last@example.com"}, adminKey)
	if r.Status != 200 {
		t.Fatalf("an email with dots: %d %s", r.Status, r.Raw)
	}
	if p := sb.UnexpectedPaths(); len(p) != 0 {
		t.Fatalf("user ids reached other Zoom routes: %v", p)
	}
}

func TestColdCacheHerdMakesOneTokenRequest(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Latency: 50 * time.Millisecond})
	ts := startServer(t, sb, zoomEnv(sb))
	const n = 1000
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r, err := ts.try("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": fmt.Sprintf("u%d@example.com", i)}, adminKey)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			statuses[i] = r.Status
		}(i)
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	// Counted as tokens issued for this sandbox's credentials: a request
	// from a server of an earlier test, still retrying towards a port the
	// OS has since given this sandbox, does not count.
	if got := sb.Stats().TokensIssued; got != 1 {
		var zoomLines []string
		for _, l := range strings.Split(ts.Logs.String(), "\n") {
			if strings.Contains(l, "zoom:") {
				zoomLines = append(zoomLines, l)
			}
		}
		t.Fatalf("%d concurrent requests on a cold cache made %d token requests, want 1; the client said:\n%s", n, got, strings.Join(zoomLines, "\n"))
	}
	if got := sb.Stats().Minted; got != n {
		t.Fatalf("minted %d, want %d", got, n)
	}
}

func TestRevokedAccessTokenIsRecovered(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	body := map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}
	if r := ts.do("POST", "/api/meetings/join", body, adminKey); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	sb.RevokeAll()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := ts.do("POST", "/api/meetings/join", body, adminKey); r.Status != 200 {
				t.Errorf("after revocation: %d %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	st := sb.Stats()
	if st.TokensIssued != 2 {
		t.Errorf("tokens issued = %d, want 2 (one at start, one after the revocation)", st.TokensIssued)
	}
	if st.Unauthorized == 0 {
		t.Error("the sandbox never refused the revoked token; the test proves nothing")
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	ts.do("GET", "/api/health", nil, nil) // warm the S2S cache
	sb.SetLatency(700 * time.Millisecond)
	got := make(chan reply, 1)
	go func() {
		got <- ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	}()
	time.Sleep(200 * time.Millisecond) // the request is now waiting on Zoom
	ts.stop()
	r := <-got
	if r.Status != 200 || r.Body["obfToken"] == nil {
		t.Fatalf("in-flight request = %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(ts.Logs.String(), `"msg":"stopped"`) {
		t.Error("no stopped log line")
	}
	if _, err := http.Get(ts.URL + "/api/live"); err == nil {
		t.Error("server still serves after shutdown")
	}
}
