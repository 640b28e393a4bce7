package zoom

import (
	"encoding/json"
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

// Every row of the table holds an answer no row above it holds: none is
// shadowed, and each is reached by the answer named here.
func TestClassifyEveryRowIsReached(t *testing.T) {
	now := time.Date(2026, 5, 30, 18, 0, 0, 0, time.UTC)
	user, _ := ParseUserID("a@example.com")
	meeting, _ := MeetingIDFromString("85746065432")
	daily := http.Header{"X-Ratelimit-Type": {"Daily-limit"}}
	samples := []struct {
		sub    subject
		status int
		body   string
		hdr    http.Header
	}{
		{subject{user: user, token: true}, 200, `{}`, nil},
		{subject{user: user, token: true}, 200, `{"token":"abc"}`, nil},
		{subject{user: user, token: true}, 401, `{"code":124}`, nil},
		{subject{user: user, token: true}, 404, `{"code":1001}`, nil},
		{subject{meeting: meeting, meetings: true}, 404, `{"code":3001}`, nil},
		{subject{user: user, token: true}, 400, `{"code":4711}`, nil},
		{subject{user: user, token: true}, 429, `{"code":429}`, daily},
		{subject{user: user, token: true}, 429, `{"code":429}`, nil},
		{subject{user: user, token: true}, 502, ``, nil},
		{subject{user: user, token: true}, 400, `{"code":300}`, nil},
		{subject{user: user, token: true}, 403, `{"code":200}`, nil},
	}
	if len(samples) != len(zoomAnswers) {
		t.Fatalf("%d samples for %d rows", len(samples), len(zoomAnswers))
	}
	for i, s := range samples {
		h := s.hdr
		if h == nil {
			h = http.Header{}
		}
		z := zoomAnswer{op: "call", sub: s.sub, status: s.status, hdr: h, now: now}
		if err := json.Unmarshal([]byte(s.body), &z.reply); s.body != "" && err != nil {
			t.Fatal(err)
		}
		if got := z.row().answer; got != zoomAnswers[i].answer {
			t.Errorf("sample %d (%d %s) is held by %q, want %q", i, s.status, s.body, got, zoomAnswers[i].answer)
		}
	}
}

// The same answer has the words of the call's grant and scope: the S2S
// app's or a user's, and the scope the call needs.
func TestClassifyWordsOfEachGrant(t *testing.T) {
	now := time.Date(2026, 5, 30, 18, 0, 0, 0, time.UTC)
	user, _ := ParseUserID("a@example.com")
	meeting, _ := MeetingIDFromString("85746065432")
	s2sMint := subject{user: user, token: true}
	userMint := subject{user: user, token: true, userGrant: true, scope: "user:read:token"}
	s2sMeeting := subject{meeting: meeting, meetings: true, scope: ScopeMeetingReadAdmin + " (classic: meeting:read:admin)"}
	s2sRecording := subject{meeting: meeting, meetings: true, token: true, scope: ScopeLocalRecordingAdmin}
	userRecording := subject{meeting: meeting, meetings: true, token: true, userGrant: true, scope: ScopeLocalRecordingUserGrant}
	cases := []struct {
		name   string
		sub    subject
		status int
		body   string
		kind   error
		words  string // in the message or hint
	}{
		{"S2S mint, missing scope", s2sMint, 400, `{"code":4711}`, apperr.ErrZoomRejected, "user:read:token:admin (classic: user:read:admin)"},
		{"user's mint, missing scope", userMint, 400, `{"code":4711}`, apperr.ErrZoomRejected, "the user's grant lacks the scope user:read:token."},
		{"S2S meeting, missing scope", s2sMeeting, 400, `{"code":4700}`, apperr.ErrZoomRejected, "app lacks the scope meeting:read:meeting:admin (classic: meeting:read:admin)."},
		{"S2S recording token, missing scope", s2sRecording, 400, `{"code":4711}`, apperr.ErrZoomRejected, "app lacks the scope " + ScopeLocalRecordingAdmin + "."},
		{"user's recording token, missing scope", userRecording, 400, `{"code":4711}`, apperr.ErrZoomRejected, "Add " + ScopeLocalRecordingUserGrant + " to the General app's scopes"},
		{"S2S mint, token refused", s2sMint, 401, `{"code":124}`, apperr.ErrZoomAuth, "Server-to-Server OAuth app is activated"},
		{"user's mint, token refused", userMint, 401, `{"code":124}`, apperr.ErrZoomAuth, "the user's freshly refreshed access token"},
		{"user's recording token, token refused", userRecording, 401, ``, apperr.ErrZoomAuth, "have them connect again"},
		{"S2S recording token, no meeting", s2sRecording, 404, `{"code":3001}`, apperr.ErrMeetingNotFound, "no meeting 85746065432 in this server's account"},
		{"user's recording token, no meeting", userRecording, 404, `{"code":3001}`, apperr.ErrMeetingNotFound, "hosted by you"},
		{"user's mint, 3001 is no meeting code there", userMint, 404, `{"code":3001}`, apperr.ErrZoomRejected, "code 3001"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := classifyCall("call", c.sub, c.status, []byte(c.body), http.Header{}, now)
			e, ok := apperr.As(a.err)
			if !ok || !errors.Is(a.err, c.kind) || !strings.Contains(e.Message+" "+e.Hint, c.words) {
				t.Fatalf("err %v, want kind %v with %q", a.err, c.kind, c.words)
			}
		})
	}
}
