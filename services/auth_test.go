package services_test

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

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/services"
)

const secret = "0123456789abcdef0123456789abcdef-test"

func hs(t *testing.T, c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	a, err := services.NewAuthenticator(services.AuthConfig{JWTSecret: services.NewSecret(secret), Issuer: "https://idp.example.com", Audience: "token-server",
		APIKeys: []services.Secret{services.NewSecret("key-one-0123456789"), services.NewSecret("key-two-0123456789")}})
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
		{"jwt", hs(t, good), services.Identity{Subject: "a@example.com", Role: services.RoleHost, Method: "jwt"}, ""},
		{"no role is participant", hs(t, with("role", nil)), services.Identity{Subject: "a@example.com", Role: services.RoleParticipant, Method: "jwt"}, ""},
		{"api key", "key-two-0123456789", services.Identity{Subject: "api-key:" + services.KeyFingerprint("key-two-0123456789"), Role: services.RoleAdmin, Method: "api_key"}, ""},
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
			if !errors.Is(err, services.ErrUnauthenticated) || !containsFold(services.PublicMessage(err), c.err) {
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
	a, err := services.NewAuthenticator(services.AuthConfig{JWKS: kf.Keyfunc})
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
	if _, err := a.Authenticate(ctx, hs(t, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})); !errors.Is(err, services.ErrUnauthenticated) {
		t.Fatalf("HS256 without a secret: %v", err)
	}
	// A token signed by another key is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := tok.SignedString(other)
	if _, err := a.Authenticate(ctx, forged); !errors.Is(err, services.ErrUnauthenticated) {
		t.Fatalf("forged RS256: %v", err)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
