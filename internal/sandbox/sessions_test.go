package sandbox

import (
	"testing"
	"time"
)

// session reads a session through GET /sandbox/sdk/sessions/{id}.
func (o *oauthSandbox) session(id string) map[string]any {
	o.t.Helper()
	a := o.get("/sandbox/sdk/sessions/"+id, "")
	if a.status != 200 {
		o.t.Fatalf("GET session %s: %d %s", id, a.status, a.text)
	}
	return a.json
}

func wantSession(t *testing.T, what string, got map[string]any, state, reason string) {
	t.Helper()
	if got["state"] != state || (reason == "" && got["reason"] != nil) || (reason != "" && got["reason"] != reason) {
		t.Errorf("%s: session %v, want %s %s", what, got, state, reason)
	}
	if (state == SessionEnded) != (got["endedAt"] != nil) {
		t.Errorf("%s: endedAt %v for a session %s", what, got["endedAt"], state)
	}
}

// The judge's sessions: an OBF join's session ends when the OBF's user
// leaves, and only then; a bot waiting on it learns at once; a spent OBF
// never joins again; the bot may leave; the meeting's end, or its last user
// leaving, ends every session in it.
func TestSDKSessions(t *testing.T) {
	o := startOAuth(t, Options{})
	o.mustCreate(outsideHost, outsideNumber)
	bob := o.connectAccess(partnerUser)
	hostZAK := o.mint(o.connectAccess(outsideHost), "me", "type=zak")
	carol := o.connectAccess("carol@" + PartnerDomain)
	sig := func() string { return o.sign(o.sdkClaims(outsideNumber)) }
	joinOBF := func(what, access, as string) (string, string) {
		t.Helper()
		obf := o.mint(access, "me", "type=onbehalf&meeting_id="+outsideNumber)
		a := o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": obf})
		wantJoin(t, what, a, as)
		id, _ := a.json["sessionId"].(string)
		if len(id) < 16 {
			t.Fatalf("%s: no sessionId: %s", what, a.text)
		}
		return id, obf
	}
	for _, u := range []string{partnerUser, "carol@" + PartnerDomain} {
		if _, err := o.AddParticipant(outsideNumber, u); err != nil {
			t.Fatal(err)
		}
	}
	first, spent := joinOBF("bob's OBF", bob, "on behalf of "+partnerUser)
	s := o.session(first)
	wantSession(t, "joined", s, SessionInMeeting, "")
	if s["onBehalfOf"] != partnerUser || s["meetingNumber"] != outsideNumber || s["userName"] != "Bot" || s["sessionId"] != first {
		t.Errorf("session = %v", s)
	}
	if a := o.get("/sandbox/sdk/sessions/"+first+"/wait?timeoutSeconds=1", ""); a.status != 200 || a.json["state"] != SessionInMeeting {
		t.Errorf("a wait that runs out = %d %s", a.status, a.text)
	}
	carolSession, _ := joinOBF("carol's OBF", carol, "on behalf of carol@"+PartnerDomain)
	host := o.join(map[string]any{"signature": o.sign(with(o.sdkClaims(outsideNumber), "role", 1)), "meetingNumber": outsideNumber, "zak": hostZAK})
	wantJoin(t, "the host's ZAK", host, "host")
	hostSession, _ := host.json["sessionId"].(string)

	// bob leaves: his OBF's session ends, and a bot waiting on it hears at once.
	waited := make(chan answer, 1)
	go func() { waited <- o.get("/sandbox/sdk/sessions/"+first+"/wait?timeoutSeconds=4", "") }()
	time.Sleep(100 * time.Millisecond)
	if _, err := o.RemoveParticipant(outsideNumber, partnerUser); err != nil {
		t.Fatal(err)
	}
	w := <-waited
	if w.status != 200 {
		t.Fatalf("wait = %d %s", w.status, w.text)
	}
	wantSession(t, "bob left (the wait)", w.json, SessionEnded, SessionUserLeft)
	wantSession(t, "bob left", o.session(first), SessionEnded, SessionUserLeft)
	wantSession(t, "carol's, bob left", o.session(carolSession), SessionInMeeting, "")
	wantSession(t, "the host's, bob left", o.session(hostSession), SessionInMeeting, "")
	if a := o.get("/sandbox/sdk/sessions/"+first+"/wait", ""); a.status != 200 || a.json["state"] != SessionEnded {
		t.Errorf("a wait on an ended session = %d %s", a.status, a.text)
	}

	// One OBF per session: bob back, his spent OBF still cannot join; a fresh one can.
	if _, err := o.AddParticipant(outsideNumber, partnerUser); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "the spent OBF, bob back", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": spent}), 403, 4013)
	second, _ := joinOBF("bob's fresh OBF", bob, "on behalf of "+partnerUser)

	// The bot leaves; leaving again changes nothing.
	if a := o.send("DELETE", "/sandbox/sdk/sessions/"+carolSession, nil); a.status != 200 || a.json["reason"] != SessionLeft {
		t.Errorf("leave = %d %s", a.status, a.text)
	}
	if a := o.send("DELETE", "/sandbox/sdk/sessions/"+carolSession, nil); a.status != 200 || a.json["reason"] != SessionLeft {
		t.Errorf("leave again = %d %s", a.status, a.text)
	}

	// The meeting ends: every session in it.
	if err := o.EndMeeting(outsideNumber); err != nil {
		t.Fatal(err)
	}
	wantSession(t, "bob's second, meeting ended", o.session(second), SessionEnded, SessionMeetingEnded)
	wantSession(t, "the host's, meeting ended", o.session(hostSession), SessionEnded, SessionMeetingEnded)
	wantSession(t, "carol's, left before", o.session(carolSession), SessionEnded, SessionLeft)
}

// The last user leaving ends the meeting, and every session in it, the
// host's too.
func TestSDKSessionsEndWithTheLastUser(t *testing.T) {
	o := startOAuth(t, Options{})
	o.mustCreate(ownHost, ownNumber)
	if _, err := o.AddParticipant(ownNumber, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	a := o.join(map[string]any{"signature": o.sign(o.sdkClaims(ownNumber)), "meetingNumber": ownNumber})
	wantJoin(t, "own meeting, no token", a, "participant")
	id, _ := a.json["sessionId"].(string)
	if _, err := o.RemoveParticipant(ownNumber, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	wantSession(t, "the last user left", o.session(id), SessionEnded, SessionMeetingEnded)
}

func TestSDKSessionsBadRequests(t *testing.T) {
	o := startOAuth(t, Options{})
	o.mustCreate(ownHost, ownNumber)
	a := o.join(map[string]any{"signature": o.sign(o.sdkClaims(ownNumber)), "meetingNumber": ownNumber})
	id, _ := a.json["sessionId"].(string)
	for _, c := range []struct {
		method, path string
		status       int
		code         float64
	}{
		{"GET", "/sandbox/sdk/sessions/sdk_nosuchsession", 404, 404},
		{"GET", "/sandbox/sdk/sessions/sdk_nosuchsession/wait", 404, 404},
		{"DELETE", "/sandbox/sdk/sessions/sdk_nosuchsession", 404, 404},
		{"GET", "/sandbox/sdk/sessions/" + id + "/wait?timeoutSeconds=0", 400, 300},
		{"GET", "/sandbox/sdk/sessions/" + id + "/wait?timeoutSeconds=61", 400, 300},
		{"GET", "/sandbox/sdk/sessions/" + id + "/wait?timeoutSeconds=soon", 400, 300},
		{"GET", "/sandbox/sdk/sessions/" + id + "/wait?timeoutSeconds=1&timeoutSeconds=2", 400, 300},
		{"POST", "/sandbox/sdk/sessions/" + id, 404, 404},
		{"DELETE", "/sandbox/sdk/sessions/" + id + "/wait", 404, 404},
		{"GET", "/sandbox/sdk/sessions/", 404, 404},
		{"GET", "/sandbox/sdk/sessions/" + id + "/other", 404, 404},
	} {
		if a := o.send(c.method, c.path, nil); a.status != c.status || a.json["code"] != c.code {
			t.Errorf("%s %s = %d %s", c.method, c.path, a.status, a.text)
		}
	}
	wantSession(t, "after the bad requests", o.session(id), SessionInMeeting, "")
}
