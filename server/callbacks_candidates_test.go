package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// Bot platforms with candidates (docs/BOTS.md): a Recall-style fetch of a
// signed OBF URL naming userIds, and Attendee's zoom_tokens callback whose
// metadata names zoom_user_ids, each answered with the OBF of a present
// candidate, minted at the fetch; presence driven by signed webhooks.

// candidateServer is a zoom-mode server with webhooks (presence), signed
// callback URLs and Attendee's callback.
func candidateServer(t *testing.T) (*testServer, *sandbox.Sandbox) {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{})
	if _, err := sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ts := hookServer(t, sb, map[string]string{"PORT": port, "PUBLIC_URL": "http://127.0.0.1:" + port,
		"CALLBACK_URL_KEY": testCallbackKey, "ATTENDEE_WEBHOOK_SECRET": attendeeSecretB64})
	return ts, sb
}

// obfUser is whom the sandbox minted an OBF for (its token's sub: the id or
// email asked for).
func obfUser(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a token Zoom issues: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Sub, Type string }
	if err != nil || json.Unmarshal(b, &claims) != nil || claims.Type != "onbehalf" {
		t.Fatalf("not an OBF: %s %v", b, err)
	}
	return claims.Sub
}

func TestCallbackURLCandidates(t *testing.T) {
	ts, sb := candidateServer(t)
	three := []string{"pat@example.com", "kim@example.com", "lee@example.com"}
	obf := ts.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userIds": three, "meetingId": meeting, "expiresInSeconds": 600})
	if !strings.Contains(obf, "?users=pat%40example.com,kim%40example.com,lee%40example.com&meeting="+meeting) {
		t.Fatalf("URL %s does not carry the candidates", obf)
	}
	fetch := func(what, want string) {
		t.Helper()
		s, h, b := recallGet(t, obf)
		if got := obfUser(t, wantToken(t, ts, what, s, h, b)); got != want {
			t.Fatalf("%s: an OBF for %s, want %s", what, got, want)
		}
	}
	// No events for the meeting yet: presence unknown, list order.
	fetch("presence unknown", "pat@example.com")

	ts.joins("host@example.com", 1)
	ts.joins("lee@example.com", 2)
	ts.settle(t)
	fetch("one candidate present", "lee@example.com")
	ts.joins("kim@example.com", 3)
	ts.settle(t)
	fetch("two present", "kim@example.com") // present first, then list order
	ts.leaves("kim@example.com", 3)
	ts.leaves("lee@example.com", 2)
	ts.settle(t)

	// Presence known and no candidate present: 404 with the reason, nothing minted.
	before := sb.Stats().Minted
	s, _, b := recallGet(t, obf)
	wantRefused(t, "no candidate present", s, b, 404, "not_found", "None of the candidates (pat@example.com, kim@example.com, lee@example.com) is in meeting "+meeting)
	once := ts.callbackURL(t, adminKey, map[string]any{"kind": "obf", "userIds": three[1:], "meetingId": meeting, "expiresInSeconds": 600, "singleUse": true})
	s, _, b = recallGet(t, once)
	wantRefused(t, "single use, none present", s, b, 404, "not_found", "None of the candidates")
	if n := sb.Stats().Minted - before; n != 0 {
		t.Fatalf("%d OBFs minted with no candidate present", n)
	}
	ts.joins("lee@example.com", 4) // a single-use URL that minted nothing is not spent
	ts.settle(t)
	s, h, b := recallGet(t, once)
	if got := obfUser(t, wantToken(t, ts, "single use, once one is present", s, h, b)); got != "lee@example.com" {
		t.Fatalf("single use: an OBF for %s", got)
	}
	ts.assertNoSecretsLogged(testCallbackKey, webhookSecret)
}

// Who may list whom, and bad lists: each a clear answer naming the field
// or the user.
func TestCallbackURLCandidatesRefused(t *testing.T) {
	ts, _ := candidateServer(t)
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("u%d@example.com", i))
	}
	host := bearer(t, "pat@example.com", "host")
	obf := func(ids any) map[string]any {
		return map[string]any{"kind": "obf", "userIds": ids, "meetingId": meeting, "expiresInSeconds": 600}
	}
	cases := []struct {
		name    string
		headers map[string]string
		body    map[string]any
		status  int
		has     string
	}{
		{"a host listing another user", host, obf([]string{"pat@example.com", "kim@example.com"}), 403, "kim@example.com"},
		{"a participant", bearer(t, "pat@example.com", ""), obf([]string{"pat@example.com"}), 403, "forbidden"},
		{"51 candidates", adminKey, obf(many), 400, `"field":"userIds","reason":"must list 1 to 50 candidates (it lists 51)"`},
		{"none", adminKey, obf([]string{}), 400, `"field":"userIds","reason":"must list 1 to 50 candidates (it lists 0)"`},
		{"duplicates", adminKey, obf([]string{"kim@example.com", "KIM@example.com"}), 400, `"field":"userIds[1]","reason":"names the same user as userIds[0]`},
		{"both fields", adminKey, map[string]any{"kind": "obf", "userId": "kim@example.com", "userIds": []string{"kim@example.com"}, "meetingId": meeting, "expiresInSeconds": 60}, 400, `"field":"userIds","reason":"goes in place of userId`},
		{"kind zak", adminKey, map[string]any{"kind": "zak", "userIds": []string{"kim@example.com"}, "expiresInSeconds": 60}, 400, `"field":"userIds","reason":"applies to kind obf only`},
		{"not a list", adminKey, obf("kim@example.com"), 400, `"field":"userIds"`},
		{"no meeting", adminKey, map[string]any{"kind": "obf", "userIds": []string{"kim@example.com"}, "expiresInSeconds": 60}, 400, `"field":"meetingId"`},
	}
	for _, tc := range cases {
		r := ts.do("POST", "/api/callback-urls", tc.body, tc.headers)
		if r.Status != tc.status || !strings.Contains(r.Raw, tc.has) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	// A host may list itself; its URL answers, and the host may revoke it.
	mine := ts.callbackURL(t, host, obf([]string{"pat@example.com"}))
	s, h, b := recallGet(t, mine)
	wantToken(t, ts, "a host's own candidate", s, h, b)
	if r := ts.do("POST", "/api/callback-urls/revoke", map[string]any{"url": mine}, host); r.Status != 200 || r.Body["revoked"] != true {
		t.Fatalf("revoke = %d %s", r.Status, r.Raw)
	}
	if s, _, b = recallGet(t, mine); s != 403 {
		t.Fatalf("revoked = %d %s", s, b)
	}
}

// Attendee's zoom_tokens callback with zoom_user_ids: the OBF of a present
// candidate; none present: 409 no_candidate_present, with the reason,
// which Attendee logs.
func TestAttendeeCandidates(t *testing.T) {
	ts, sb := candidateServer(t)
	post := func(meta string) reply {
		t.Helper()
		body := `{"bot_id":"bot_c1","bot_metadata":` + meta + `,"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/` + meeting + `"}`
		canon, _, err := callbacks.Canonical([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return ts.do("POST", "/api/callbacks/attendee/zoom-tokens", body,
			map[string]string{callbacks.AttendeeSignatureHeader: attendeeSign(t, string(canon))})
	}
	want := func(what string, r reply, user string) {
		t.Helper()
		tok, _ := r.Body["onbehalf_token"].(string)
		if r.Status != 200 || r.Body["zak_token"] != nil || tok == "" {
			t.Fatalf("%s: %d %s", what, r.Status, r.Raw)
		}
		ts.collectTokens(map[string]any{"obfToken": tok})
		if got := obfUser(t, tok); got != user {
			t.Fatalf("%s: an OBF for %s, want %s", what, got, user)
		}
	}
	want("presence unknown: list order", post(`{"zoom_user_ids":"pat@example.com, kim@example.com"}`), "pat@example.com")
	ts.joins("host@example.com", 1)
	ts.joins("kim@example.com", 2)
	ts.settle(t)
	want("a comma-separated string", post(`{"zoom_user_ids":"pat@example.com,kim@example.com"}`), "kim@example.com")
	want("a list", post(`{"zoom_user_ids":["pat@example.com","kim@example.com"]}`), "kim@example.com")

	before := sb.Stats().Minted
	r := post(`{"zoom_user_ids":"pat@example.com,lee@example.com"}`)
	if r.Status != 409 || r.Body["code"] != "no_candidate_present" || !strings.Contains(r.Raw, "pat@example.com, lee@example.com") {
		t.Fatalf("none present = %d %s", r.Status, r.Raw)
	}
	if n := sb.Stats().Minted - before; n != 0 {
		t.Fatalf("%d OBFs minted with no candidate present", n)
	}
	for meta, field := range map[string]string{
		`{"zoom_user_id":"kim@example.com","zoom_user_ids":"kim@example.com"}`: "bot_metadata.zoom_user_ids",
		`{"zoom_user_ids":"kim@example.com,KIM@example.com"}`:                  "bot_metadata.zoom_user_ids[1]",
		`{"zoom_user_ids":"kim@example.com","zoom_token_type":"zak"}`:          "bot_metadata.zoom_user_ids",
	} {
		if r := post(meta); r.Status != 400 || !strings.Contains(r.Raw, `"field":"`+field+`"`) {
			t.Errorf("%s = %d %s", meta, r.Status, r.Raw)
		}
	}
	ts.assertNoSecretsLogged(attendeeSecretB64, webhookSecret)
}
