package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	ownNumber     = "111111111"   // hosted by a user of the sandbox's account
	outsideNumber = "22222222222" // hosted by a user of the partner account
	ownHost       = "host@example.com"
	outsideHost   = "host@" + PartnerDomain
	partnerUser   = "bob@" + PartnerDomain
)

func (o *oauthSandbox) send(method, path string, body any) answer {
	o.t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, o.URL()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	return o.do(req)
}

func (o *oauthSandbox) now() time.Time { return time.Unix(0, o.clock.Load()) }

// mint gets a ZAK or OBF through the sandbox's own token endpoint with the bearer token.
func (o *oauthSandbox) mint(bearer, user, query string) string {
	o.t.Helper()
	a := o.get("/v2/users/"+user+"/token?"+query, bearer)
	if a.status != 200 {
		o.t.Fatalf("mint %s %s: %d %s", user, query, a.status, a.text)
	}
	return a.json["token"].(string)
}

// sdkClaims are a right Meeting SDK signature's claims for number, role 0.
func (o *oauthSandbox) sdkClaims(number string) jwt.MapClaims {
	key, _ := o.SDKApp()
	iat := o.now().Unix() - 30
	return jwt.MapClaims{"appKey": key, "sdkKey": key, "mn": number, "role": 0, "iat": iat, "exp": iat + 7200,
		"tokenExp": iat + 7200}
}

func (o *oauthSandbox) sign(c jwt.MapClaims) string {
	o.t.Helper()
	_, secret := o.SDKApp()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		o.t.Fatal(err)
	}
	return s
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func (o *oauthSandbox) join(body map[string]any) answer {
	o.t.Helper()
	if _, ok := body["userName"]; !ok {
		body["userName"] = "Bot"
	}
	return o.send("POST", "/sandbox/sdk/join", body)
}

func wantJoin(t *testing.T, what string, a answer, as string) {
	t.Helper()
	if a.status != 200 || a.json["joined"] != true || a.json["as"] != as {
		t.Errorf("%s: %d %s, want joined as %q", what, a.status, a.text, as)
	}
}

func wantRefused(t *testing.T, what string, a answer, status int, code float64) {
	t.Helper()
	if a.status != status || a.json["errorCode"] != code || a.json["joined"] != nil {
		t.Errorf("%s: %d %s, want %d errorCode %v", what, a.status, a.text, status, code)
	}
}

func (o *oauthSandbox) mustCreate(host, number string) {
	o.t.Helper()
	if a := o.send("POST", "/sandbox/meetings", map[string]any{"number": number, "host": host}); a.status != 201 {
		o.t.Fatalf("create %s: %d %s", number, a.status, a.text)
	}
}

func TestMeetingsEndpoints(t *testing.T) {
	o := startOAuth(t, Options{})
	a := o.send("POST", "/sandbox/meetings", map[string]any{"number": 123456789, "host": "Alice@Example.com"})
	if a.status != 201 || a.json["number"] != "123456789" || a.json["id"] != float64(123456789) ||
		a.json["host_id"] != UserID("alice@example.com") || a.json["account_id"] != "sandbox-account" ||
		a.json["status"] != "waiting" || a.json["uuid"] == "" {
		t.Fatalf("create: %d %s", a.status, a.text)
	}
	wantZoomErr(t, "same number again", o.send("POST", "/sandbox/meetings", map[string]any{"number": "123456789", "host": ownHost}), 409, 3000)
	wantZoomErr(t, "short number", o.send("POST", "/sandbox/meetings", map[string]any{"number": "12345678", "host": ownHost}), 400, 300)
	wantZoomErr(t, "host not an email", o.send("POST", "/sandbox/meetings", map[string]any{"number": "123456780", "host": OwnerID}), 400, 300)
	wantZoomErr(t, "unknown host", o.send("POST", "/sandbox/meetings", map[string]any{"number": "123456780", "host": "x@elsewhere.test"}), 404, 1001)
	wantZoomErr(t, "not JSON", o.send("POST", "/sandbox/meetings", "{"), 400, 300)
	if a := o.send("POST", "/sandbox/meetings", map[string]any{"host": outsideHost}); a.status != 201 ||
		!isMeetingNumber(a.json["number"].(string)) || a.json["account_id"] != PartnerAccountID {
		t.Fatalf("random number, partner host: %d %s", a.status, a.text)
	}

	a = o.send("POST", "/sandbox/meetings/123456789/participants", map[string]any{"user": partnerUser})
	if a.status != 200 || a.json["status"] != "started" || !slices.Equal(toStrings(a.json["participants"]), []string{UserID(partnerUser)}) {
		t.Fatalf("add: %d %s", a.status, a.text)
	}
	wantZoomErr(t, "add unknown user", o.send("POST", "/sandbox/meetings/123456789/participants", map[string]any{"user": "x@elsewhere.test"}), 404, 1001)
	wantZoomErr(t, "add to no meeting", o.send("POST", "/sandbox/meetings/999999999/participants", map[string]any{"user": partnerUser}), 404, 3001)
	a = o.send("DELETE", "/sandbox/meetings/123456789/participants/"+partnerUser, nil)
	if a.status != 200 || a.json["status"] != "waiting" || len(toStrings(a.json["participants"])) != 0 {
		t.Fatalf("remove: %d %s", a.status, a.text)
	}
	if a := o.send("GET", "/sandbox/meetings/123456789", nil); a.status != 200 || a.json["host_email"] != "alice@example.com" {
		t.Fatalf("get: %d %s", a.status, a.text)
	}
	if a := o.send("DELETE", "/sandbox/meetings/123456789", nil); a.status != 204 {
		t.Fatalf("end: %d %s", a.status, a.text)
	}
	wantZoomErr(t, "ended meeting", o.send("GET", "/sandbox/meetings/123456789", nil), 404, 3001)
	wantZoomErr(t, "end again", o.send("DELETE", "/sandbox/meetings/123456789", nil), 404, 3001)

	// The Go API.
	m, err := o.CreateMeeting(outsideHost, "")
	if err != nil || m.AccountID != PartnerAccountID || m.HostID != UserID(outsideHost) {
		t.Fatalf("CreateMeeting: %+v %v", m, err)
	}
	if m, err = o.AddParticipant(m.Number, OwnerID); err != nil || !slices.Equal(m.Participants, []string{OwnerID}) {
		t.Fatalf("AddParticipant: %+v %v", m, err)
	}
	if m, err = o.RemoveParticipant(m.Number, OwnerEmail); err != nil || len(m.Participants) != 0 {
		t.Fatalf("RemoveParticipant: %+v %v", m, err)
	}
	if err := o.EndMeeting(m.Number); err != nil {
		t.Fatal(err)
	}
	if _, err := o.AddParticipant(m.Number, OwnerID); err == nil {
		t.Fatal("AddParticipant to an ended meeting")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestGetMeetingAndLocalRecordingToken(t *testing.T) {
	o := startOAuth(t, Options{Scopes: ServerScopes, OAuthScopes: UserScopes})
	o.mustCreate(ownHost, ownNumber)
	o.mustCreate(outsideHost, outsideNumber)
	s2s := o.s2sToken()

	a := o.get("/v2/meetings/"+ownNumber, s2s)
	m, _ := o.GetMeeting(ownNumber)
	if a.status != 200 || a.json["id"] != float64(111111111) || a.json["uuid"] != m.UUID ||
		a.json["host_id"] != UserID(ownHost) || a.json["type"] != float64(2) || a.json["status"] != "waiting" || a.json["topic"] == "" {
		t.Fatalf("own meeting: %d %s", a.status, a.text)
	}
	a = o.get("/v2/meetings/"+outsideNumber, s2s)
	wantZoomErr(t, "outside meeting", a, 404, 3001)
	if a.json["message"] != "Meeting does not exist: "+outsideNumber+"." {
		t.Errorf("3001 message: %s", a.text)
	}
	wantZoomErr(t, "no such meeting", o.get("/v2/meetings/333333333", s2s), 404, 3001)
	wantZoomErr(t, "no token", o.get("/v2/meetings/"+ownNumber, ""), 401, 124)

	// Local recording: S2S for any meeting of the account.
	for _, q := range []string{"", "?bypass_waiting_room=true"} {
		a = o.get("/v2/meetings/"+ownNumber+"/jointoken/local_recording"+q, s2s)
		if a.status != 200 || a.json["expire_in"] != float64(120) || a.json["token"] == "" {
			t.Fatalf("S2S recording token%s: %d %s", q, a.status, a.text)
		}
		if !slices.Contains(o.IssuedSecrets(), a.json["token"].(string)) {
			t.Error("recording token not in IssuedSecrets")
		}
	}
	a = o.get("/v2/meetings/"+ownNumber+"/jointoken/local_recording?bypass_waiting_room=yes", s2s)
	wantZoomErr(t, "bad bypass_waiting_room", a, 400, 300)
	wantZoomErr(t, "S2S, outside meeting", o.get("/v2/meetings/"+outsideNumber+"/jointoken/local_recording", s2s), 404, 3001)
	wantZoomErr(t, "S2S, no meeting", o.get("/v2/meetings/333333333/jointoken/local_recording", s2s), 404, 3001)

	// A user's token: only the meetings that user hosts.
	host := o.connectAccess(outsideHost)
	if a = o.get("/v2/meetings/"+outsideNumber+"/jointoken/local_recording", host); a.status != 200 || a.json["expire_in"] != float64(120) {
		t.Fatalf("host's recording token: %d %s", a.status, a.text)
	}
	if a = o.get("/v2/meetings/"+outsideNumber, host); a.status != 200 {
		t.Fatalf("host reads its meeting: %d %s", a.status, a.text)
	}
	other := o.connectAccess(partnerUser)
	wantZoomErr(t, "user, meeting hosted by another", o.get("/v2/meetings/"+outsideNumber+"/jointoken/local_recording", other), 404, 3001)
	wantZoomErr(t, "user, meeting of another account", o.get("/v2/meetings/"+ownNumber+"/jointoken/local_recording", host), 404, 3001)
	if a := o.get("/v2/meetings/"+ownNumber+"/jointoken/live_streaming", s2s); a.status != 404 {
		t.Errorf("sibling endpoint: %d", a.status)
	}
}

func TestJoinJudge(t *testing.T) {
	o := startOAuth(t, Options{})
	o.mustCreate(ownHost, ownNumber)
	o.mustCreate(outsideHost, outsideNumber)
	hostAccess := o.connectAccess(outsideHost)
	bobAccess := o.connectAccess(partnerUser)
	hostZAK := o.mint(hostAccess, "me", "type=zak")
	bobZAK := o.mint(bobAccess, "me", "type=zak")
	bobOBF := func(number string) string { return o.mint(bobAccess, "me", "type=onbehalf&meeting_id="+number) }
	_, secret := o.SDKApp()
	out := o.sdkClaims(outsideNumber)
	now := o.now().Unix()

	t.Run("signature", func(t *testing.T) {
		own := o.sdkClaims(ownNumber)
		wantJoin(t, "right signature, own meeting", o.join(map[string]any{"signature": o.sign(own), "meetingNumber": ownNumber}), "participant")
		wantJoin(t, "number as a JSON number", o.join(map[string]any{"signature": o.sign(own), "meetingNumber": 111111111}), "participant")
		wantJoin(t, "mn as a number", o.join(map[string]any{"signature": o.sign(with(own, "mn", 111111111)), "meetingNumber": ownNumber}), "participant")
		wantJoin(t, "without tokenExp", o.join(map[string]any{"signature": o.sign(with(own, "tokenExp", nil)), "meetingNumber": ownNumber}), "participant")
		wrongSecret, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, own).SignedString([]byte(secret + "x"))
		hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, own).SignedString([]byte(secret))
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, own).SignedString(jwt.UnsafeAllowNoneSignatureType)
		for _, c := range []struct {
			name string
			sig  string
		}{
			{"wrong secret", wrongSecret},
			{"HS512", hs512},
			{"alg none", none},
			{"not a JWT", "abc"},
			{"no signature", ""},
			{"wrong appKey", o.sign(with(own, "appKey", "other"))},
			{"no appKey", o.sign(with(own, "appKey", nil))},
			{"wrong sdkKey", o.sign(with(own, "sdkKey", "other"))},
			{"expired", o.sign(with(own, "iat", now-7200, "exp", now, "tokenExp", nil))},
			{"not yet valid", o.sign(with(own, "iat", now+60, "exp", now+7260, "tokenExp", now+7260))},
			{"life under 1800 s", o.sign(with(own, "exp", now-30+1799, "tokenExp", nil))},
			{"life over 48 h", o.sign(with(own, "exp", now-30+172801, "tokenExp", nil))},
			{"tokenExp expired", o.sign(with(own, "iat", now-7200, "exp", now+100, "tokenExp", now))},
			{"tokenExp after exp", o.sign(with(own, "tokenExp", now-30+7201))},
			{"iat not a number", o.sign(with(own, "iat", "now"))},
			{"iat fractional", o.sign(with(own, "iat", float64(now)-0.5))},
			{"no exp", o.sign(with(own, "exp", nil, "tokenExp", nil))},
			{"mn of another meeting", o.sign(with(own, "mn", outsideNumber))},
			{"no mn", o.sign(with(own, "mn", nil))},
			{"role 2", o.sign(with(own, "role", 2))},
			{"role as a string", o.sign(with(own, "role", "0"))},
		} {
			wantRefused(t, c.name, o.join(map[string]any{"signature": c.sig, "meetingNumber": ownNumber}), 401, 3712)
		}
	})

	t.Run("request", func(t *testing.T) {
		sig := o.sign(out)
		wantRefused(t, "no userName", o.join(map[string]any{"signature": sig, "meetingNumber": outsideNumber, "userName": " "}), 400, 3000)
		wantRefused(t, "no meetingNumber", o.join(map[string]any{"signature": sig}), 400, 3000)
		wantRefused(t, "not JSON", o.send("POST", "/sandbox/sdk/join", "{"), 400, 3000)
		wantRefused(t, "ZAK and OBF both", o.join(map[string]any{"signature": sig, "meetingNumber": outsideNumber,
			"zak": hostZAK, "obfToken": bobOBF(outsideNumber)}), 400, 3000)
		gone := o.sdkClaims("333333333")
		wantRefused(t, "no such meeting", o.join(map[string]any{"signature": o.sign(gone), "meetingNumber": "333333333"}), 404, 3001)
	})

	t.Run("outside meeting needs a ZAK or an OBF", func(t *testing.T) {
		wantRefused(t, "SDK JWT alone", o.join(map[string]any{"signature": o.sign(out), "meetingNumber": outsideNumber}), 403, 4012)
	})

	t.Run("ZAK", func(t *testing.T) {
		host := o.sign(with(out, "role", 1))
		wantJoin(t, "host's ZAK, role 1", o.join(map[string]any{"signature": host, "meetingNumber": outsideNumber, "zak": hostZAK}), "host")
		wantJoin(t, "host's ZAK again (not single use)", o.join(map[string]any{"signature": host, "meetingNumber": outsideNumber, "zak": hostZAK}), "host")
		wantJoin(t, "another user's ZAK, role 0", o.join(map[string]any{"signature": o.sign(out), "meetingNumber": outsideNumber, "zak": bobZAK}), "participant")
		wantRefused(t, "role 1 without a ZAK", o.join(map[string]any{"signature": o.sign(with(o.sdkClaims(ownNumber), "role", 1)), "meetingNumber": ownNumber}), 403, 3000)
		wantRefused(t, "role 1 with an OBF", o.join(map[string]any{"signature": host, "meetingNumber": outsideNumber, "obfToken": bobOBF(outsideNumber)}), 403, 3000)
		wantRefused(t, "role 1, ZAK of another user", o.join(map[string]any{"signature": host, "meetingNumber": outsideNumber, "zak": bobZAK}), 403, 3000)
		forged := fakeJWT(UserID(outsideHost), "zak", "", o.now().Add(time.Hour))
		wantRefused(t, "ZAK the sandbox never issued", o.join(map[string]any{"signature": host, "meetingNumber": outsideNumber, "zak": forged}), 403, 4013)
		wantRefused(t, "an OBF as the ZAK", o.join(map[string]any{"signature": o.sign(out), "meetingNumber": outsideNumber, "zak": bobOBF(outsideNumber)}), 403, 4013)
		short := o.mint(hostAccess, "me", "type=zak&ttl=60")
		o.advance(61 * time.Second)
		wantRefused(t, "expired ZAK", o.join(map[string]any{"signature": o.sign(with(o.sdkClaims(outsideNumber), "role", 1)),
			"meetingNumber": outsideNumber, "zak": short}), 403, 4013)
	})

	t.Run("OBF", func(t *testing.T) {
		sig := func() string { return o.sign(o.sdkClaims(outsideNumber)) }
		if _, err := o.RemoveParticipant(outsideNumber, partnerUser); err != nil {
			t.Fatal(err)
		}
		first := bobOBF(outsideNumber)
		wantRefused(t, "user not in the meeting", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": first}), 403, 65535)
		if _, err := o.AddParticipant(outsideNumber, partnerUser); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "OBF spent by a refused join", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": first}), 403, 4013)
		fresh := bobOBF(outsideNumber)
		wantJoin(t, "fresh OBF, user in the meeting", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": fresh}), "on behalf of "+partnerUser)
		wantRefused(t, "second join with one OBF", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": fresh}), 403, 4013)
		o.mustCreate(outsideHost, "444444444")
		wantRefused(t, "OBF for another meeting", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": bobOBF("444444444")}), 403, 4013)
		wantRefused(t, "a ZAK as the OBF", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": bobZAK}), 403, 4013)
		forged := fakeJWT(UserID(partnerUser), "onbehalf", outsideNumber, o.now().Add(time.Hour))
		wantRefused(t, "OBF the sandbox never issued", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": forged}), 403, 4013)
		short := o.mint(bobAccess, "me", "type=onbehalf&ttl=60&meeting_id="+outsideNumber)
		o.advance(61 * time.Second)
		wantRefused(t, "expired OBF", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": short}), 403, 4013)
		if _, err := o.RemoveParticipant(outsideNumber, partnerUser); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "user left", o.join(map[string]any{"signature": sig(), "meetingNumber": outsideNumber, "obfToken": bobOBF(outsideNumber)}), 403, 65535)

		// An S2S-minted OBF, own meeting, its user in it.
		s2s := o.s2sToken()
		if _, err := o.AddParticipant(ownNumber, "carol@example.com"); err != nil {
			t.Fatal(err)
		}
		obf := o.mint(s2s, "carol@example.com", "type=onbehalf&meeting_id="+ownNumber)
		wantJoin(t, "S2S OBF, own meeting", o.join(map[string]any{"signature": o.sign(o.sdkClaims(ownNumber)), "meetingNumber": ownNumber, "obfToken": obf}), "on behalf of carol@example.com")
	})
}

func TestSDKAppOptions(t *testing.T) {
	o := startOAuth(t, Options{OAuthClientID: "gen", OAuthClientSecret: "gen-secret"})
	if k, s := o.SDKApp(); k != "gen" || s != "gen-secret" {
		t.Fatalf("default SDK app: %s %s", k, s)
	}
	p := startOAuth(t, Options{SDKKey: "sdk", SDKSecret: "sdk-secret"})
	if k, s := p.SDKApp(); k != "sdk" || s != "sdk-secret" {
		t.Fatalf("SDK app: %s %s", k, s)
	}
	p.mustCreate(ownHost, ownNumber)
	wantJoin(t, "signed with Options.SDKSecret", p.join(map[string]any{"signature": p.sign(p.sdkClaims(ownNumber)), "meetingNumber": ownNumber}), "participant")
}

// The meeting endpoints want their scopes, checked before the meeting is
// looked up; the user-token scope alone (the default) is not enough.
func TestMeetingEndpointsNeedTheirScopes(t *testing.T) {
	o := startOAuth(t, Options{Scopes: ScopeUserToken + " " + ScopeMeetingReadAdmin})
	o.mustCreate(ownHost, ownNumber)
	o.mustCreate(outsideHost, outsideNumber)
	s2s := o.s2sToken()
	if a := o.get("/v2/meetings/"+ownNumber, s2s); a.status != 200 {
		t.Fatalf("with meeting:read:meeting:admin: %d %s", a.status, a.text)
	}
	wantZoomErr(t, "recording token without its scope", o.get("/v2/meetings/"+ownNumber+"/jointoken/local_recording", s2s), 400, 4711)
	wantZoomErr(t, "no such meeting, without the scope", o.get("/v2/meetings/333333333/jointoken/local_recording", s2s), 400, 4711)
	o.SetScopes(ScopeUserToken)
	wantZoomErr(t, "meeting without its scope", o.get("/v2/meetings/"+ownNumber, o.s2sToken()), 400, 4711)
	o.SetScopes("meeting:read:admin") // the classic scope covers both
	classic := o.s2sToken()
	if a := o.get("/v2/meetings/"+ownNumber+"/jointoken/local_recording", classic); a.status != 200 {
		t.Fatalf("classic scope: %d %s", a.status, a.text)
	}
	// A user's grant with the default scopes (user tokens only).
	wantZoomErr(t, "user grant without the scope", o.get("/v2/meetings/"+outsideNumber+"/jointoken/local_recording", o.connectAccess(outsideHost)), 400, 4711)
	if m, r := o.MeetingAPICalls(); m != 2 || r != 4 {
		t.Errorf("MeetingAPICalls = %d, %d; want 2, 4", m, r)
	}
}

// ControlHandler serves the control routes and nothing of the Zoom side:
// a server mounts it on its own port without exposing OAuth or /v2.
func TestControlHandlerServesOnlyTheControls(t *testing.T) {
	sb := New(Options{})
	h := sb.ControlHandler()
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://x"+path, bytes.NewReader([]byte(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	if st, m := call("POST", "/sandbox/meetings", `{"number":"123456789","host":"`+ownHost+`"}`); st != 201 || m["number"] != "123456789" {
		t.Fatalf("create = %d %v", st, m)
	}
	if st, m := call("POST", "/sandbox/meetings/123456789/participants", `{"user":"pat@example.com"}`); st != 200 || m["status"] != "started" {
		t.Fatalf("add = %d %v", st, m)
	}
	if st, m := call("GET", "/sandbox/meetings/123456789", ""); st != 200 || len(m["participants"].([]any)) != 1 {
		t.Fatalf("get = %d %v", st, m)
	}
	if st, m := call("POST", "/sandbox/sdk/join", `{}`); st != 400 || m["errorCode"] != float64(3000) {
		t.Fatalf("judge = %d %v", st, m)
	}
	for _, p := range [][2]string{{"POST", "/oauth/token"}, {"GET", "/oauth/authorize"}, {"GET", "/v2/users/me/token"},
		{"GET", "/v2/meetings/123456789"}, {"GET", "/"}, {"GET", "/sandbox/"}} {
		if st, m := call(p[0], p[1], ""); st != 404 || m["code"] != float64(404) {
			t.Errorf("%s %s = %d %v, want 404", p[0], p[1], st, m)
		}
	}
}
