package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// The meeting-info routes over real HTTP against the sandbox: POST
// /api/meetings/recording-token and GET /api/meetings/{meetingId}/access.

const (
	ownMeeting     = "111111111"   // hosted by ownHost, a user of the server's account
	outsideMeeting = "22222222222" // hosted by partnerHost, in another account
	ownHost        = "host@example.com"
	partnerHost    = "host@partner.example"
)

// meetingServer is a zoom-mode server (S2S and users' connections) on a
// sandbox that grants the meeting scopes and holds the two meetings.
func meetingServer(t *testing.T) *testServer {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{Scopes: sandbox.ServerScopes, OAuthScopes: sandbox.UserScopes})
	mustMeeting(t, sb, ownHost, ownMeeting)
	mustMeeting(t, sb, partnerHost, outsideMeeting)
	return connServer(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
}

func mustMeeting(t *testing.T, sb *sandbox.Sandbox, host, number string) {
	t.Helper()
	if _, err := sb.CreateMeeting(host, number); err != nil {
		t.Fatal(err)
	}
}

func (ts *testServer) recordingToken(headers map[string]string, body any) reply {
	ts.t.Helper()
	return ts.do("POST", "/api/meetings/recording-token", body, headers)
}

func wantError(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["code"] != code || r.Body["success"] != false || r.Body["error"] == "" {
		t.Errorf("%s = %d %s; want %d %s", what, r.Status, r.Raw, status, code)
	}
	if r.Body["token"] != nil {
		t.Errorf("%s: an error carries a token: %s", what, r.Raw)
	}
}

func wantRecordingToken(t *testing.T, what string, r reply, number, via string) {
	t.Helper()
	tok, _ := r.Body["token"].(string)
	if r.Status != 200 || r.Body["success"] != true || tok == "" || r.Body["expiresInSeconds"] != float64(120) ||
		!sameMeeting(r.Body["meetingId"], number) || r.Body["via"] != via || r.Body["expiresAt"] == nil {
		t.Fatalf("%s = %d %s; want a token via %s", what, r.Status, r.Raw, via)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q", what, cc)
	}
}

// sameMeeting: the id echoed as it was sent, a JSON string or a number.
func sameMeeting(v any, number string) bool {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.0f", f) == number
	}
	return v == number
}

func TestRecordingToken(t *testing.T) {
	ts := meetingServer(t)
	sb := ts.SB

	t.Run("participant is refused before its body is read", func(t *testing.T) {
		_, before := sb.MeetingAPICalls()
		wantError(t, "participant", ts.recordingToken(bearer(t, ownHost, "participant"), map[string]any{"meetingId": ownMeeting}), 403, "forbidden")
		wantError(t, "participant, bad body", ts.recordingToken(bearer(t, ownHost, ""), "{not json"), 403, "forbidden")
		if _, after := sb.MeetingAPICalls(); after != before {
			t.Errorf("Zoom was asked for a participant")
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		r := ts.recordingToken(adminKey, map[string]any{"meetingId": "12ab", "bypassWaitingRoom": "yes"})
		wantError(t, "bad fields", r, 400, "invalid_request")
		if d, _ := r.Body["details"].([]any); len(d) != 2 {
			t.Errorf("details: %s", r.Raw)
		}
		wantError(t, "no meetingId", ts.recordingToken(adminKey, map[string]any{}), 400, "invalid_request")
		wantError(t, "unauthenticated", ts.recordingToken(nil, map[string]any{"meetingId": ownMeeting}), 401, "unauthorized")
	})

	t.Run("host of a meeting of the account, through the account", func(t *testing.T) {
		wantRecordingToken(t, "host", ts.recordingToken(bearer(t, ownHost, "host"), map[string]any{"meetingId": ownMeeting}), ownMeeting, "account")
		r := ts.recordingToken(bearer(t, strings.ToUpper(ownHost[:1])+ownHost[1:], "host"), map[string]any{"meetingId": ownMeeting, "bypassWaitingRoom": true})
		wantRecordingToken(t, "host, email in another case, bypassing the waiting room", r, ownMeeting, "account")
		if r.Body["bypassWaitingRoom"] != true {
			t.Errorf("bypassWaitingRoom not echoed: %s", r.Raw)
		}
	})

	t.Run("another host of the account", func(t *testing.T) {
		_, before := sb.MeetingAPICalls()
		wantError(t, "not the host", ts.recordingToken(bearer(t, "other@example.com", "host"), map[string]any{"meetingId": ownMeeting}), 403, "forbidden")
		if _, after := sb.MeetingAPICalls(); after != before {
			t.Errorf("a join token was asked of Zoom for a host of another meeting")
		}
	})

	t.Run("admin, any meeting of the account", func(t *testing.T) {
		wantRecordingToken(t, "admin", ts.recordingToken(adminKey, map[string]any{"meetingId": 111111111, "bypassWaitingRoom": false}), ownMeeting, "account")
		r := ts.recordingToken(adminKey, map[string]any{"meetingId": outsideMeeting})
		wantError(t, "admin, outside meeting", r, 404, "zoom_meeting_not_found")
		if !strings.Contains(str(r.Body["error"]), outsideMeeting) {
			t.Errorf("the 3001 sentence does not name the meeting: %s", r.Raw)
		}
		wantError(t, "admin, no such meeting", ts.recordingToken(adminKey, map[string]any{"meetingId": "333333333"}), 404, "zoom_meeting_not_found")
	})

	t.Run("host in another account, not connected", func(t *testing.T) {
		r := ts.recordingToken(bearer(t, partnerHost, "host"), map[string]any{"meetingId": outsideMeeting})
		wantError(t, "partner host without a connection", r, 409, "not_connected")
		if u, _ := r.Body["authorizeUrl"].(string); !strings.HasPrefix(u, sb.AuthorizeURL()+"?") {
			t.Errorf("no authorizeUrl: %s", r.Raw)
		}
	})

	t.Run("host in another account, through its connection", func(t *testing.T) {
		ts.mustConnect(t, partnerHost)
		wantRecordingToken(t, "partner host", ts.recordingToken(bearer(t, partnerHost, "host"), map[string]any{"meetingId": outsideMeeting}), outsideMeeting, "connection")
		const bob = "bob@partner.example"
		ts.mustConnect(t, bob)
		r := ts.recordingToken(bearer(t, bob, "host"), map[string]any{"meetingId": outsideMeeting})
		wantError(t, "a connected host, not this meeting's", r, 404, "zoom_meeting_not_found")
	})

	t.Run("Zoom down", func(t *testing.T) {
		sb.SetOutage(sandbox.OutageAPI)
		defer sb.SetOutage(sandbox.OutageNone)
		wantError(t, "outage", ts.recordingToken(adminKey, map[string]any{"meetingId": ownMeeting}), 503, "zoom_unavailable")
	})

	ts.assertNoSecretsLogged()
	if !strings.Contains(ts.Logs.String(), "recording-token") {
		t.Error("the requests were not logged at all: the secrets check saw nothing")
	}
}

func TestMeetingAccess(t *testing.T) {
	ts := meetingServer(t)
	sb := ts.SB
	access := func(headers map[string]string, id string) reply {
		t.Helper()
		return ts.do("GET", "/api/meetings/"+id+"/access", nil, headers)
	}
	meetingCalls := func() int64 { m, _ := sb.MeetingAPICalls(); return m }

	t.Run("a meeting of the account: no OBF needed", func(t *testing.T) {
		r := access(bearer(t, "someone@example.com", "participant"), ownMeeting)
		if r.Status != 200 || r.Body["meetingId"] != ownMeeting || r.Body["internal"] != true || r.Body["obfRequired"] != false ||
			r.Body["presenceKnown"] != false || !strings.Contains(str(r.Body["reason"]), "SDK signature alone") {
			t.Fatalf("access = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("an outside meeting: OBF needed", func(t *testing.T) {
		r := access(adminKey, outsideMeeting)
		if r.Status != 200 || r.Body["internal"] != false || r.Body["obfRequired"] != true ||
			!strings.Contains(str(r.Body["reason"]), "3001") {
			t.Fatalf("access = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("Zoom is asked once per meeting within the cache window", func(t *testing.T) {
		before := meetingCalls()
		for range 5 {
			for _, id := range []string{ownMeeting, outsideMeeting} {
				if r := access(bearer(t, "p@example.com", ""), id); r.Status != 200 {
					t.Fatalf("access %s = %d %s", id, r.Status, r.Raw)
				}
			}
		}
		if n := meetingCalls() - before; n != 0 {
			t.Errorf("Zoom was asked %d more times for meetings already known", n)
		}
		// Callers that miss together share one call.
		mustMeeting(t, sb, ownHost, "444444444")
		before = meetingCalls()
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for range 20 {
			wg.Go(func() {
				r, err := ts.try("GET", "/api/meetings/444444444/access", nil, adminKey)
				if err != nil || r.Status != 200 || r.Body["internal"] != true {
					errs <- fmt.Sprintf("%v %d %s", err, r.Status, r.Raw)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if n := meetingCalls() - before; n != 1 {
			t.Errorf("20 callers of a new meeting made %d calls to Zoom; want 1", n)
		}
	})

	t.Run("failures are not kept", func(t *testing.T) {
		mustMeeting(t, sb, ownHost, "555555555")
		sb.SetOutage(sandbox.OutageAPI)
		wantError(t, "outage", access(adminKey, "555555555"), 503, "zoom_unavailable")
		sb.SetOutage(sandbox.OutageNone)
		before := meetingCalls()
		if r := access(adminKey, "555555555"); r.Status != 200 || r.Body["internal"] != true {
			t.Fatalf("after the outage = %d %s", r.Status, r.Raw)
		}
		if meetingCalls()-before != 1 {
			t.Error("the outage's answer was kept: Zoom was not asked again")
		}
	})

	t.Run("bad ids and callers", func(t *testing.T) {
		for _, id := range []string{"12345", "abcdefghij", "123456789012", "%2e%2e"} {
			wantError(t, "id "+id, access(adminKey, id), 400, "invalid_request")
		}
		wantError(t, "unauthenticated", access(nil, ownMeeting), 401, "unauthorized")
		if r := ts.do("POST", "/api/meetings/"+ownMeeting+"/access", nil, adminKey); r.Status != 405 && r.Status != 404 {
			t.Errorf("POST access = %d", r.Status)
		}
	})
	ts.assertNoSecretsLogged()
}

// Without a Server-to-Server app the server cannot tell a meeting's
// account: access says so (409 not_connected); a host's connection still
// gets its recording token.
func TestMeetingInfoWithoutS2S(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Scopes: sandbox.ServerScopes, OAuthScopes: sandbox.UserScopes})
	mustMeeting(t, sb, partnerHost, outsideMeeting)
	env := connEnv(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	delete(env, "ZOOM_ACCOUNT_ID")
	delete(env, "ZOOM_CLIENT_ID")
	delete(env, "ZOOM_CLIENT_SECRET")
	ts := startServer(t, sb, env)

	r := ts.do("GET", "/api/meetings/"+outsideMeeting+"/access", nil, adminKey)
	wantError(t, "access without S2S", r, 409, "not_connected")
	if !strings.Contains(str(r.Body["error"]), "Server-to-Server") {
		t.Errorf("the sentence does not say why: %s", r.Raw)
	}
	wantError(t, "admin key without S2S", ts.recordingToken(adminKey, map[string]any{"meetingId": outsideMeeting}), 409, "not_connected")
	r = ts.recordingToken(bearer(t, partnerHost, "host"), map[string]any{"meetingId": outsideMeeting})
	wantError(t, "host not connected", r, 409, "not_connected")
	if r.Body["authorizeUrl"] == nil {
		t.Errorf("no authorizeUrl for the caller: %s", r.Raw)
	}
	ts.mustConnect(t, partnerHost)
	wantRecordingToken(t, "host through its connection", ts.recordingToken(bearer(t, partnerHost, "host"), map[string]any{"meetingId": outsideMeeting}), outsideMeeting, "connection")
	ts.assertNoSecretsLogged()
}
