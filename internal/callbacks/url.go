// Package callbacks serves bot platforms: signed callback URLs that a
// platform calls with no headers of its own (Recall.ai's zoom.obf_token_url,
// zoom.zak_url, zoom.join_token_url and a customer-managed OAuth
// access_token_callback_url), and Attendee's signed zoom_tokens callback.
//
// A signed URL names everything it may mint: its kind, its user (or, for
// an OBF, its candidates), its meeting (where one applies), its expiry, an id, and whether it is single use; an
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

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
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

// Kinds lists every kind, in the order docs/BOTS.md names them.
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
	Kind Kind
	User zoom.UserID // zero when Users names candidates
	// Users are an OBF URL's candidates, in order of preference (1 to
	// awaits.MaxCandidates, no two the same user); nil: User alone.
	Users   []zoom.UserID
	Meeting zoom.MeetingID // zero unless Kind.NeedsMeeting
	Expires time.Time      // whole seconds
	ID      string         // random, URL-safe; names the URL in logs and in State
	Once    bool           // single use
	// By is who made the URL: the maker's Zoom user id or email, or
	// "api-key:<fingerprint>" for an API key; ByRole its role then (admin
	// or host). Each use re-checks that the maker may still mint for User.
	By     string
	ByRole services.Role
}

// The query parameters of a signed URL, in the order they are written.
const (
	paramUser    = "user"
	paramUsers   = "users" // candidates: ids and emails, each query-escaped, joined by commas
	paramMeeting = "meeting"
	paramExp     = "exp"
	paramOnce    = "once"
	paramBy      = "by"
	paramRole    = "role"
	paramID      = "id"
	paramSig     = "sig"
)

var signedParams = []string{paramUser, paramUsers, paramMeeting, paramExp, paramOnce, paramBy, paramRole, paramID, paramSig}

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
// per line. No claim can hold a line break (user ids, digits, roles and
// base64url are checked), so no two claim sets share a message. v2 added
// the maker (by, role); a v1 URL no longer verifies. A URL with candidates
// signs under its own first line, with the candidates, comma-separated
// (no user id or email holds a comma), in the user's place: it never
// signs the message of a URL for one user, even with one candidate.
func message(candidates bool, kind Kind, user, meeting, exp, once, id, by, role string) []byte {
	head := "zoomtoken-callback-url/v2\n"
	if candidates {
		head = "zoomtoken-callback-url/v2+candidates\n"
	}
	return []byte(head + string(kind) + "\n" + user + "\n" + meeting + "\n" + exp + "\n" + once + "\n" + id +
		"\n" + by + "\n" + role)
}

// JoinUsers writes candidates as the users parameter holds them, before
// query escaping: comma-separated.
func JoinUsers(users []zoom.UserID) string {
	s := make([]string, len(users))
	for i, u := range users {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

// escapedUsers is the users parameter's value as the URL carries it: each
// candidate query-escaped, the commas as they are.
func escapedUsers(users []zoom.UserID) string {
	s := make([]string, len(users))
	for i, u := range users {
		s[i] = url.QueryEscape(u.String())
	}
	return strings.Join(s, ",")
}

// MaxUsersLen is the longest the users parameter of a URL may be, as the URL
// carries it: URLs with candidates stay about 2 KB long, which bot
// platforms' fields and proxies take (50 Zoom user ids, 22 characters each,
// take 1,149).
const MaxUsersLen = 2000

// UsersTooLong says why candidates cannot all go in one URL, or "".
func UsersTooLong(users []zoom.UserID) string {
	if n := len(escapedUsers(users)); n > MaxUsersLen {
		return fmt.Sprintf("take %d characters in the URL, more than the %d a callback URL may give them: name fewer candidates, or name them by Zoom user id (22 characters) rather than by email", n, MaxUsersLen)
	}
	return ""
}

// Candidates are the users a URL may mint for, in order: its candidates,
// or its one user.
func (c Claims) Candidates() []zoom.UserID {
	if len(c.Users) > 0 {
		return c.Users
	}
	return []zoom.UserID{c.User}
}

// userLine is what the signature covers in the user's place.
func (c Claims) userLine() string {
	if len(c.Users) > 0 {
		return JoinUsers(c.Users)
	}
	return c.User.String()
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
// {base}/api/callbacks/{kind}?user=…[&meeting=…]&exp=…[&once=1]&by=…&role=…&id=…&sig=…
// (users=a,b,… in place of user=… for candidates).
func (s *Signer) URL(c Claims) string {
	exp := strconv.FormatInt(c.Expires.Unix(), 10)
	sig := s.mac(message(len(c.Users) > 0, c.Kind, c.userLine(), c.Meeting.String(), exp, onceString(c.Once), c.ID, c.By, string(c.ByRole)))
	var b strings.Builder
	b.WriteString(s.base + "/api/callbacks/" + string(c.Kind) + "?")
	if len(c.Users) > 0 {
		b.WriteString(paramUsers + "=" + escapedUsers(c.Users))
	} else {
		b.WriteString(paramUser + "=" + url.QueryEscape(c.User.String()))
	}
	if !c.Meeting.IsZero() {
		b.WriteString("&" + paramMeeting + "=" + c.Meeting.String())
	}
	b.WriteString("&" + paramExp + "=" + exp)
	if c.Once {
		b.WriteString("&" + paramOnce + "=1")
	}
	b.WriteString("&" + paramBy + "=" + url.QueryEscape(c.By) + "&" + paramRole + "=" + url.QueryEscape(string(c.ByRole)))
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
	meeting, exp, once, id, sig := q.Get(paramMeeting), q.Get(paramExp), q.Get(paramOnce), q.Get(paramID), q.Get(paramSig)
	by, role := q.Get(paramBy), q.Get(paramRole)
	if sig == "" {
		return Claims{}, badURL("it carries no signature (sig)")
	}
	user, listed := q.Get(paramUser), q.Has(paramUsers)
	if listed && q.Has(paramUser) {
		return Claims{}, badURL("it names both user and users")
	} else if listed {
		user = q.Get(paramUsers)
	}
	if !q.Has(paramBy) && q.Has(paramID) {
		// Made before URLs named their maker: its signature cannot match.
		// Not counted as forged: a platform may hold one from before an upgrade.
		return Claims{}, &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "check callback URL",
			Message: "This callback URL was made by an earlier version of this server, which did not record who made it, so it is no longer accepted.",
			Hint:    "Make a new one with POST /api/callback-urls."}
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
	if !hmac.Equal(got, s.mac(message(listed, k, user, meeting, exp, once, id, by, role))) {
		return Claims{}, badURL("its signature does not match (the URL was changed, or was signed with another key)")
	}
	c := Claims{Kind: k, ID: id, Once: once == "1"}
	if err := c.readWhom(listed, user, meeting); err != nil {
		return Claims{}, err
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
	if reason := checkMaker(by, role); reason != "" {
		return Claims{}, badURL("its maker " + reason)
	}
	c.By, c.ByRole = by, services.Role(role)
	return c, nil
}

// readWhom reads a signed URL's user (or, listed, its candidates) and its
// meeting into c, whose Kind is set.
func (c *Claims) readWhom(listed bool, user, meeting string) error {
	var reason string
	if listed {
		c.Users, reason = parseUsers(c.Kind, user)
	} else {
		c.User, reason = zoom.ParseUserID(user)
	}
	if reason != "" {
		return badURL("its user " + reason)
	}
	if meeting != "" {
		if c.Meeting, reason = zoom.MeetingIDFromString(meeting); reason != "" {
			return badURL("its meeting " + reason)
		}
	}
	if c.Kind.NeedsMeeting() != !c.Meeting.IsZero() {
		return badURL("its meeting does not fit its kind")
	}
	return nil
}

// parseUsers reads a signed URL's candidates, or says what is wrong.
func parseUsers(k Kind, list string) ([]zoom.UserID, string) {
	if k != KindOBF {
		return nil, "list does not fit its kind (only obf URLs name candidates)"
	}
	parts := strings.Split(list, ",")
	if len(parts) > awaits.MaxCandidates {
		return nil, "list is too long"
	}
	out := make([]zoom.UserID, 0, len(parts))
	for _, p := range parts {
		u, reason := zoom.ParseUserID(p)
		if reason != "" {
			return nil, reason
		}
		for _, v := range out {
			if v.Same(u) {
				return nil, "list names one user twice"
			}
		}
		out = append(out, u)
	}
	return out, ""
}

// apiKeyMaker prefixes the maker of a URL made with an API key (as
// services.Identity.Subject names it).
const apiKeyMaker = "api-key:"

// checkMaker says what is wrong with a URL's maker, or "".
func checkMaker(by, role string) string {
	if role != string(services.RoleAdmin) && role != string(services.RoleHost) {
		return "has no role that may make callback URLs"
	}
	if fp, ok := strings.CutPrefix(by, apiKeyMaker); ok {
		if len(fp) == 0 || len(fp) > 64 || strings.Trim(fp, "0123456789abcdef") != "" {
			return "is a malformed API key fingerprint"
		}
		return ""
	}
	if _, reason := zoom.ParseUserID(by); reason != "" {
		return reason
	}
	return ""
}

// Maker is the caller that made c, as far as the URL says: its subject,
// role and method (its Zoom user for a JWT caller).
func (c Claims) Maker() services.Identity {
	if strings.HasPrefix(c.By, apiKeyMaker) {
		return services.Identity{Subject: c.By, Role: c.ByRole, Method: "api_key"}
	}
	u, _ := zoom.ParseUserID(c.By)
	return services.Identity{Subject: c.By, User: u, Role: c.ByRole, Method: "jwt"}
}

// MakerOf is what a URL made by caller records as its maker.
func MakerOf(caller services.Identity) (by string, role services.Role) {
	if caller.Method == "api_key" {
		return caller.Subject, caller.Role
	}
	return caller.User.String(), caller.Role
}

func validID(id string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(b) == idBytes
}
