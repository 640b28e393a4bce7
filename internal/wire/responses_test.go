package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

func mustMeeting(t *testing.T, raw string) zoom.MeetingID {
	t.Helper()
	m, reason := zoom.ParseMeetingID(json.RawMessage(raw))
	if reason != "" {
		t.Fatalf("meeting %s: %s", raw, reason)
	}
	return m
}

func mustUser(t *testing.T, s string) zoom.UserID {
	t.Helper()
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		t.Fatalf("user %s: %s", s, reason)
	}
	return u
}

var at = time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))

func minted(t *testing.T, meeting, user, value string, delivered bool) services.Minted {
	return services.Minted{Token: zoom.Token{MeetingID: mustMeeting(t, meeting), UserID: mustUser(t, user), Value: secret.New(value),
		ExpiresIn: 2 * time.Hour, ExpiresAt: at}, Via: services.ViaAccount, Delivered: delivered}
}

// asJSON is v encoded and decoded again as generic JSON.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "REDACTED") {
		t.Errorf("%s holds a redacted secret, not the token", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantFields(t *testing.T, name string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no %q in %v", name, k, got)
			continue
		}
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(v)
		if string(gb) != string(wb) {
			t.Errorf("%s: %s is %s, want %s", name, k, gb, wb)
		}
	}
}

func TestStartAndJoinResponses(t *testing.T) {
	start := asJSON(t, NewStartResponse(minted(t, `85746065432`, "h@example.com", "zak-value", true)))
	wantFields(t, "start", start, map[string]any{"success": true, "meetingId": 85746065432, "hostUserId": "h@example.com",
		"zakToken": "zak-value", "via": services.ViaAccount, "expiresIn": "2 hours", "expiresInSeconds": 7200,
		"expiresAt": "2026-01-02T02:04:05Z", "delivered": true,
		"message": "ZAK token minted: use it as the SDK's zak to start or join the meeting as the host."})
	if _, ok := start["sdk"]; ok {
		t.Errorf("start without an SDK bundle shows sdk: %v", start)
	}
	join := asJSON(t, NewJoinResponse(minted(t, `"123456789"`, "p@example.com", "obf-value", false)))
	wantFields(t, "join", join, map[string]any{"success": true, "meetingId": "123456789", "participantUserId": "p@example.com",
		"obfToken": "obf-value", "delivered": false, "expiresInSeconds": 7200,
		"message": "OBF token minted: single use, valid only while its user is in the meeting."})
}

func TestBatchSetupAndDistributedResponses(t *testing.T) {
	m := mustMeeting(t, `123456789`)
	r := services.BatchResult{Total: 3, Successful: []services.Minted{
		minted(t, `123456789`, "a@example.com", "obf-a", true), minted(t, `123456789`, "b@example.com", "obf-b", false)},
		Failed: []services.Failure{{UserID: mustUser(t, "c@example.com"), Err: &apperr.Error{Kind: apperr.ErrNotFound, Message: "No such user."}}}}
	b := asJSON(t, NewBatchResponse(m, r))
	wantFields(t, "batch", b, map[string]any{"success": true, "meetingId": 123456789,
		"summary": map[string]any{"total": 3, "successful": 2, "failed": 1, "delivered": 1}})
	results := b["results"].(map[string]any)
	if ok := results["successful"].([]any); len(ok) != 2 || ok[0].(map[string]any)["obfToken"] != "obf-a" {
		t.Errorf("batch successful: %v", ok)
	}
	failed := results["failed"].([]any)
	wantFields(t, "batch failed", failed[0].(map[string]any), map[string]any{"userId": "c@example.com", "error": "No such user.", "code": apperr.CodeNotFound})

	empty := asJSON(t, NewBatchResponse(m, services.BatchResult{}))
	results = empty["results"].(map[string]any)
	if results["successful"] == nil || results["failed"] == nil {
		t.Errorf("an empty batch answers null lists instead of []: %v", results)
	}

	s := asJSON(t, NewSetupResponse(m, services.SetupResult{Host: minted(t, `123456789`, "h@example.com", "zak-h", true), BatchResult: r}, at))
	wantFields(t, "setup", s, map[string]any{"success": true, "timestamp": "2026-01-02T02:04:05.0000006Z",
		"host": map[string]any{"userId": "h@example.com", "zakToken": "zak-h", "via": services.ViaAccount, "expiresIn": "2 hours",
			"expiresInSeconds": 7200, "expiresAt": "2026-01-02T02:04:05Z", "delivered": true}})
	if len(s["participants"].([]any)) != 2 || len(s["failed"].([]any)) != 1 {
		t.Errorf("setup: %v", s)
	}

	in := services.DistributeInput{HostUserID: mustUser(t, "h@example.com"), BatchInput: services.BatchInput{MeetingID: m}}
	d := asJSON(t, NewDistributed(in, r, at))
	wantFields(t, "distributed", d, map[string]any{"success": true, "meetingId": 123456789, "hostUserId": "h@example.com",
		"successful": 2, "failed": 1, "delivered": []string{"a@example.com"}, "offline": []string{"b@example.com"}})
	if strings.Contains(mustMarshal(t, d), "obf-") {
		t.Errorf("meeting:distributed carries a token: %v", d)
	}
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"invalid input lists details", apperr.InvalidInput("start", apperr.FieldError{Field: "meetingId", Reason: "is required"}),
			`{"success":false,"error":"The request is not valid: meetingId is required.","code":"invalid_request","details":[{"field":"meetingId","reason":"is required"}]}`},
		{"not connected gives the link", &apperr.Error{Kind: apperr.ErrNotConnected, Message: "Connect first.", AuthorizeURL: "https://example.com/a"},
			`{"success":false,"error":"Connect first.","code":"not_connected","authorizeUrl":"https://example.com/a"}`},
		{"internal says nothing", errors.New("database password is hunter2"),
			`{"success":false,"error":"Something went wrong on our side; the error was logged.","code":"internal"}`},
	}
	for _, tt := range tests {
		if got := mustMarshal(t, NewErrorResponse(tt.err)); got != tt.want {
			t.Errorf("%s:\n  got  %s\n  want %s", tt.name, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1 second", 59 * time.Second: "59 seconds", time.Minute: "1 minute", 90 * time.Second: "90 seconds",
		2 * time.Hour: "2 hours", 3 * 24 * time.Hour: "3 days", 25 * time.Hour: "25 hours", 0: "0 seconds",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestConnectionShapes(t *testing.T) {
	c := store.Connection{Sub: "u@example.com", ZoomUserID: "zid", Email: "u@example.com", AccountID: "acc",
		Status: "connected", ConnectedAt: at, Refresh: store.Sealed{}}
	got := asJSON(t, NewConnection(c))
	wantFields(t, "connection", got, map[string]any{"sub": "u@example.com", "zoomUserId": "zid", "status": "connected",
		"connectedAt": "2026-01-02T02:04:05.0000006Z", "refreshedAt": nil})
	for _, k := range []string{"disconnectedAt", "reason", "refresh", "Refresh", "scopes"} {
		if _, ok := got[k]; ok {
			t.Errorf("a connected connection shows %q: %v", k, got)
		}
	}
	c.RefreshedAt, c.DisconnectedAt, c.Status, c.Reason = at, at.Add(time.Hour), "disconnected", "revoked"
	got = asJSON(t, NewConnection(c))
	wantFields(t, "disconnected", got, map[string]any{"refreshedAt": "2026-01-02T02:04:05.0000006Z",
		"disconnectedAt": "2026-01-02T03:04:05.0000006Z", "reason": "revoked"})
	list := asJSON(t, NewConnections(nil))
	if mustMarshal(t, list) != `{"connections":[],"success":true}` {
		t.Errorf("no connections: %v", list)
	}
}

func TestProgressStreamEndAndAwaiting(t *testing.T) {
	m := mustMeeting(t, `"123456789"`)
	if got := mustMarshal(t, NewProgress(services.ProgressUpdate{Meeting: m, Done: 2, Total: 5, Failed: 1})); got != `{"meetingId":"123456789","done":2,"total":5,"failed":1}` {
		t.Errorf("progress: %s", got)
	}
	end := NewStreamEnd(NewBatchResponse(m, services.BatchResult{Total: 1}))
	if got := mustMarshal(t, end); got != `{"done":true,"success":true,"meetingId":"123456789","summary":{"total":1,"successful":0,"failed":0,"delivered":0}}` {
		t.Errorf("stream end: %s", got)
	}
	if got := mustMarshal(t, NewStreamEnd(nil)); got != `{"done":true,"success":true,"meetingId":"","summary":{"total":0,"successful":0,"failed":0,"delivered":0}}` {
		t.Errorf("stream end of no batch: %s", got)
	}
	a := asJSON(t, NewAwaiting(awaits.AwaitInput{MeetingID: m, User: mustUser(t, "u@example.com"), Timeout: 90 * time.Second}, presence.Waiting, at))
	wantFields(t, "awaiting", a, map[string]any{"success": true, "meetingId": "123456789", "participantUserId": "u@example.com",
		"presence": "waiting", "timeoutSeconds": 90, "timestamp": "2026-01-02T02:04:05.0000006Z"})
	if !strings.Contains(a["message"].(string), "not in the meeting yet") {
		t.Errorf("awaiting message: %v", a["message"])
	}
}
