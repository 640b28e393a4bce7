package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// fakeMeetings is a Meetings whose behaviour each test sets.
type fakeMeetings struct {
	start func(services.StartInput) (services.Minted, error)
	join  func(services.JoinInput) (services.Minted, error)
}

func (f fakeMeetings) Start(_ context.Context, _ services.Identity, in services.StartInput) (services.Minted, error) {
	return f.start(in)
}
func (f fakeMeetings) Join(_ context.Context, _ services.Identity, in services.JoinInput) (services.Minted, error) {
	return f.join(in)
}
func (fakeMeetings) Batch(context.Context, services.Identity, services.BatchInput) (services.BatchResult, error) {
	return services.BatchResult{}, errors.New("not used")
}
func (fakeMeetings) Distribute(context.Context, services.Identity, services.DistributeInput) (services.BatchResult, error) {
	return services.BatchResult{}, nil
}
func (fakeMeetings) BatchMax() int { return 500 }
func (fakeMeetings) Signature(context.Context, services.Identity, sdk.MeetingRequest) (string, string, error) {
	return "", "", nil
}
func (fakeMeetings) VideoSignature(context.Context, services.Identity, sdk.VideoRequest) (string, error) {
	return "", nil
}
func (fakeMeetings) Setup(context.Context, services.Identity, services.SetupInput) (services.SetupResult, error) {
	return services.SetupResult{}, errors.New("not used")
}

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, cred string) (services.Identity, error) {
	if cred != "good" {
		return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Message: "Bad credentials."}
	}
	return services.Identity{Subject: "a@example.com", Role: services.RoleAdmin, Method: "jwt"}, nil
}

type fakeChecker struct{ err error }

func (f fakeChecker) Check(context.Context) error { return f.err }

func TestErrorMapping(t *testing.T) {
	var logs bytes.Buffer
	cases := []struct {
		name   string
		err    error
		panics bool
		status int
		code   string
		retry  string
	}{
		{"a bug says nothing", errors.New("db password hunter2 at 10.0.0.1"), false, 500, "internal", ""},
		{"a panic says nothing", nil, true, 500, "internal", ""},
		{"timeout is 504", &apperr.Error{Kind: apperr.ErrZoomTimeout, Message: "Zoom did not answer in time."}, false, 504, "zoom_unavailable", ""},
		{"unavailable is 503", &apperr.Error{Kind: apperr.ErrZoomUnavailable, Message: "Zoom is down.", RetryAfter: 1500 * time.Millisecond}, false, 503, "zoom_unavailable", "2"},
		{"daily quota", &apperr.Error{Kind: apperr.ErrZoomRateLimited, Message: "Spent.", RetryAfter: time.Hour}, false, 503, "zoom_rate_limited", "3600"},
		{"rejected is 502", &apperr.Error{Kind: apperr.ErrZoomRejected, Message: "Scope.", Hint: "Add it."}, false, 502, "zoom_rejected", ""},
		{"not found", &apperr.Error{Kind: apperr.ErrUserNotFound, Message: "No such user."}, false, 404, "zoom_user_not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs.Reset()
			m := fakeMeetings{join: func(services.JoinInput) (services.Minted, error) {
				if c.panics {
					panic("secret-panic-value")
				}
				return services.Minted{}, c.err
			}}
			h := New(Deps{Domain: m, Auth: fakeAuth{}, Zoom: fakeChecker{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			req := httptest.NewRequest("POST", "/api/meetings/join", strings.NewReader(`{"meetingId":"123456789","participantUserId":"a@example.com"}`))
			req.Header.Set("Authorization", "Bearer good")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.status || body["code"] != c.code || body["success"] != false {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if rec.Header().Get("Retry-After") != c.retry {
				t.Errorf("Retry-After = %q, want %q", rec.Header().Get("Retry-After"), c.retry)
			}
			if c.status == 500 {
				if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "secret-panic") {
					t.Fatalf("a 500 body says something internal: %s", rec.Body)
				}
				if !strings.Contains(logs.String(), "hunter2") && !strings.Contains(logs.String(), "secret-panic") {
					t.Fatalf("the cause was not logged: %s", logs.String())
				}
			}
		})
	}
}

func TestHealth(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   string
		err    error
		status int
		zoom   string
	}{
		{"zoom connected", "zoom", nil, 200, "connected"},
		{"sandbox", "sandbox", nil, 200, "sandbox"},
		{"down", "zoom", &apperr.Error{Kind: apperr.ErrZoomAuth, Message: "Refused."}, 503, "disconnected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := New(Deps{Domain: fakeMeetings{}, Auth: fakeAuth{}, Zoom: fakeChecker{err: c.err}, Info: Info{Mode: c.mode}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.status || body["zoom"] != c.zoom {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if c.err != nil && (body["status"] != "unhealthy" || body["code"] != "zoom_auth_failed" || body["error"] != "Refused.") {
				t.Fatalf("unhealthy body = %s", rec.Body)
			}
			head := httptest.NewRecorder()
			h.ServeHTTP(head, httptest.NewRequest("HEAD", "/api/health", nil))
			if head.Code != c.status {
				t.Fatalf("HEAD /api/health = %d, want %d", head.Code, c.status)
			}
			if c.mode == "sandbox" && !strings.Contains(rec.Body.String(), "NOT real") {
				t.Fatalf("sandbox health does not warn: %s", rec.Body)
			}
		})
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	h := New(Deps{Domain: fakeMeetings{}, Auth: fakeAuth{}, Zoom: fakeChecker{}, CORSOrigins: []string{"https://app.example.com"}})
	pre := httptest.NewRequest("OPTIONS", "/api/meetings/join", nil)
	pre.Header.Set("Origin", "https://app.example.com")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code >= 300 || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight from an allowed origin: %d %v", rec.Code, rec.Header())
	}
	bad := httptest.NewRequest("GET", "/api/health", nil)
	bad.Header.Set("Origin", "https://evil.example.com")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, bad)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if rec.Header().Get(k) != v {
			t.Errorf("%s = %q", k, rec.Header().Get(k))
		}
	}
}

type fakeHealth struct{ st zoom.HealthState }

func (f fakeHealth) Check(context.Context) error             { return f.st.Err }
func (f fakeHealth) Health(context.Context) zoom.HealthState { return f.st }

func TestHealthShowsTheBreaker(t *testing.T) {
	open := zoom.HealthState{Breaker: "open", RetryAfter: 4200 * time.Millisecond, FailStreak: 8,
		Err: &apperr.Error{Kind: apperr.ErrZoomUnavailable, Message: "Zoom failed.", RetryAfter: 4200 * time.Millisecond}}
	for _, c := range []struct {
		name   string
		st     zoom.HealthState
		status int
		want   map[string]any
		retry  string
	}{
		{"closed", zoom.HealthState{Breaker: "closed"}, 200, map[string]any{"success": true, "status": "healthy", "zoom": "connected", "breaker": "closed"}, ""},
		{"open", open, 503, map[string]any{"success": false, "status": "unhealthy", "zoom": "disconnected", "breaker": "open",
			"code": "zoom_unavailable", "error": "Zoom failed.", "recentFailures": float64(8)}, "5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := New(Deps{Domain: fakeMeetings{}, Auth: fakeAuth{}, Zoom: fakeHealth{c.st}, Info: Info{Mode: "zoom"},
				Logger: slog.New(slog.DiscardHandler)})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.status || rec.Header().Get("Retry-After") != c.retry {
				t.Fatalf("%d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			for k, v := range c.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
		})
	}
}
