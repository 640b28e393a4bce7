package zoom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxUserIDLen is the longest user id or email accepted.
const MaxUserIDLen = 128

// MaxTTLSeconds is the longest token lifetime Zoom accepts (one year).
const MaxTTLSeconds = 365 * 24 * 60 * 60

// MeetingID is a Zoom meeting number: 9 to 11 digits. It remembers whether
// the caller sent it as a JSON number or a string and is echoed the same way.
type MeetingID struct {
	digits   string
	isNumber bool
}

// String returns the digits.
func (m MeetingID) String() string { return m.digits }

// IsZero reports whether no meeting id is held.
func (m MeetingID) IsZero() bool { return m.digits == "" }

// MarshalJSON writes the id as it was received: number or string.
func (m MeetingID) MarshalJSON() ([]byte, error) {
	if m.isNumber {
		return []byte(m.digits), nil
	}
	return json.Marshal(m.digits)
}

// ParseMeetingID reads a meeting id from a JSON value (string or number).
// It returns the reason when the value is not a meeting id.
func ParseMeetingID(raw json.RawMessage) (MeetingID, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return MeetingID{}, "is required"
	}
	var m MeetingID
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &m.digits); err != nil {
			return MeetingID{}, "must be a string or a number"
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		m.digits, m.isNumber = string(raw), true
	default:
		return MeetingID{}, "must be a string or a number"
	}
	if reason := CheckMeetingDigits(m.digits); reason != "" {
		return MeetingID{}, reason
	}
	return m, ""
}

// MeetingIDFromString parses a meeting id given as plain digits.
func MeetingIDFromString(s string) (MeetingID, string) {
	if reason := CheckMeetingDigits(s); reason != "" {
		return MeetingID{}, reason
	}
	return MeetingID{digits: s}, ""
}

// CheckMeetingDigits returns why s is not 9 to 11 digits, or "".
func CheckMeetingDigits(s string) string {
	if s == "" {
		return "is required"
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "must be 9 to 11 digits (the Zoom meeting number, e.g. \"85746065432\")"
		}
	}
	if len(s) < 9 || len(s) > 11 {
		return fmt.Sprintf("must be 9 to 11 digits, got %d", len(s))
	}
	return ""
}

// UserID is a Zoom user id or an email that passed CheckUserID. Only
// ParseUserID makes one, so whoever holds a UserID holds a valid id: the
// domain and the Zoom client never check it again. The zero value holds none.
type UserID struct{ s string }

// ParseUserID checks s against the allow-list; it returns the reason when s
// is not a user id.
func ParseUserID(s string) (UserID, string) {
	if reason := CheckUserID(s); reason != "" {
		return UserID{}, reason
	}
	return UserID{s: s}, ""
}

// String returns the id as it was given.
func (u UserID) String() string { return u.s }

// IsZero reports whether no id is held.
func (u UserID) IsZero() bool { return u.s == "" }

// Key is the canonical form: emails in ASCII lower case, ids as they are.
// Two ids with the same key name the same user.
func (u UserID) Key() string { return UserKey(u.s) }

// Same reports whether u and v name the same user.
func (u UserID) Same(v UserID) bool { return !u.IsZero() && SameUser(u.s, v.s) }

// MarshalJSON writes the id as a JSON string.
func (u UserID) MarshalJSON() ([]byte, error) { return json.Marshal(u.s) }

// MaxUserIDPartLen is the longest Zoom user id (an opaque id, not an email).
// Zoom's ids are 22 characters of base64url; the bound leaves room.
const MaxUserIDPartLen = 64

// CheckUserID returns why s is not an acceptable Zoom user id or email, or
// "". It is an allow-list, since escaping alone cannot keep an id on its
// route (Zoom's gateway decodes %2F before routing):
//   - a Zoom user id: 1 to 64 of A-Z a-z 0-9 _ -
//   - an email: ASCII, one @, a local part of RFC 5322 atoms (no / \ % ? #),
//     a domain of letters, digits, hyphens and dots.
//
// "me" is refused: with an S2S token it names the app's owner, never a caller.
// Anything outside ASCII is refused rather than folded, so that no two
// spellings (a Kelvin sign for a K, a long s for an s) name the same user.
func CheckUserID(s string) string {
	switch {
	case s == "":
		return "is required"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case len(s) > MaxUserIDLen:
		return fmt.Sprintf("must be at most %d characters", MaxUserIDLen)
	case strings.TrimSpace(s) != s:
		return "must not start or end with white space"
	case asciiEqualFold(s, "me"):
		return `must name a user: "me" is Zoom's alias for the token's own user`
	}
	for i, r := range s {
		if r > unicode.MaxASCII {
			return fmt.Sprintf("must be ASCII: Zoom user ids and emails are; found %U at byte %d", r, i)
		}
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	if strings.ContainsRune(s, '@') {
		return checkEmail(s)
	}
	if len(s) > MaxUserIDPartLen {
		return fmt.Sprintf("must be a Zoom user id of at most %d characters, or an email", MaxUserIDPartLen)
	}
	for _, c := range []byte(s) {
		if !isIDByte(c) {
			return fmt.Sprintf("must be a Zoom user id (letters, digits, _ and -) or an email; %q is not allowed", c)
		}
	}
	return ""
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// localSpecials are the RFC 5322 atom characters allowed in an email's
// local part besides letters and digits; '/', '%', '?' and '#' are left out
// because they would change the meaning of a URL path.
const localSpecials = "!$&'*+=^_`{|}~-."

func checkEmail(s string) string {
	local, domain, _ := strings.Cut(s, "@")
	switch {
	case strings.Count(s, "@") != 1:
		return "must be an email with exactly one @"
	case local == "" || domain == "":
		return "must be an email with a name before the @ and a domain after it"
	case len(local) > 64:
		return "must be an email whose part before the @ is at most 64 characters"
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return "must be an email whose part before the @ does not start or end with a dot or hold two in a row"
	}
	for _, c := range []byte(local) {
		if !isAlnum(c) && !strings.ContainsRune(localSpecials, rune(c)) {
			return fmt.Sprintf("must be an email; %q is not allowed before the @", c)
		}
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return "must be an email whose domain has no empty label (no leading, trailing or double dot)"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "must be an email whose domain labels do not start or end with a hyphen"
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' {
				return fmt.Sprintf("must be an email; %q is not allowed in the domain", c)
			}
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// SameUser reports whether two user ids name the same user: emails compare
// without regard to ASCII case (as Zoom compares them), user ids exactly.
// Only ASCII letters fold: a Kelvin sign is not a K.
func SameUser(a, b string) bool {
	if strings.Contains(a, "@") && strings.Contains(b, "@") {
		return asciiEqualFold(a, b)
	}
	return a == b
}

// UserKey is the canonical form of a user id, used to name a user's room
// and to find duplicates: emails in ASCII lower case, user ids as they are.
func UserKey(id string) string {
	if strings.Contains(id, "@") {
		return asciiLower(id)
	}
	return id
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
