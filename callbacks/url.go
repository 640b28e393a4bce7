// Package callbacks serves bot platforms: signed callback URLs that a
// platform calls with no headers of its own (Recall.ai's zoom.obf_token_url,
// zoom.zak_url, zoom.join_token_url and a customer-managed OAuth
// access_token_callback_url), and Attendee's signed zoom_tokens callback.
//
// A signed URL names everything it may mint: its kind, its user, its meeting
// (where one applies), its expiry, an id, and whether it is single use; an
// HMAC-SHA256 over all of them, with CALLBACK_URL_KEY, makes each one
// unchangeable. Revocation and single use live behind State, so several
// instances can later share them.
package callbacks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/apperr"
	"github.com/zoomtoken/tokenserver/secret"
	"github.com/zoomtoken/tokenserver/zoom"
)

// Kind is what a callback URL answers.
type Kind string

// The kinds, as they appear in the path /api/callbacks/{kind}.
const (
	KindOBF         Kind = "obf"          // an OBF token for the user in the meeting (Recall: zoom.obf_token_url)
	KindZAK         Kind = "zak"          // the user's ZAK (Recall: zoom.zak_url)
	KindJoinToken   Kind = "join_token"   // the meeting's local-recording join token, minted as its host (Recall: zoom.join_token_url)
	KindAccessToken Kind = "access_token" // the user's own OAuth access token (Recall: access_token_callback_url)
)

// Kinds lists every kind, in the order the README names them.
var Kinds = []Kind{KindOBF, KindZAK, KindJoinToken, KindAccessToken}

// ParseKind reads a kind; ok is false for anything else.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// NeedsMeeting reports whether URLs of this kind name a meeting.
func (k Kind) NeedsMeeting() bool { return k == KindOBF || k == KindJoinToken }

// Claims is what a signed URL says.
type Claims struct {
	Kind    Kind
	User    zoom.UserID
	Meeting zoom.MeetingID // zero unless Kind.NeedsMeeting
	Expires time.Time      // whole seconds
	ID      string         // random, URL-safe; names the URL in logs and in State
	Once    bool           // single use
}

// The query parameters of a signed URL, in the order they are written.
const (
	paramUser    = "user"
	paramMeeting = "meeting"
	paramExp     = "exp"
	paramOnce    = "once"
	paramID      = "id"
	paramSig     = "sig"
)

var signedParams = []string{paramUser, paramMeeting, paramExp, paramOnce, paramID, paramSig}

// idBytes is the length of a URL's random id; sigBytes of its signature.
const (
	idBytes  = 12
	sigBytes = sha256.Size
)

// MinKeyLen is the shortest CALLBACK_URL_KEY accepted.
const MinKeyLen = 32

// Signer makes and checks signed callback URLs. It holds the key and the
// public base URL the URLs start with.
type Signer struct {
	key  []byte
	base string // e.g. https://tokens.example.com (a path prefix is kept), no trailing slash
}

// NewSigner returns a signer for key (at least MinKeyLen bytes) and the
// server's public base URL.
func NewSigner(key secret.Value, baseURL string) (*Signer, error) {
	if len(key.Reveal()) < MinKeyLen {
		return nil, fmt.Errorf("the callback URL key must be at least %d bytes", MinKeyLen)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("the public base URL must be an absolute http(s) URL without query or fragment")
	}
	return &Signer{key: []byte(key.Reveal()), base: strings.TrimRight(baseURL, "/")}, nil
}

// NewID returns a fresh random URL id.
func NewID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails: it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// message is what the signature covers: every claim, in a fixed order, one
// per line. No claim can hold a line break (user ids, digits and base64url
// are checked), so no two claim sets share a message.
func message(kind Kind, user, meeting, exp, once, id string) []byte {
	return []byte("zoomtoken-callback-url/v1\n" + string(kind) + "\n" + user + "\n" + meeting + "\n" + exp + "\n" + once + "\n" + id)
}

func (s *Signer) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(msg)
	return m.Sum(nil)
}

func onceString(once bool) string {
	if once {
		return "1"
	}
	return "0"
}

// URL returns the signed URL of c:
// {base}/api/callbacks/{kind}?user=…[&meeting=…]&exp=…[&once=1]&id=…&sig=…
func (s *Signer) URL(c Claims) string {
	exp := strconv.FormatInt(c.Expires.Unix(), 10)
	sig := s.mac(message(c.Kind, c.User.String(), c.Meeting.String(), exp, onceString(c.Once), c.ID))
	var b strings.Builder
	b.WriteString(s.base + "/api/callbacks/" + string(c.Kind) + "?" + paramUser + "=" + url.QueryEscape(c.User.String()))
	if !c.Meeting.IsZero() {
		b.WriteString("&" + paramMeeting + "=" + c.Meeting.String())
	}
	b.WriteString("&" + paramExp + "=" + exp)
	if c.Once {
		b.WriteString("&" + paramOnce + "=1")
	}
	b.WriteString("&" + paramID + "=" + c.ID + "&" + paramSig + "=" + base64.RawURLEncoding.EncodeToString(sig))
	return b.String()
}

// ErrForged is the cause of a refusal for a signature that does not match
// (as opposed to a URL that expired, or was spent or revoked): transports
// count these against the sender's address.
var ErrForged = errors.New("forged or altered")

// badURL is the error for a URL that is not one this server signed, as it
// was signed. It never repeats what the URL held.
func badURL(reason string) error {
	return &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "check callback URL", Err: ErrForged,
		Message: "This callback URL is not valid: " + reason + ".",
		Hint:    "Use the URL exactly as POST /api/callback-urls returned it; make a new one if it was changed or has expired."}
}

// Verify checks a URL's kind (from its path) and query: every parameter
// present at most once, the signature over all of them, and the expiry
// against now. It answers the claims, or ErrInvalidSignature with the reason
// (altered, malformed, expired). It does not look at revocation or use.
func (s *Signer) Verify(kind string, q url.Values, now time.Time) (Claims, error) {
	k, ok := ParseKind(kind)
	if !ok {
		return Claims{}, &apperr.Error{Kind: apperr.ErrNotFound, Op: "check callback URL",
			Message: "There is no such callback kind; the kinds are obf, zak, join_token and access_token."}
	}
	for _, p := range signedParams {
		if len(q[p]) > 1 {
			return Claims{}, badURL("the parameter " + p + " appears more than once")
		}
	}
	user, meeting, exp, once, id, sig := q.Get(paramUser), q.Get(paramMeeting), q.Get(paramExp), q.Get(paramOnce), q.Get(paramID), q.Get(paramSig)
	if sig == "" {
		return Claims{}, badURL("it carries no signature (sig)")
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sigBytes {
		return Claims{}, badURL("its signature is malformed")
	}
	if once == "" {
		once = "0"
	}
	// Check the signature first, over the parameters as they came: nothing
	// else is read from a URL this server did not sign.
	if !hmac.Equal(got, s.mac(message(k, user, meeting, exp, once, id))) {
		return Claims{}, badURL("its signature does not match (the URL was changed, or was signed with another key)")
	}
	c := Claims{Kind: k, ID: id, Once: once == "1"}
	var reason string
	if c.User, reason = zoom.ParseUserID(user); reason != "" {
		return Claims{}, badURL("its user " + reason)
	}
	if meeting != "" {
		if c.Meeting, reason = zoom.MeetingIDFromString(meeting); reason != "" {
			return Claims{}, badURL("its meeting " + reason)
		}
	}
	if k.NeedsMeeting() != !c.Meeting.IsZero() {
		return Claims{}, badURL("its meeting does not fit its kind")
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || secs <= 0 {
		return Claims{}, badURL("its expiry is malformed")
	}
	c.Expires = time.Unix(secs, 0)
	if !now.Before(c.Expires) {
		return Claims{}, &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "check callback URL",
			Message: fmt.Sprintf("This callback URL expired at %s.", c.Expires.UTC().Format(time.RFC3339)),
			Hint:    "Make a new one with POST /api/callback-urls."}
	}
	if !validID(id) {
		return Claims{}, badURL("its id is malformed")
	}
	return c, nil
}

func validID(id string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(b) == idBytes
}
