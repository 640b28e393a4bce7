package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// wireRecorder sits between the server and the sandbox's API and records
// each request line's target exactly as the server sent it.
type wireRecorder struct {
	mu   sync.Mutex
	uris []string
}

func (w *wireRecorder) URIs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.uris...)
}

// recordWire starts the recorder in front of sb and returns env pointed at it.
func recordWire(t *testing.T, sb *sandbox.Sandbox, env map[string]string) *wireRecorder {
	t.Helper()
	rec := &wireRecorder{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.uris = append(rec.uris, r.RequestURI)
		rec.mu.Unlock()
		out, err := http.NewRequestWithContext(r.Context(), r.Method, sb.URL()+r.RequestURI, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	env["ZOOM_API_URL"] = proxy.URL + "/v2"
	return rec
}

// An email goes to Zoom with its dots as they are: RFC 3986 §2.3 says a
// producer must not escape unreserved characters, and a gateway that does not
// normalise answers 1001 for "user1@example%2Ecom". '@' is allowed in a path
// segment and url.PathEscape leaves it.
func TestEmailGoesToZoomUnescaped(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	wire := recordWire(t, sb, env)
	ts := startServer(t, sb, env)
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "user1@example.com"}, adminKey)
	if r.Status != 200 {
		t.Fatalf("join user1@example.com: %d %s", r.Status, r.Raw)
	}
	r = ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "first.last@example.com"}, adminKey)
	if r.Status != 200 {
		t.Fatalf("start first.last@example.com: %d %s", r.Status, r.Raw)
	}
	want := []string{
		"/v2/users/user1@example.com/token?meeting_id=" + meeting + "&type=onbehalf",
		"/v2/users/first.last@example.com/token?type=zak",
	}
	if got := wire.URIs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sent to Zoom:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := sb.UnexpectedPaths(); len(p) != 0 {
		t.Fatalf("unexpected paths: %v", p)
	}
}

// Code 1001 is "no such user" whatever the status: a 400 with it has been seen.
func TestUserNotFoundByCodeNotStatus(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	ts.do("GET", "/api/health", nil, nil)
	sb.FailNextWith(1, http.StatusBadRequest, 1001, "User does not exist: gone@example.com.")
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "gone@example.com"}, adminKey)
	if r.Status != 404 || r.Body["code"] != "zoom_user_not_found" {
		t.Fatalf("400 with code 1001: %d %s", r.Status, r.Raw)
	}
	sb.FailNextWith(1, http.StatusUnauthorized, 4711, "Invalid access token, does not contain scopes:[user:read:token:admin].")
	r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	if r.Status != 502 || r.Body["code"] != "zoom_rejected" || !strings.Contains(str(r.Body["error"]), "user:read:token:admin") {
		t.Fatalf("401 with code 4711: %d %s", r.Status, r.Raw)
	}
}

// A daily 429 without Zoom's headers fails fast until the next UTC midnight
// instead of being retried as a per-second one.
func TestDailyLimitWithoutHeadersFailsFast(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{DailyLimit: 1, DailyBare: true})
	ts := startServer(t, sb, zoomEnv(sb))
	join := func(user string) reply {
		return ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": user}, adminKey)
	}
	if r := join("pat@example.com"); r.Status != 200 {
		t.Fatalf("first join: %d %s", r.Status, r.Raw)
	}
	for i := 0; i < 2; i++ {
		r := join("pat@example.com")
		now := time.Now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != 503 || r.Body["code"] != "zoom_rate_limited" || ra <= 0 || ra > int(midnight.Sub(now).Seconds())+2 {
			t.Fatalf("over the daily limit (%d): %d Retry-After %q %s", i, r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}
	if n := sb.Stats().APICalls; n != 2 {
		t.Fatalf("%d calls to Zoom; want 2: the daily 429 must be neither retried nor asked again", n)
	}
	if r := join("sam@example.com"); r.Status != 200 {
		t.Fatalf("another user: %d %s", r.Status, r.Raw)
	}
}

// A wait in this server's own ZOOM_QPS queue is not "Zoom did not answer in
// time" (504): a call the queue cannot serve while leaving Zoom time to answer
// is refused at once, 503 zoom_rate_limited with Retry-After.
func TestOwnQueueIsNotReportedAsZoomTimeout(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	// One call every 9.66 s: of four at once, the fourth would wait 29 s of
	// its 30 s deadline and leave Zoom one second.
	env["ZOOM_QPS"] = "0.1035"
	ts := startServer(t, sb, env)
	if r := ts.do("GET", "/api/health", nil, nil); r.Status != 200 {
		t.Fatalf("health: %d %s", r.Status, r.Raw)
	}
	sb.SetLatency(2 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answers := make(chan reply, 4)
	api := contract(t)
	for i := range 4 {
		go func() {
			body := strings.NewReader(`{"meetingId":"` + meeting + `","participantUserId":"u` + strconv.Itoa(i) + `@example.com"}`)
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/meetings/join", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-Key", testAPIKey)
			resp, err := ts.client.Do(req)
			if err != nil {
				return // cancelled once the answer looked for has come
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				return
			}
			// Checked against the OpenAPI document here, reported by the test's goroutine.
			r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw),
				Problems: api.check(req, resp.StatusCode, resp.Header, raw)}
			_ = json.Unmarshal(raw, &r.Body)
			answers <- r
		}()
	}
	for range 4 {
		r := <-answers
		for _, p := range r.Problems {
			t.Errorf("response not in the OpenAPI document: %s", p)
		}
		if r.Status == 200 {
			continue
		}
		if r.Status != 503 || r.Body["code"] != "zoom_rate_limited" || r.Header.Get("Retry-After") == "" ||
			!strings.Contains(str(r.Body["error"]), "ZOOM_QPS") {
			t.Fatalf("a call queued behind this server's ZOOM_QPS: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
		return
	}
	t.Fatal("four calls at once at one call per 9.66 s: none was refused by the queue")
}

// Readiness follows the breaker and recent mint failures, not only the cached
// S2S token, and logs its cause once per change rather than on every probe.
func TestHealthReflectsTheBreaker(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	if r := ts.do("GET", "/api/health", nil, nil); r.Status != 200 || r.Body["breaker"] != "closed" {
		t.Fatalf("before the outage: %d %s", r.Status, r.Raw)
	}
	sb.SetOutage(sandbox.OutageAPI) // the S2S token stays cached and OAuth answers
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "u" + strconv.Itoa(i) + "@example.com"}, adminKey)
		}()
	}
	wg.Wait()
	for range 3 {
		r := ts.do("GET", "/api/health", nil, nil)
		if r.Status != 503 || r.Body["success"] != false || r.Body["status"] != "unhealthy" || r.Body["zoom"] != "disconnected" ||
			r.Body["code"] != "zoom_unavailable" || r.Body["breaker"] != "open" || str(r.Body["error"]) == "" ||
			r.Header.Get("Retry-After") == "" || field(r.Body, "lastFailure", "code") != "zoom_unavailable" {
			t.Fatalf("during the outage, breaker open: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}
	sb.SetOutage(sandbox.OutageNone)
	deadline := time.Now().Add(10 * time.Second)
	for ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "back@example.com"}, adminKey).Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("mints never recovered after the outage")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range 3 {
		if r := ts.do("GET", "/api/health", nil, nil); r.Status != 200 || r.Body["status"] != "healthy" || r.Body["breaker"] != "closed" {
			t.Fatalf("after the outage: %d %s", r.Status, r.Raw)
		}
	}
	logs := ts.Logs.String()
	if n := strings.Count(logs, "readiness is now unhealthy"); n != 1 {
		t.Errorf("%d lines say readiness turned unhealthy; want 1 per change", n)
	}
	if n := strings.Count(logs, "readiness is healthy again"); n != 1 {
		t.Errorf("%d lines say readiness is healthy again; want 1", n)
	}
	ts.assertNoSecretsLogged()
}

// A few mints in a row failing because Zoom is down make readiness unhealthy
// before the breaker opens.
func TestHealthReflectsRecentFailures(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	ts.do("GET", "/api/health", nil, nil)
	sb.SetOutage(sandbox.OutageAPI)
	for i := range 3 {
		if r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey); r.Status != 503 {
			t.Fatalf("mint %d during the outage: %d %s", i, r.Status, r.Raw)
		}
	}
	r := ts.do("GET", "/api/health", nil, nil)
	if r.Status != 503 || r.Body["code"] != "zoom_unavailable" || r.Body["breaker"] != "closed" || r.Body["recentFailures"] != float64(3) {
		t.Fatalf("after 3 failed mints: %d %s", r.Status, r.Raw)
	}
}
