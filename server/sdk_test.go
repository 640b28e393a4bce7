package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// judge asks the sandbox to judge a Meeting SDK join, as Zoom's SDK and
// servers would: the signature, and the ZAK or OBF beside it.
func judge(t *testing.T, sb *sandbox.Sandbox, bundle map[string]any, tokenField, token, name string) map[string]any {
	t.Helper()
	body := map[string]any{"signature": bundle["signature"], "meetingNumber": bundle["meetingNumber"], "userName": name, tokenField: token}
	b, _ := json.Marshal(body)
	resp, err := http.Post(sb.URL()+"/sandbox/sdk/join", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// Every ZAK and OBF answer carries the Meeting SDK signature for the same
// meeting, and the sandbox's judge accepts the bundle as Zoom would: the
// host's ZAK with role 1; a participant's OBF with role 0, only while its
// user is in the meeting, and once.
func TestSDKBundleJoinsAsZoomJudges(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	key, sec := sb.SDKApp()
	env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = key, sec
	ts := startServer(t, sb, env)
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}

	r := ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com"}, adminKey)
	zak, _ := r.Body["zakToken"].(string)
	bundle, _ := r.Body["sdk"].(map[string]any)
	if r.Status != 200 || bundle == nil || bundle["role"] != float64(1) || bundle["meetingNumber"] != meeting || bundle["sdkKey"] != key {
		t.Fatalf("start = %d %s", r.Status, r.Raw)
	}
	if j := judge(t, sb, bundle, "zak", zak, "Host"); j["joined"] != true || j["as"] != "host" {
		t.Fatalf("the host's bundle was refused: %v", j)
	}

	join := func() (string, map[string]any) {
		r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, bearer(t, "pat@example.com", ""))
		b, _ := r.Body["sdk"].(map[string]any)
		if r.Status != 200 || b == nil || b["role"] != float64(0) || b["meetingNumber"] != meeting {
			t.Fatalf("join = %d %s", r.Status, r.Raw)
		}
		return r.Body["obfToken"].(string), b
	}
	obf, b := join()
	if j := judge(t, sb, b, "obfToken", obf, "Pat's bot"); j["joined"] == true {
		t.Fatalf("an OBF joined while its user was not in the meeting: %v", j)
	}
	if _, err := sb.AddParticipant(meeting, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	obf, b = join()
	if j := judge(t, sb, b, "obfToken", obf, "Pat's bot"); j["joined"] != true || !strings.Contains(str(j["as"]), "on behalf of") {
		t.Fatalf("the bundle was refused with the user in the meeting: %v", j)
	}
	if j := judge(t, sb, b, "obfToken", obf, "Pat's bot"); j["joined"] == true {
		t.Fatal("an OBF joined twice")
	}

	// The push carries the same bundle.
	c := authedSocket(t, ts, "pat@example.com", "")
	ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	if e, ok := c.waitEvent("meeting:credentials", 5*time.Second); !ok || e["sdk"] == nil {
		t.Fatalf("push without the SDK bundle: %v", e)
	}
	ts.assertNoSecretsLogged(sec)
}

// POST /api/sdk/signature answers as Zoom's sample endpoint does; a
// participant may sign role 0 only; the Video SDK endpoint says when it is
// not configured.
func TestSDKSignatureEndpoints(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = "sdk-key-1", "sdk-secret-0123456789abcdef"
	ts := startServer(t, sb, env)
	pat := bearer(t, "pat@example.com", "")
	r := ts.do("POST", "/api/sdk/signature", map[string]any{"meetingNumber": meeting, "role": 0, "expirationSeconds": 1800}, pat)
	if r.Status != 200 || r.Body["sdkKey"] != "sdk-key-1" {
		t.Fatalf("role 0 = %d %s", r.Status, r.Raw)
	}
	var claims jwt.MapClaims
	if _, err := jwt.ParseWithClaims(str(r.Body["signature"]), &claims, func(*jwt.Token) (any, error) {
		return []byte("sdk-secret-0123456789abcdef"), nil
	}); err != nil || claims["mn"] != meeting || claims["role"] != float64(0) || claims["exp"].(float64)-claims["iat"].(float64) != 1800 {
		t.Fatalf("signature %v: %v", err, claims)
	}
	if r := ts.do("POST", "/api/sdk/signature", map[string]any{"meetingNumber": meeting, "role": 1}, pat); r.Status != 403 {
		t.Fatalf("a participant's role 1 = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/api/sdk/signature", map[string]any{"meetingNumber": meeting, "role": 1}, bearer(t, "host@example.com", "host")); r.Status != 200 {
		t.Fatalf("a host's role 1 = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/api/sdk/signature", map[string]any{"meetingNumber": "12", "role": 2, "expirationSeconds": 10}, pat); r.Status != 400 || len(r.Body["details"].([]any)) != 3 {
		t.Fatalf("a bad body = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/api/videosdk/signature", map[string]any{"sessionName": "s", "role": 1}, pat); r.Status != 404 || !strings.Contains(r.Raw, "ZOOM_VIDEOSDK_KEY") {
		t.Fatalf("video without keys = %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/api/sdk/signature", map[string]any{"meetingNumber": meeting, "role": 0}, nil); r.Status != 401 {
		t.Fatalf("no credentials = %d", r.Status)
	}
	ts.assertNoSecretsLogged("sdk-secret-0123456789abcdef")
}
