// Package sdk signs the JWTs the Zoom SDKs need beside a ZAK or an OBF: the
// Meeting SDK signature and the Video SDK JWT, both HS256 with the SDK
// secret. It also reads the request bodies of Zoom's two sample auth
// endpoints (meetingsdk-auth-endpoint-sample, videosdk-auth-endpoint-sample)
// and says, field by field, what is wrong with them.
//
// Rules (docs/ZOOM.md "Meeting SDK signature" and "Video SDK signature",
// and the samples): role 0 or 1; exp − iat from 1,800 s to 172,800 s
// (48 h), 7,200 s when not given; iat and exp are numbers. This package
// sets iat 30 s in the past against clock skew, and counts exp from iat.
//
// Every error about a request is an *apperr.Error of kind
// apperr.ErrInvalidInput with one apperr.FieldError per bad field. No error
// ever holds the secret.
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// Expiration bounds, in seconds: exp − iat.
const (
	MinExpirationSeconds     = 1800   // 30 minutes
	MaxExpirationSeconds     = 172800 // 48 hours
	DefaultExpirationSeconds = 7200   // 2 hours, as the samples default
)

// IssuedAtSkew is how far in the past iat is set, so that a client whose
// clock is a little behind Zoom's does not see a token from the future.
const IssuedAtSkew = 30 * time.Second

// ErrNoCredentials: the SDK key or secret is empty. It is a configuration
// fault, not the caller's, so it is not an apperr.ErrInvalidInput.
var ErrNoCredentials = errors.New("sdk: no SDK key or secret configured")

// issued is the iat and exp of a payload, numbers of seconds. Embedded in
// a payload struct, it gives it the methods of jwt.Claims. Payloads are
// structs, not maps: encoding a map sorts its keys by reflection, which
// was half the cost of signing.
type issued struct {
	IssuedAt  int64 `json:"iat"`
	ExpiresAt int64 `json:"exp"`
}

// window returns iat and exp for an expiration in seconds (0: the default).
func window(now time.Time, expirationSeconds int) issued {
	if expirationSeconds == 0 {
		expirationSeconds = DefaultExpirationSeconds
	}
	iat := now.Add(-IssuedAtSkew).Unix()
	return issued{IssuedAt: iat, ExpiresAt: iat + int64(expirationSeconds)}
}

func (c issued) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c issued) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (issued) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (issued) GetIssuer() (string, error)              { return "", nil }
func (issued) GetSubject() (string, error)             { return "", nil }
func (issued) GetAudience() (jwt.ClaimStrings, error)  { return nil, nil }

// sign makes the HS256 JWT of claims. The error never holds the secret.
func sign(op, key string, sec secret.Value, claims jwt.Claims) (string, error) {
	if key == "" || sec.Empty() {
		return "", fmt.Errorf("%s: %w", op, ErrNoCredentials)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(sec.Reveal()))
	if err != nil {
		// jwt's errors name the method or the key type, never the key.
		return "", fmt.Errorf("%s: signing: %w", op, err)
	}
	return s, nil
}

// fields collects the reasons a request's fields are wrong, in order, all
// of them (a body here has a dozen fields at most); its methods read the
// fields of the samples' bodies.
type fields struct{ jsonbody.Fields }

// integer reads a JSON integer, or a string holding one (the samples
// coerce strings with parseInt). ok is false, with a reason added, when
// the value is neither.
func (f *fields) integer(name string, raw json.RawMessage) (n int, ok bool) {
	return f.IntOrString(name, raw, "must be an integer")
}

// zeroOrOne reads an optional 0|1 field: nil when absent.
func (f *fields) zeroOrOne(name string, raw json.RawMessage) *int {
	if !jsonbody.Present(raw) {
		return nil
	}
	n, ok := f.integer(name, raw)
	if !ok {
		return nil
	}
	if !checkZeroOrOne(f, name, n) {
		return nil
	}
	return &n
}

// expiration reads expirationSeconds: 0 when absent. A 0 sent is refused,
// as the sample refuses it.
func (f *fields) expiration(name string, raw json.RawMessage) int {
	if !jsonbody.Present(raw) {
		return 0
	}
	n, ok := f.integer(name, raw)
	if !ok {
		return 0
	}
	if n == 0 {
		f.Add(name, expirationReason)
		return 0
	}
	if !checkExpiration(f, name, n) {
		return 0
	}
	return n
}

// str reads an optional JSON string: "" when absent.
func (f *fields) str(name string, raw json.RawMessage) (s string, ok bool) {
	if !jsonbody.Present(raw) {
		return "", true
	}
	return f.String(name, raw, "must be a string")
}

func checkZeroOrOne(f *fields, name string, n int) bool {
	if n != 0 && n != 1 {
		f.Add(name, "must be 0 or 1")
		return false
	}
	return true
}

const expirationReason = "must be from 1800 to 172800 seconds"

// checkExpiration: 0 means the default; anything else must be in bounds.
func checkExpiration(f *fields, name string, n int) bool {
	if n != 0 && (n < MinExpirationSeconds || n > MaxExpirationSeconds) {
		f.Add(name, expirationReason)
		return false
	}
	return true
}

func checkOptionalZeroOrOne(f *fields, name string, p *int) {
	if p != nil {
		checkZeroOrOne(f, name, *p)
	}
}

// length counts characters as the samples (JavaScript) do: UTF-16 code
// units. A character outside the Basic Multilingual Plane counts twice, so
// a value accepted here is accepted by the samples' rules too.
func length(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

// quoteShort quotes s for a reason, cut to 8 characters: a reason never
// echoes a long value back.
func quoteShort(s string) string {
	r := []rune(s)
	if len(r) > 8 {
		return strconv.Quote(string(r[:8]) + "…")
	}
	return strconv.Quote(s)
}
