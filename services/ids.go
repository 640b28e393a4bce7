package services

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

// CheckUserID returns why s is not an acceptable Zoom user id or email, or "".
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
	case s == "." || s == "..":
		return "is not a Zoom user id or email"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

// SameUser reports whether two user ids name the same user: emails compare
// without regard to case, Zoom user ids exactly.
func SameUser(a, b string) bool {
	if strings.Contains(a, "@") && strings.Contains(b, "@") {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// UserKey is the canonical form of a user id, used to name a user's room
// and to find duplicates: emails in lower case, user ids as they are.
func UserKey(id string) string {
	if strings.Contains(id, "@") {
		return strings.ToLower(id)
	}
	return id
}
