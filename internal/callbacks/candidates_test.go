package callbacks

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// present is a fake Candidates: the users in the meeting (nil: presence
// unknown), and the lists it was asked about.
type present struct {
	in    []string
	asked [][]zoom.UserID
}

func (p *present) ChooseCandidate(_ context.Context, meeting zoom.MeetingID, users []zoom.UserID) (awaits.CandidateChoice, error) {
	p.asked = append(p.asked, users)
	if p.in == nil {
		return awaits.CandidateChoice{User: users[0]}, nil
	}
	for _, u := range users {
		for _, in := range p.in {
			if u.String() == in {
				return awaits.CandidateChoice{User: u}, nil
			}
		}
	}
	return awaits.CandidateChoice{}, &apperr.Error{Kind: apperr.ErrNoCandidate, Message: "None of the candidates is in meeting " + meeting.String() + " now."}
}

func users(t *testing.T, ids ...string) []zoom.UserID {
	t.Helper()
	out := make([]zoom.UserID, len(ids))
	for i, id := range ids {
		u, reason := zoom.ParseUserID(id)
		if reason != "" {
			t.Fatal(id, reason)
		}
		out[i] = u
	}
	return out
}

func quoted(ids []string) string {
	return `["` + strings.Join(ids, `","`) + `"]`
}

// Bad candidates in a create request: each refused with a reason naming
// the field (and, for one element, its place).
func TestDecodeCreateCandidates(t *testing.T) {
	u := &URLs{cfg: URLsConfig{MaxLifetime: time.Hour}}
	var many, long []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("u%d@example.com", i))
	}
	for i := range 50 {
		long = append(long, fmt.Sprintf("a-rather-long-local-part-number-%02d@a-long-domain.example.com", i))
	}
	const tail = `"meetingId": "85746065432", "expiresInSeconds": 60}`
	tests := []struct{ body, want string }{
		{`{"kind": "obf", "userId": "a@example.com", "userIds": ["a@example.com"], ` + tail, "userIds goes in place of userId: send one of them\n"},
		{`{"kind": "zak", "userIds": ["a@example.com"], "expiresInSeconds": 60}`, "userIds applies to kind obf only (candidates for an OBF); kind zak takes one userId\n"},
		{`{"kind": "obf", "userIds": [], ` + tail, "userIds must list 1 to 50 candidates (it lists 0)\n"},
		{`{"kind": "obf", "userIds": ` + quoted(many) + `, ` + tail, "userIds must list 1 to 50 candidates (it lists 51)\n"},
		{`{"kind": "obf", "userIds": "a@example.com", ` + tail, "userIds must be an array of Zoom user ids or emails, in order of preference\n"},
		{`{"kind": "obf", "userIds": ["a@example.com", 7, "me", "b@example.com", "A@EXAMPLE.COM"], ` + tail,
			"userIds[1] must be a string (a Zoom user id or email)\n" +
				`userIds[2] must name a user: "me" is Zoom's alias for the token's own user` + "\n" +
				"userIds[4] names the same user as userIds[0]: list each candidate once\n"},
		{`{"kind": "obf", "userIds": ` + quoted(long) + `, ` + tail, "userIds take 3149 characters in the URL, more than the 2000 a callback URL may give them: " +
			"name fewer candidates, or name them by Zoom user id (22 characters) rather than by email\n"},
	}
	for _, tt := range tests {
		_, err := u.DecodeCreate([]byte(tt.body))
		if got := reasons(t, err); got != tt.want {
			t.Errorf("%.60s:\n%s\nwant\n%s", tt.body, got, tt.want)
		}
	}
	in, err := u.DecodeCreate([]byte(`{"kind": "obf", "userIds": ["b@example.com", "a+x@example.com"], ` + tail))
	if err != nil || len(in.Users) != 2 || !in.User.IsZero() || in.Users[1].String() != "a+x@example.com" {
		t.Fatalf("a good request: %+v, %v", in, err)
	}
}

// A URL with candidates carries them signed: it verifies as made; any
// change to the list (order, one more, one less, moved into user=) breaks
// its signature; a list of one never verifies as a one-user URL.
func TestSignedURLWithCandidates(t *testing.T) {
	s := testSigner(t)
	now := time.Unix(1_900_000_000, 0)
	c := claims(t, KindOBF)
	c.User, c.Users = zoom.UserID{}, users(t, "pat+bot@example.com", "kim@example.com", "AbCdEfGhIjKlMnOpQrStUv")
	raw := s.URL(c)
	if !strings.Contains(raw, "?users=pat%2Bbot%40example.com,kim%40example.com,AbCdEfGhIjKlMnOpQrStUv&meeting=") || strings.Contains(raw, "user=") {
		t.Fatalf("URL %s", raw)
	}
	kind, q := split(t, raw)
	got, err := s.Verify(kind, q, now)
	if err != nil || !got.User.IsZero() || JoinUsers(got.Users) != "pat+bot@example.com,kim@example.com,AbCdEfGhIjKlMnOpQrStUv" {
		t.Fatalf("verify = %+v, %v", got, err)
	}
	for name, change := range map[string]func(q url.Values){
		"reordered":  func(q url.Values) { q.Set("users", "kim@example.com,pat+bot@example.com,AbCdEfGhIjKlMnOpQrStUv") },
		"one more":   func(q url.Values) { q.Set("users", q.Get("users")+",lee@example.com") },
		"one less":   func(q url.Values) { q.Set("users", "pat+bot@example.com,kim@example.com") },
		"as user":    func(q url.Values) { q.Set("user", q.Get("users")); q.Del("users") },
		"both":       func(q url.Values) { q.Set("user", "pat+bot@example.com") },
		"twice":      func(q url.Values) { q.Add("users", "kim@example.com") },
		"other kind": nil,
	} {
		q2, k := url.Values{}, kind
		for key, v := range q {
			q2[key] = append([]string(nil), v...)
		}
		if change == nil {
			k = string(KindZAK)
		} else {
			change(q2)
		}
		if _, err := s.Verify(k, q2, now); apperr.Code(err) != apperr.CodeInvalidSignature {
			t.Errorf("%s: %v", name, err)
		}
	}
	// One candidate is not one user: the URLs differ, and neither verifies as the other.
	one := c
	one.Users = users(t, "kim@example.com")
	_, qList := split(t, s.URL(one))
	single := claims(t, KindOBF)
	single.User, single.ID = one.Users[0], one.ID
	_, qOne := split(t, s.URL(single))
	qList.Set("user", qList.Get("users"))
	qList.Del("users")
	if _, err := s.Verify(kind, qList, now); err == nil {
		t.Fatal("a one-candidate URL's signature verified as a one-user URL's")
	}
	if qOne.Get("sig") == qList.Get("sig") {
		t.Fatal("one candidate and one user signed the same")
	}
}

// Redeem mints for the candidate chosen, just in time; none present is a
// 404 with the reason; the maker is re-checked for every candidate.
func TestRedeemCandidates(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0)
	p := &present{in: []string{"kim@example.com"}}
	u, err := NewURLs(URLsConfig{Signer: testSigner(t), Tokens: fakeTokens{}, Candidates: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := zoom.MeetingIDFromString("85746065432")
	admin := services.Identity{Subject: "api-key:0123abcd", Role: services.RoleAdmin, Method: "api_key"}
	made, err := u.Create(ctx, admin, CreateInput{Kind: KindOBF, Users: users(t, "pat@example.com", "kim@example.com"), Meeting: m, ExpiresIn: time.Hour})
	if err != nil || !made.Claims.User.IsZero() {
		t.Fatalf("create: %+v, %v", made.Claims, err)
	}
	kind, q := split(t, made.URL)
	a, err := u.Redeem(ctx, kind, q)
	if err != nil || a.User.String() != "kim@example.com" || a.Token.Reveal() != "tok-onbehalf" || len(p.asked) != 1 || len(p.asked[0]) != 2 {
		t.Fatalf("present candidate: %+v, %v, asked %v", a, err, p.asked)
	}
	p.in = []string{"lee@example.com"}
	if _, err := u.Redeem(ctx, kind, q); apperr.Code(err) != apperr.CodeNotFound || !strings.Contains(apperr.PublicMessage(err), "None of the candidates") {
		t.Fatalf("none present: %v", err)
	}
	p.in = nil
	if a, err := u.Redeem(ctx, kind, q); err != nil || a.User.String() != "pat@example.com" {
		t.Fatalf("presence unknown: %+v, %v", a, err)
	}

	// A host may list only itself; a refusal names the user.
	host := services.Identity{Subject: "pat@example.com", User: users(t, "pat@example.com")[0], Role: services.RoleHost, Method: "jwt"}
	if _, err := u.Create(ctx, host, CreateInput{Kind: KindOBF, Users: users(t, "pat@example.com", "kim@example.com"), Meeting: m, ExpiresIn: time.Hour}); apperr.Code(err) != apperr.CodeForbidden ||
		!strings.Contains(apperr.PublicMessage(err), "kim@example.com") {
		t.Fatalf("a host listing another user: %v", err)
	}
	mine, err := u.Create(ctx, host, CreateInput{Kind: KindOBF, Users: users(t, "PAT@example.com"), Meeting: m, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatalf("a host listing itself: %v", err)
	}
	if _, err := u.Revoke(ctx, host, RevokeInput{URL: mine.URL}); err != nil {
		t.Fatalf("a host revoking its own candidates' URL: %v", err)
	}
	// Signed with the key, as no Create makes it: a host's URL listing
	// another user is refused at use, naming that user.
	c := Claims{Kind: KindOBF, Users: users(t, "pat@example.com", "kim@example.com"), Meeting: m, Expires: now.Add(time.Hour), ID: NewID(),
		By: "pat@example.com", ByRole: services.RoleHost}
	kind, q = split(t, u.cfg.Signer.URL(c))
	if _, err := u.Redeem(ctx, kind, q); apperr.Code(err) != apperr.CodeForbidden || !strings.Contains(apperr.PublicMessage(err), "its candidate kim@example.com") {
		t.Fatalf("a host's URL with another candidate: %v", err)
	}
}

// Attendee's metadata names candidates as zoom_user_ids: a comma-separated
// string (metadata that must hold strings) or a list; bad ones are 400s
// naming the key.
func TestAttendeeCandidates(t *testing.T) {
	a := &Attendee{}
	base := func(meta string) map[string]any {
		p := map[string]any{"callback_type": "zoom_tokens", "meeting_url": "https://zoom.us/j/85746065432"}
		if meta != "" {
			var m map[string]any
			if _, v, err := Canonical([]byte(meta)); err != nil {
				t.Fatal(err)
			} else {
				m = v.(map[string]any)
			}
			p["bot_metadata"] = m
		}
		return p
	}
	for meta, want := range map[string]string{
		`{"zoom_user_ids": "pat@example.com, kim@example.com"}`:     "pat@example.com,kim@example.com",
		`{"zoom_user_ids": ["pat@example.com", "kim@example.com"]}`: "pat@example.com,kim@example.com",
		`{"zoom_user_ids": "kim@example.com"}`:                      "kim@example.com",
	} {
		r, err := a.Parse(base(meta))
		if err != nil || JoinUsers(r.Users) != want || !r.User.IsZero() {
			t.Errorf("%s: %+v, %v", meta, r, err)
		}
	}
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("u%d@example.com", i))
	}
	for meta, want := range map[string]string{
		`{"zoom_user_id": "pat@example.com", "zoom_user_ids": "kim@example.com"}`: "bot_metadata.zoom_user_ids goes in place of zoom_user_id: name one user or the candidates, not both\n",
		`{"zoom_user_ids": "pat@example.com,,kim@example.com"}`:                   "bot_metadata.zoom_user_ids[1] is required\n",
		`{"zoom_user_ids": "pat@example.com,PAT@example.com"}`:                    "bot_metadata.zoom_user_ids[1] names a user listed before it: list each candidate once\n",
		`{"zoom_user_ids": "` + strings.Join(many, ",") + `"}`:                    "bot_metadata.zoom_user_ids must list 1 to 50 candidates (it lists 51)\n",
		`{"zoom_user_ids": ["pat@example.com", 1]}`:                               "bot_metadata.zoom_user_ids must be a list of strings (Zoom user ids or emails)\n",
		`{"zoom_user_ids": 5}`: "bot_metadata.zoom_user_ids must be a comma-separated string (or a list) of Zoom user ids or emails\n",
		`{"zoom_user_ids": "pat@example.com", "zoom_token_type": "zak"}`:       "bot_metadata.zoom_user_ids names OBF candidates: it does not go with zoom_token_type zak (a ZAK is one user's: use zoom_user_id)\n",
		`{"zoom_user_ids": "pat@example.com", "zoom_recording_token": "true"}`: "bot_metadata.zoom_recording_token is minted as the meeting's host, named by zoom_user_id: it does not go with zoom_user_ids\n",
	} {
		_, err := a.Parse(base(meta))
		if got := reasons(t, err); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", meta, got, want)
		}
	}
}
