package callbacks

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

type fakeTokens struct{}

func (fakeTokens) BotToken(_ context.Context, mr zoom.MintRequest) (services.Minted, error) {
	return services.Minted{Token: zoom.Token{Type: mr.Type, UserID: mr.UserID, Value: secret.New("tok-" + string(mr.Type))}, Via: services.ViaAccount}, nil
}

func testSigner(t *testing.T) *Signer {
	t.Helper()
	s, err := NewSigner(secret.New(strings.Repeat("k", 32)), "https://tokens.example.com/base/")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(t *testing.T, kind Kind) Claims {
	u, _ := zoom.ParseUserID("host@example.com")
	c := Claims{Kind: kind, User: u, Expires: time.Unix(2_000_000_000, 0), ID: NewID(), Once: true,
		By: "host@example.com", ByRole: services.RoleHost}
	if kind.NeedsMeeting() {
		c.Meeting, _ = zoom.MeetingIDFromString("85746065432")
	}
	return c
}

func split(t *testing.T, raw string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	kind, ok := strings.CutPrefix(u.Path, "/base/api/callbacks/")
	if !ok {
		t.Fatalf("path %s", u.Path)
	}
	return kind, u.Query()
}

func TestSignedURLRoundTripAndTampering(t *testing.T) {
	s := testSigner(t)
	now := time.Unix(1_900_000_000, 0)
	for _, k := range Kinds {
		c := claims(t, k)
		kind, q := split(t, s.URL(c))
		got, err := s.Verify(kind, q, now)
		if err != nil {
			t.Fatalf("%s: own URL refused: %v", k, err)
		}
		if got.By != "host@example.com" || got.ByRole != services.RoleHost {
			t.Fatalf("%s: maker %q %q", k, got.By, got.ByRole)
		}
		if got.Kind != k || got.User.String() != "host@example.com" || got.ID != c.ID || !got.Once || !got.Expires.Equal(c.Expires) || got.Meeting != c.Meeting {
			t.Fatalf("%s: claims %+v", k, got)
		}
		// Every signed part changed alone is refused.
		for _, change := range []func(q url.Values){
			func(q url.Values) { q.Set("user", "other@example.com") },
			func(q url.Values) { q.Set("exp", "2000000001") },
			func(q url.Values) { q.Del("once") },
			func(q url.Values) { q.Set("id", NewID()) },
			func(q url.Values) { q.Set("meeting", "85746065433") },
			func(q url.Values) { q.Set("sig", flip(q.Get("sig"), 0)) },
			func(q url.Values) { q.Set("sig", flip(q.Get("sig"), 42)) }, // the last character: 4 bits and 2 unused ones
			func(q url.Values) { q.Add("user", "other@example.com") },
			func(q url.Values) { q.Del("sig") },
			func(q url.Values) { q.Set("by", "admin@example.com") },
			func(q url.Values) { q.Set("role", "admin") },
			func(q url.Values) { q.Set("by", "api-key:0123abcd") },
		} {
			q2 := url.Values{}
			for key, v := range q {
				q2[key] = append([]string(nil), v...)
			}
			change(q2)
			if _, err := s.Verify(kind, q2, now); err == nil {
				t.Errorf("%s: altered URL %s accepted", k, q2.Encode())
			}
		}
		other := KindZAK
		if k == KindZAK {
			other = KindAccessToken
		}
		if _, err := s.Verify(string(other), q, now); err == nil {
			t.Errorf("%s: URL accepted on another kind's path", k)
		}
		if _, err := s.Verify(kind, q, c.Expires); err == nil {
			t.Errorf("%s: accepted at its expiry", k)
		}
	}
}

func TestMemoryStateIsBoundedAndExpires(t *testing.T) {
	now := time.Unix(1_000, 0)
	m := NewMemory(2, func() time.Time { return now })
	ctx := context.Background()
	until := now.Add(time.Minute)
	if u, _ := m.Use(ctx, "a", true, until); u != UseOK {
		t.Fatal("first use refused")
	}
	if u, _ := m.Use(ctx, "a", true, until); u != UseSpent {
		t.Fatal("second use of a single-use URL allowed")
	}
	_ = m.Unspend(ctx, "a")
	if u, _ := m.Use(ctx, "a", true, until); u != UseOK {
		t.Fatal("a URL given back is refused")
	}
	if err := m.Revoke(ctx, "b", until); err != nil {
		t.Fatal(err)
	}
	if u, _ := m.Use(ctx, "b", false, until); u != UseRevoked {
		t.Fatal("revoked URL allowed")
	}
	if err := m.Revoke(ctx, "c", until); err == nil {
		t.Fatal("a full state took a third entry")
	}
	if u, _ := m.Use(ctx, "d", false, until); u != UseOK {
		t.Fatal("a multi-use URL needs no entry, yet was refused")
	}
	now = until // both entries expire: room again
	if err := m.Revoke(ctx, "c", now.Add(time.Minute)); err != nil || m.Len() != 1 {
		t.Fatalf("expired entries were not dropped: %v, %d held", err, m.Len())
	}
}

// flip changes the character at i of a base64url string.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// A refusal that retrying cannot mend answers 404 whatever its own kind
// (Recall: a join token that cannot be minted is a 404), keeping the reason;
// a passing failure keeps its code.
func TestNotMintableIsNotFound(t *testing.T) {
	for _, kind := range []error{apperr.ErrForbidden, apperr.ErrInvalidInput, apperr.ErrNotConnected, apperr.ErrConnectionLost, apperr.ErrUserNotFound, apperr.ErrZoomRejected} {
		err := notMintable("op", KindJoinToken, &apperr.Error{Kind: kind, Message: "Because."})
		if apperr.Code(err) != apperr.CodeNotFound || !strings.Contains(apperr.PublicMessage(err), "Because.") {
			t.Errorf("%v: code %s, message %q", kind, apperr.Code(err), apperr.PublicMessage(err))
		}
	}
	if err := notMintable("op", KindOBF, &apperr.Error{Kind: apperr.ErrZoomUnavailable}); apperr.Code(err) != apperr.CodeZoomUnavailable {
		t.Errorf("Zoom down became %s", apperr.Code(err))
	}
}

// makers is a fake Makers: the API keys still configured.
type makers map[string]bool

func (m makers) Accepts(id services.Identity) bool { return id.Method != "api_key" || m[id.Subject] }

// Each use re-checks that the URL's maker may still mint for its user: an
// API key removed since, or a rule that now refuses, is 403 and mints
// nothing; a host's URL for itself and a current key's URL answer.
func TestRedeemRechecksTheMaker(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0)
	keys := makers{"api-key:0123abcd": true}
	u, err := NewURLs(URLsConfig{Signer: testSigner(t), Tokens: fakeTokens{}, Makers: keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := zoom.ParseUserID("host@example.com")
	byHost, err := u.Create(ctx, services.Identity{Subject: "host@example.com", User: host, Role: services.RoleHost, Method: "jwt"},
		CreateInput{Kind: KindZAK, User: host, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	byKey, err := u.Create(ctx, services.Identity{Subject: "api-key:0123abcd", Role: services.RoleAdmin, Method: "api_key"},
		CreateInput{Kind: KindZAK, User: host, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if byKey.Claims.By != "api-key:0123abcd" || byKey.Claims.ByRole != services.RoleAdmin || byHost.Claims.By != "host@example.com" {
		t.Fatalf("makers recorded: %+v, %+v", byKey.Claims, byHost.Claims)
	}
	for _, raw := range []string{byHost.URL, byKey.URL} {
		kind, q := split(t, raw)
		if a, err := u.Redeem(ctx, kind, q); err != nil || a.Token.Reveal() == "" {
			t.Fatalf("%s: %v", raw, err)
		}
	}
	// The key is removed from API_KEYS: its URL mints no more.
	delete(keys, "api-key:0123abcd")
	kind, q := split(t, byKey.URL)
	if _, err := u.Redeem(ctx, kind, q); apperr.Code(err) != apperr.CodeForbidden || !strings.Contains(apperr.PublicMessage(err), "no longer accepted") {
		t.Fatalf("URL of a removed key: %v", err)
	}
	// A host's URL for another user (signed with the key, as no Create
	// makes it): the rule refuses it at use.
	c := Claims{Kind: KindZAK, User: host, Expires: now.Add(time.Hour), ID: NewID(), By: "other@example.com", ByRole: services.RoleHost}
	kind, q = split(t, u.cfg.Signer.URL(c))
	if _, err := u.Redeem(ctx, kind, q); apperr.Code(err) != apperr.CodeForbidden || !strings.Contains(apperr.PublicMessage(err), "may no longer mint") {
		t.Fatalf("a host's URL for another user: %v", err)
	}
	// A URL of the earlier format (no maker) is refused with its reason.
	_, q = split(t, byHost.URL)
	q.Del("by")
	q.Del("role")
	if _, err := u.Redeem(ctx, kind, q); apperr.Code(err) != apperr.CodeInvalidSignature || !strings.Contains(apperr.PublicMessage(err), "earlier version") {
		t.Fatalf("a URL without its maker: %v", err)
	}
}
