// Package webhooks reads Zoom's webhook requests (docs/ZOOM.md, "Webhooks"):
// it verifies their signature over the raw body with each configured secret
// in constant time, answers the url_validation challenge, parses the events
// the server uses (meeting started and ended, participant joined and left,
// app deauthorized) into typed values, and admits each event once (Dedupe),
// accepting Zoom's late retries of an event not seen before. It knows
// nothing of HTTP: the caller hands it the two headers and the body.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// The headers Zoom signs its requests with.
const (
	HeaderSignature = "x-zm-signature"
	HeaderTimestamp = "x-zm-request-timestamp"
)

// Verifier checks Zoom's signatures with the secret tokens of the apps whose
// webhooks are accepted (ZOOM_WEBHOOK_SECRETS): several, so that a secret
// can be rotated, or several apps can send to one server.
type Verifier struct {
	secrets []secret.Value
}

// NewVerifier returns a verifier for secrets; empty ones are skipped.
func NewVerifier(secrets []secret.Value) *Verifier {
	v := &Verifier{}
	for _, s := range secrets {
		if !s.Empty() {
			v.secrets = append(v.secrets, s)
		}
	}
	return v
}

// Configured reports whether any secret is set.
func (v *Verifier) Configured() bool { return v != nil && len(v.secrets) > 0 }

func invalid(reason string) error {
	return &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "verify webhook",
		Message: "The webhook's signature is not valid: " + reason + "."}
}

// Verify checks signature ("v0=" and 64 hex digits) against
// HMAC-SHA256(secret, "v0:" + timestamp + ":" + body) for every secret, each
// compared in constant time, and returns the index of the secret that signed
// the request and the time the timestamp says. Every failure is
// apperr.ErrInvalidSignature, with a reason that names no secret.
func (v *Verifier) Verify(timestamp, signature string, body []byte) (int, time.Time, error) {
	if !v.Configured() {
		return -1, time.Time{}, invalid("this server has no webhook secret (ZOOM_WEBHOOK_SECRETS)")
	}
	at, ok := ParseTimestamp(timestamp)
	if !ok {
		return -1, time.Time{}, invalid("the " + HeaderTimestamp + " header is missing or is not a Unix time")
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(signature), "v0=")
	if !ok {
		return -1, time.Time{}, invalid("the " + HeaderSignature + " header is missing or does not start with v0=")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return -1, time.Time{}, invalid("the " + HeaderSignature + " header is not v0= and 64 hex digits")
	}
	match := -1
	for i, s := range v.secrets {
		mac := hmac.New(sha256.New, []byte(s.Reveal()))
		mac.Write([]byte("v0:"))
		mac.Write([]byte(timestamp))
		mac.Write([]byte(":"))
		mac.Write(body)
		// Every secret is tried, whichever matches: the time taken does not
		// say which one did.
		if hmac.Equal(mac.Sum(nil), got) && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return -1, time.Time{}, invalid("it matches none of this server's webhook secrets")
	}
	return match, at, nil
}

// EncryptToken answers Zoom's url_validation challenge with the secret that
// signed it: hex(HMAC-SHA256(secret, plainToken)).
func (v *Verifier) EncryptToken(secretIndex int, plainToken string) (string, error) {
	if secretIndex < 0 || secretIndex >= len(v.secrets) {
		return "", fmt.Errorf("encrypt token: no secret %d", secretIndex)
	}
	mac := hmac.New(sha256.New, []byte(v.secrets[secretIndex].Reveal()))
	mac.Write([]byte(plainToken))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// ParseTimestamp reads x-zm-request-timestamp: Unix seconds (as Zoom sends),
// or milliseconds, tolerated.
func ParseTimestamp(s string) (time.Time, bool) {
	if s == "" || len(s) > 16 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || s[0] == '+' {
		return time.Time{}, false
	}
	if n > 100_000_000_000 { // milliseconds
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// Sign is the signature Zoom sends for body at timestamp, made with secret:
// for the sandbox and tests, which play Zoom.
func Sign(secretToken, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}
