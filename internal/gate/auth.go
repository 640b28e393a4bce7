// Package gate is what both transports run before the domain: who is
// calling (JWT, JWKS or API key, as a services.Identity), whether the
// caller's address may try a credential (the failed-authentication guard),
// whether the caller is within its limits (requests and running batches),
// and which address the caller is (behind TRUSTED_PROXIES). Each guard and
// limit has an in-memory implementation for one instance beside its Redis
// twin for a cluster, both behind one interface.
package gate

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// MinJWTSecretLen is the shortest HS256 secret accepted.
const MinJWTSecretLen = 32

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	JWTSecret secret.Value // HS256
	JWKS      jwt.Keyfunc  // RS256/ES256 keys of an identity provider; nil if none
	Issuer    string
	Audience  string
	APIKeys   []secret.Value
	MaxTTL    time.Duration // longest lifetime a caller JWT may have (exp − now, exp − iat); 0: 24 h
	Now       func() time.Time
}

// DefaultJWTMaxTTL is the longest lifetime accepted for a caller JWT by default.
const DefaultJWTMaxTTL = 24 * time.Hour

// jwtLeeway allows for clock skew between the token's issuer and this server.
const jwtLeeway = 30 * time.Second

// Authenticator checks caller credentials: API keys and JWTs.
type Authenticator struct {
	secret  []byte
	jwks    jwt.Keyfunc
	keys    [][32]byte // SHA-256 of each API key
	parser  *jwt.Parser
	methods []string
	maxTTL  time.Duration
	issuer  string
	aud     string
	now     func() time.Time
}

// NewAuthenticator returns an authenticator for cfg.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultJWTMaxTTL
	}
	a := &Authenticator{jwks: cfg.JWKS, now: cfg.Now, maxTTL: cfg.MaxTTL, issuer: cfg.Issuer, aud: cfg.Audience}
	if !cfg.JWTSecret.Empty() {
		if len(cfg.JWTSecret.Reveal()) < MinJWTSecretLen {
			return nil, fmt.Errorf("the JWT secret must be at least %d bytes", MinJWTSecretLen)
		}
		a.secret = []byte(cfg.JWTSecret.Reveal())
		a.methods = append(a.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKS != nil {
		a.methods = append(a.methods, "RS256", "ES256")
	}
	for _, k := range cfg.APIKeys {
		a.keys = append(a.keys, sha256.Sum256([]byte(k.Reveal())))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Enabled reports whether any way to authenticate callers is configured.
func (a *Authenticator) Enabled() bool {
	return len(a.secret) > 0 || a.jwks != nil || len(a.keys) > 0
}

// Authenticate checks a credential: an API key or a JWT.
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (services.Identity, error) {
	const op = "authenticate"
	credential = strings.TrimSpace(credential)
	if credential == "" {
		return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: op,
			Message: "Credentials are required: send Authorization: Bearer <jwt> or X-API-Key: <key>."}
	}
	if fp, ok := a.matchKey(credential); ok {
		return services.Identity{Subject: "api-key:" + fp, Role: services.RoleAdmin, Method: "api_key"}, nil
	}
	if strings.Count(credential, ".") != 2 {
		return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: op, Message: "The credential is neither a known API key nor a JWT."}
	}
	if len(a.methods) == 0 {
		return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: op, Message: "This server accepts API keys only, and the key is not known."}
	}
	unauthenticated := func(msg string) (services.Identity, error) {
		return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: op, Message: msg}
	}
	// MapClaims, not a struct: its dates must be JSON numbers, where a
	// struct's NumericDate would also take "exp":"1999999999" as a string.
	c := jwt.MapClaims{}
	tok, err := a.parser.ParseWithClaims(credential, c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == jwt.SigningMethodHS256.Alg() {
			return a.secret, nil
		}
		if a.jwks == nil {
			return nil, errors.New("no JWKS configured")
		}
		return a.jwks(t)
	})
	if err != nil {
		return unauthenticated(a.jwtProblem(err, c))
	}
	// No extension is understood here, so a token that lists critical ones
	// must be refused (RFC 7515 §4.1.11).
	if _, ok := tok.Header["crit"]; ok {
		return unauthenticated("The token's crit header names extensions this server does not understand.")
	}
	if msg := a.checkLifetime(c); msg != "" {
		return unauthenticated(msg)
	}
	sub, _ := c["sub"].(string)
	user, reason := zoom.ParseUserID(sub)
	if reason != "" {
		return unauthenticated("The token's sub claim " + reason + "; it must be the caller's Zoom user id or email.")
	}
	var role services.Role
	switch r := c["role"].(type) {
	case nil:
		role = services.RoleParticipant
	case string:
		role = services.Role(r)
	}
	switch role {
	case services.RoleAdmin, services.RoleHost, services.RoleParticipant, services.RoleWorker:
	default:
		return unauthenticated("The token's role claim must be admin, host or participant (or worker, for an RTMS worker).")
	}
	return services.Identity{Subject: sub, User: user, Role: role, Method: "jwt"}, nil
}

// checkLifetime refuses a token that lives longer than maxTTL: from now to
// its exp, and from its iat to its exp. A stolen token must not outlive the
// day it was issued for.
func (a *Authenticator) checkLifetime(c jwt.MapClaims) string {
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return "The token has no exp claim; tokens must expire."
	}
	limit := a.maxTTL + jwtLeeway
	if exp.Sub(a.now()) > limit {
		return fmt.Sprintf("The token expires too far ahead; this server accepts caller tokens that live at most %s (AUTH_JWT_MAX_TTL).", a.maxTTL)
	}
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil && exp.Sub(iat.Time) > limit {
		return fmt.Sprintf("The token's lifetime (exp − iat) is longer than %s (AUTH_JWT_MAX_TTL).", a.maxTTL)
	}
	return ""
}

func (a *Authenticator) jwtProblem(err error, c jwt.MapClaims) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "The token is not a well-formed JWT."
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "The token's signature is not valid."
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "The token's signing algorithm or key is not accepted."
	case errors.Is(err, jwt.ErrInvalidType):
		return "The token's registered claims have the wrong types: exp, iat and nbf must be numbers, iss and sub strings, aud a string or an array of strings."
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return missingClaim(c, a.issuer, a.aud)
	case errors.Is(err, jwt.ErrTokenExpired):
		return "The token has expired."
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "The token's iat is in the future; check the issuer's clock."
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "The token is not valid yet (nbf)."
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "The token's issuer is not accepted."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "The token's audience is not accepted."
	default:
		return "The token is not valid."
	}
}

// missingClaim names the required claim a token lacks.
func missingClaim(c jwt.MapClaims, issuer, audience string) string {
	has := func(k string) bool { v, ok := c[k]; return ok && v != nil }
	switch {
	case !has("exp"):
		return "The token has no exp claim; tokens must expire."
	case issuer != "" && !has("iss"):
		return "The token has no iss claim; this server requires one (AUTH_JWT_ISSUER)."
	case audience != "" && !has("aud"):
		return "The token has no aud claim; this server requires one (AUTH_JWT_AUDIENCE)."
	default:
		return "The token lacks a required claim."
	}
}

// matchKey compares credential with every API key in constant time.
func (a *Authenticator) matchKey(credential string) (string, bool) {
	if len(a.keys) == 0 {
		return "", false
	}
	sum := sha256.Sum256([]byte(credential))
	found := 0
	for _, k := range a.keys {
		found |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	if found == 1 {
		return KeyFingerprint(credential), true
	}
	return "", false
}

// KeyFingerprint names an API key in logs and limits without revealing it.
func KeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// IssueToken signs an HS256 JWT for sub and role, valid for ttl. It is
// used by the sandbox's POST /sandbox/tokens.
func (a *Authenticator) IssueToken(sub string, role services.Role, ttl time.Duration) (string, error) {
	if len(a.secret) == 0 {
		return "", errors.New("issue token: no HS256 secret")
	}
	now := a.now()
	c := jwt.MapClaims{"sub": sub, "role": string(role), "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
}
