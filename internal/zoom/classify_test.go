package zoom

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Every answer of the user-token endpoint that docs/ZOOM.md describes, and
// what the client does with it.
func TestClassifyUserTokenAnswers(t *testing.T) {
	now := time.Date(2026, 5, 30, 18, 0, 0, 0, time.UTC)
	midnight := time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)
	user, _ := ParseUserID("a@example.com")
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name    string
		status  int
		body    string
		hdr     http.Header
		verdict verdict
		kind    error // nil: accepted
		code    int   // ZoomCode of the error
		outcome string
		until   time.Time
		perUser bool
	}{
		{"token", 200, `{"token":"abc"}`, nil, accept, nil, 0, "ok", time.Time{}, false},
		{"200 without a token", 200, `{}`, nil, stop, apperr.ErrZoomUnavailable, 0, "ok", time.Time{}, false},
		{"124 invalid access token", 401, `{"code":124,"message":"Invalid access token."}`, nil, reauth, apperr.ErrZoomAuth, 124, "zoom_124", time.Time{}, false},
		{"401 without a code", 401, ``, nil, reauth, apperr.ErrZoomAuth, 0, "http_401", time.Time{}, false},
		{"124 whatever the status", 400, `{"code":124,"message":"Invalid access token."}`, nil, reauth, apperr.ErrZoomAuth, 124, "zoom_124", time.Time{}, false},
		{"4711 missing scope", 400, `{"code":4711,"message":"Invalid access token, does not contain scopes:[user:read:token:admin]."}`, nil, stop, apperr.ErrZoomRejected, 4711, "zoom_4711", time.Time{}, false},
		{"4711 as a 401", 401, `{"code":4711,"message":"Invalid access token, does not contain scopes:[x]."}`, nil, stop, apperr.ErrZoomRejected, 4711, "zoom_4711", time.Time{}, false},
		{"4700 older scope code", 400, `{"code":4700,"message":"Invalid access token, does not contain scopes."}`, nil, stop, apperr.ErrZoomRejected, 4700, "zoom_4700", time.Time{}, false},
		{"1001 no such user", 404, `{"code":1001,"message":"User does not exist: a@example.com."}`, nil, stop, apperr.ErrUserNotFound, 1001, "zoom_1001", time.Time{}, false},
		{"1001 in a 400", 400, `{"code":1001,"message":"User does not exist: a@example.com."}`, nil, stop, apperr.ErrUserNotFound, 1001, "zoom_1001", time.Time{}, false},
		{"300 validation", 400, `{"code":300,"message":"Validation Failed.","errors":[{"field":"ttl","message":"Invalid field."}]}`, nil, stop, apperr.ErrInvalidInput, 300, "zoom_300", time.Time{}, false},
		{"429 per second", 429, `{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}`, hdr("X-RateLimit-Type", "QPS"), retrySlow, apperr.ErrZoomRateLimited, 429, "zoom_429", time.Time{}, false},
		{"429 daily with Zoom's headers", 429, `{"code":429,"message":"You have reached the maximum daily rate limit for this API."}`,
			hdr("X-RateLimit-Type", "Daily-limit", "Retry-After", "2026-05-31T00:00:00Z"), stopDaily, apperr.ErrZoomRateLimited, 429, "zoom_429", midnight, false},
		{"429 daily without headers, one user's", 429, `{"code":429,"message":"You have exceeded the daily rate limit (100) of Get a user's token API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}`,
			nil, stopDaily, apperr.ErrZoomRateLimited, 429, "zoom_429", midnight, true},
		{"429 daily, Retry-After in seconds", 429, `{"code":429,"message":"daily limit"}`, hdr("Retry-After", "3600"), stopDaily, apperr.ErrZoomRateLimited, 429, "zoom_429", now.Add(time.Hour), false},
		{"500", 500, `{"code":500,"message":"Internal Server Error"}`, nil, retry, apperr.ErrZoomUnavailable, 0, "zoom_500", time.Time{}, false},
		{"503 without a body", 503, ``, nil, retry, apperr.ErrZoomUnavailable, 0, "http_503", time.Time{}, false},
		{"another refusal", 403, `{"code":200,"message":"No permission."}`, nil, stop, apperr.ErrZoomRejected, 200, "zoom_200", time.Time{}, false},
		{"not JSON", 418, `<html>teapot</html>`, nil, stop, apperr.ErrZoomRejected, 0, "http_418", time.Time{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.hdr
			if h == nil {
				h = http.Header{}
			}
			a := classify("mint", user, c.status, []byte(c.body), h, now)
			if a.verdict != c.verdict || a.outcome != c.outcome {
				t.Fatalf("verdict %d outcome %q, want %d %q", a.verdict, a.outcome, c.verdict, c.outcome)
			}
			if c.kind == nil {
				if a.err != nil || a.token != "abc" {
					t.Fatalf("err %v token %q", a.err, a.token)
				}
				return
			}
			var e *apperr.Error
			if !errors.Is(a.err, c.kind) || !errors.As(a.err, &e) || e.ZoomCode != c.code || e.Message == "" {
				t.Fatalf("err %v, want kind %v code %d", a.err, c.kind, c.code)
			}
			if !a.until.Equal(c.until) || a.perUser != c.perUser {
				t.Fatalf("until %s perUser %v, want %s %v", a.until, a.perUser, c.until, c.perUser)
			}
		})
	}
}

// Every answer of the OAuth token endpoint to an account_credentials request.
func TestClassifyOAuthAnswers(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		verdict verdict
		kind    error
		hint    string
		outcome string
	}{
		{"token", 200, `{"access_token":"at","token_type":"bearer","expires_in":3600,"scope":"user:read:token:admin"}`, accept, nil, "", "ok"},
		{"no expires_in", 200, `{"access_token":"at"}`, stop, apperr.ErrZoomUnavailable, "", "ok"},
		{"invalid_client", 400, `{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`, stop, apperr.ErrZoomAuth, "ZOOM_CLIENT_ID", "oauth_invalid_client"},
		{"wrong account id", 400, `{"reason":"Bad Request","error":"invalid_request"}`, stop, apperr.ErrZoomAuth, "ZOOM_ACCOUNT_ID", "oauth_invalid_request"},
		{"not activated", 400, `{"reason":"The app is not activated","error":"invalid_request"}`, stop, apperr.ErrZoomAuth, "Activate", "oauth_invalid_request"},
		{"a General app", 400, `{"reason":"unsupported grant type","error":"unsupported_grant_type"}`, stop, apperr.ErrZoomAuth, "General app", "oauth_unsupported_grant_type"},
		{"429", 429, ``, retry, apperr.ErrZoomRateLimited, "", "http_429"},
		{"503", 503, `{"reason":"Service Unavailable","error":"server_error"}`, retry, apperr.ErrZoomUnavailable, "", "http_503"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := classifyOAuth("token", c.status, []byte(c.body))
			if a.verdict != c.verdict || a.outcome != c.outcome {
				t.Fatalf("verdict %d outcome %q, want %d %q", a.verdict, a.outcome, c.verdict, c.outcome)
			}
			if c.kind == nil {
				if a.err != nil {
					t.Fatal(a.err)
				}
				return
			}
			e, ok := apperr.As(a.err)
			if !errors.Is(a.err, c.kind) || !ok || (c.hint != "" && !strings.Contains(e.Public(), c.hint)) {
				t.Fatalf("err %v, want kind %v with %q", a.err, c.kind, c.hint)
			}
		})
	}
}

// Code 3001 is "no such meeting" on the meeting endpoints; elsewhere it
// stays an unexplained refusal, as before the meeting calls existed.
func TestClassifyMeetingNotFound(t *testing.T) {
	now := time.Date(2026, 5, 30, 18, 0, 0, 0, time.UTC)
	id, _ := MeetingIDFromString("85746065432")
	body := []byte(`{"code":3001,"message":"Meeting does not exist: 85746065432."}`)
	a := classifyCall("read the meeting", subject{meeting: id, meetings: true}, 404, body, http.Header{}, now)
	if a.verdict != stop || !errors.Is(a.err, apperr.ErrMeetingNotFound) || a.outcome != "zoom_3001" ||
		!strings.Contains(a.err.Error(), "85746065432") {
		t.Fatalf("meetings endpoint: verdict %d err %v outcome %q", a.verdict, a.err, a.outcome)
	}
	if a := classify("mint", UserID{}, 404, body, http.Header{}, now); !errors.Is(a.err, apperr.ErrZoomRejected) {
		t.Fatalf("user-token endpoint: %v", a.err)
	}
	// A meeting answer needs no token; a join token answer does.
	if a := classifyCall("read the meeting", subject{meeting: id, meetings: true}, 200, []byte(`{"id":85746065432,"host_id":"h"}`), http.Header{}, now); a.verdict != accept || len(a.body) == 0 {
		t.Fatalf("meeting answer: %d %v", a.verdict, a.err)
	}
	if a := classifyCall("join token", subject{meeting: id, meetings: true, token: true}, 200, []byte(`{"expire_in":120}`), http.Header{}, now); a.verdict != stop {
		t.Fatalf("join token answer without a token: %d", a.verdict)
	}
}
