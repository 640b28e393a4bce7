package gate_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

func hs(t *testing.T, c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	a, err := gate.NewAuthenticator(gate.AuthConfig{JWTSecret: secret.New(testSecret), Issuer: "https://idp.example.com", Audience: "token-server",
		APIKeys: []secret.Value{secret.New("key-one-0123456789"), secret.New("key-two-0123456789")}})
	if err != nil {
		t.Fatal(err)
	}
	good := jwt.MapClaims{"sub": "a@example.com", "role": "host", "exp": exp, "iss": "https://idp.example.com", "aud": "token-server"}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name string
		cred string
		want services.Identity
		err  string
	}{
		{"jwt", hs(t, good), services.Identity{Subject: "a@example.com", User: user("a@example.com"), Role: services.RoleHost, Method: "jwt"}, ""},
		{"no role is participant", hs(t, with("role", nil)), services.Identity{Subject: "a@example.com", User: user("a@example.com"), Role: services.RoleParticipant, Method: "jwt"}, ""},
		{"api key", "key-two-0123456789", services.Identity{Subject: "api-key:" + gate.KeyFingerprint("key-two-0123456789"), Role: services.RoleAdmin, Method: "api_key"}, ""},
		{"wrong issuer", hs(t, with("iss", "https://evil.example.com")), services.Identity{}, "issuer"},
		{"wrong audience", hs(t, with("aud", "other")), services.Identity{}, "audience"},
		{"no exp", hs(t, with("exp", nil)), services.Identity{}, "exp"},
		{"no sub", hs(t, with("sub", nil)), services.Identity{}, "sub"},
		{"bad role", hs(t, with("role", "root")), services.Identity{}, "role"},
		{"garbage", "nonsense", services.Identity{}, "neither"},
		{"empty", "", services.Identity{}, "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := a.Authenticate(context.Background(), c.cred)
			if c.err == "" {
				if err != nil || id != c.want {
					t.Fatalf("got %+v, %v; want %+v", id, err, c.want)
				}
				return
			}
			if !errors.Is(err, apperr.ErrUnauthenticated) || !containsFold(apperr.PublicMessage(err), c.err) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.err)
			}
		})
	}
}

func TestAuthenticateWithJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
		b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, jwks)
	}))
	defer idp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{idp.URL})
	if err != nil {
		t.Fatal(err)
	}
	a, err := gate.NewAuthenticator(gate.AuthConfig{JWKS: kf.Keyfunc})
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "idp-user", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(ctx, signed)
	if err != nil || id.Subject != "idp-user" || id.Role != services.RoleAdmin {
		t.Fatalf("RS256 via JWKS: %+v %v", id, err)
	}
	// An HS256 token is refused when only a JWKS is configured.
	if _, err := a.Authenticate(ctx, hs(t, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})); !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Fatalf("HS256 without a testSecret: %v", err)
	}
	// A token signed by another key is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := tok.SignedString(other)
	if _, err := a.Authenticate(ctx, forged); !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Fatalf("forged RS256: %v", err)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Caller JWTs are held to a maximum lifetime, numeric dates, an iat not in
// the future and no unknown critical extension.
func TestJWTStrictness(t *testing.T) {
	now := time.Now()
	a, err := gate.NewAuthenticator(gate.AuthConfig{JWTSecret: secret.New(testSecret), MaxTTL: 2 * time.Hour,
		Issuer: "https://idp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "kate@example.com", "role": "host", "iss": "https://idp.example.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	critical := jwt.NewWithClaims(jwt.SigningMethodHS256, base())
	critical.Header["crit"] = []string{"http://example.com/unknown"}
	critSigned, err := critical.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cred string
		err  string // "" = accepted
	}{
		{"good", hs(t, base()), ""},
		{"no iat is fine", hs(t, with("iat", nil)), ""},
		{"exp years ahead", hs(t, with("exp", now.Add(3*365*24*time.Hour).Unix())), "AUTH_JWT_MAX_TTL"},
		{"exp just over the limit", hs(t, with("exp", now.Add(2*time.Hour+2*time.Minute).Unix())), "AUTH_JWT_MAX_TTL"},
		{"issued long before exp", hs(t, with("iat", now.Add(-5*time.Hour).Unix())), "exp − iat"},
		{"iat in the future", hs(t, with("iat", now.Add(10*time.Minute).Unix())), "iat is in the future"},
		{"exp as a string", hs(t, with("exp", fmt.Sprint(now.Add(time.Hour).Unix()))), "must be numbers"},
		{"iat as a string", hs(t, with("iat", fmt.Sprint(now.Unix()))), "must be numbers"},
		{"role as a number", hs(t, with("role", 1)), "role"},
		{"unknown crit header", critSigned, "crit"},
		{"missing iss is not called a missing exp", hs(t, with("iss", nil)), "no iss claim"},
		{"missing exp", hs(t, with("exp", nil)), "no exp claim"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := a.Authenticate(context.Background(), c.cred)
			if c.err == "" {
				if err != nil || id.Subject != "kate@example.com" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, apperr.ErrUnauthenticated) || !containsFold(apperr.PublicMessage(err), c.err) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.err)
			}
		})
	}
	// The default is 24 hours.
	d, _ := gate.NewAuthenticator(gate.AuthConfig{JWTSecret: secret.New(testSecret)})
	if _, err := d.Authenticate(context.Background(), hs(t, with("exp", now.Add(23*time.Hour).Unix()))); err != nil {
		t.Fatalf("23 h refused by default: %v", err)
	}
	if _, err := d.Authenticate(context.Background(), hs(t, with("exp", now.Add(25*time.Hour).Unix()))); err == nil {
		t.Fatal("25 h accepted by default")
	}
}

// Unicode look-alikes of a user's email are refused as a sub.
func TestSubMustBeAnAllowedID(t *testing.T) {
	a, _ := gate.NewAuthenticator(gate.AuthConfig{JWTSecret: secret.New(testSecret)})
	for _, sub := range []string{"\u212Aate@example.com", "\u017Fam@example.com", "\xffkate@example.com", "me", "a/b"} {
		tok := hs(t, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
		if id, err := a.Authenticate(context.Background(), tok); err == nil {
			t.Errorf("sub %q accepted as %q", sub, id.Subject)
		}
	}
}

func TestAuthGuard(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := gate.NewMemoryGuard(10, func() time.Time { return now })
	for i := 0; i < 10; i++ {
		if ok, _ := g.Allow("203.0.113.7:5555"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
		g.Failed("203.0.113.7:5555")
	}
	ok, wait := g.Allow("203.0.113.7:6666") // another port, same address
	if ok || wait < time.Second || wait > 6*time.Second {
		t.Fatalf("11th failure allowed: %v, wait %s", ok, wait)
	}
	if ok, _ := g.Allow("203.0.113.8"); !ok {
		t.Fatal("another address is refused")
	}
	// IPv6: one /64 is one unit.
	for i := 0; i < 10; i++ {
		g.Failed(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
	}
	if ok, _ := g.Allow("2001:db8:1:2:ffff::1"); ok {
		t.Fatal("a /64 that failed 10 times is allowed")
	}
	if ok, _ := g.Allow("2001:db8:1:3::1"); !ok {
		t.Fatal("another /64 is refused")
	}
	// One more try every 6 s.
	now = now.Add(6 * time.Second)
	if ok, _ := g.Allow("203.0.113.7"); !ok {
		t.Fatal("not allowed again after the refill")
	}
	// Forgotten once refilled.
	now = now.Add(2 * time.Minute)
	g.Failed("198.51.100.1")
	if n := g.Tracked(); n != 1 {
		t.Fatalf("%d addresses tracked after they refilled, want 1", n)
	}
}

func user(s string) zoom.UserID {
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		panic(reason)
	}
	return u
}
