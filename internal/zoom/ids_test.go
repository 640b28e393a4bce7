package zoom_test

import (
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/zoom"
)

func TestCheckUserIDAllowList(t *testing.T) {
	good := []string{
		"BXE0adSxQRqGSP5fg1rkcA", "sandboxHostUser0000001", "a", "x_y-z",
		"user1@example.com", "first.last+tag@sub.example.co", "o'neil@example.com", "KATE@EXAMPLE.COM",
	}
	for _, id := range good {
		if reason := zoom.CheckUserID(id); reason != "" {
			t.Errorf("%q refused: %s", id, reason)
		}
	}
	bad := map[string]string{
		"":                            "required",
		"me":                          "alias",
		"Me":                          "alias",
		".":                           "not allowed",
		"..":                          "not allowed",
		"a/b":                         "not allowed",
		"../../accounts/x":            "not allowed",
		"a%2Fb":                       "not allowed",
		"a?type=zak":                  "not allowed",
		"a#frag":                      "not allowed",
		"a b":                         "not allowed",
		"a\\b":                        "not allowed",
		"a;b":                         "not allowed",
		" a":                          "white space",
		"a\x00b":                      "control",
		"\u212Aate@example.com":       "ASCII",
		"\u017Fam@example.com":        "ASCII",
		"kate@example.com\u200b":      "ASCII",
		"\xffkate@example.com":        "UTF-8",
		"a@b@example.com":             "one @",
		"@example.com":                "before the @",
		"kate@":                       "before the @",
		".kate@example.com":           "dot",
		"ka..te@example.com":          "dot",
		"kate@example..com":           "empty label",
		"kate@example.com.":           "empty label",
		"kate@-example.com":           "hyphen",
		"ka/te@example.com":           "not allowed before",
		"ka%te@example.com":           "not allowed before",
		"kate@exa_mple.com":           "not allowed in the domain",
		"kate@example.com/../../v2/x": "not allowed in the domain",
		string(make([]byte, 65)):      "control",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "at most 64",
	}
	for id, want := range bad {
		reason := zoom.CheckUserID(id)
		if reason == "" || !containsFold(reason, want) {
			t.Errorf("%q: reason %q, want one mentioning %q", id, reason, want)
		}
	}
}

// Only ASCII letters fold: a Kelvin sign (U+212A) is not a K and a long s
// (U+017F) is not an s, as they are for strings.EqualFold.
func TestSameUserFoldsASCIIOnly(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"Kate@Example.com", "kate@example.com", true},
		{"\u212Aate@example.com", "kate@example.com", false},
		{"\u017Fam@example.com", "sam@example.com", false},
		{"BXE0adSxQRqGSP5fg1rkcA", "bxe0adsxqrqgsp5fg1rkca", false},
		{"BXE0adSxQRqGSP5fg1rkcA", "BXE0adSxQRqGSP5fg1rkcA", true},
	}
	for _, c := range cases {
		if got := zoom.SameUser(c.a, c.b); got != c.same {
			t.Errorf("SameUser(%q, %q) = %v", c.a, c.b, got)
		}
		if got := zoom.UserKey(c.a) == zoom.UserKey(c.b); got != c.same {
			t.Errorf("UserKey(%q) == UserKey(%q) is %v", c.a, c.b, got)
		}
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
