package callbacks

import (
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// reasons is the details of err, as "field reason" lines.
func reasons(t *testing.T, err error) string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || apperr.Code(err) != apperr.CodeInvalidRequest {
		t.Fatalf("%v is not an invalid input", err)
	}
	var b strings.Builder
	for _, d := range e.Details {
		b.WriteString(d.Field + " " + d.Reason + "\n")
	}
	return b.String()
}

// Every wrong field of a create request is listed, each with its reason.
func TestDecodeCreateReasons(t *testing.T) {
	u := &URLs{cfg: URLsConfig{MaxLifetime: time.Hour}}
	tests := []struct{ body, want string }{
		{`{}`, "kind is required: obf, zak, join_token or access_token\nuserId is required\n" +
			"expiresInSeconds is required: how long the URL stays usable, 1 to 3600 seconds\n"},
		{`{"kind": 1, "userId": 2, "expiresInSeconds": "60", "singleUse": "yes"}`,
			"kind must be a string: obf, zak, join_token or access_token\nuserId must be a string (a Zoom user id or email)\n" +
				"expiresInSeconds must be a whole number of seconds from 1 to 3600\nsingleUse must be true or false\n"},
		{`{"kind": "nope", "userId": "me@example.com", "meetingId": 5, "expiresInSeconds": 3601}`,
			"kind must be obf, zak, join_token or access_token\nexpiresInSeconds must be a whole number of seconds from 1 to 3600\n"},
		{`{"kind": "zak", "userId": "me@example.com", "meetingId": 123456789, "expiresInSeconds": 0}`,
			"meetingId does not apply to kind zak (only obf and join_token name a meeting)\n" +
				"expiresInSeconds must be a whole number of seconds from 1 to 3600\n"},
	}
	for _, tt := range tests {
		_, err := u.DecodeCreate([]byte(tt.body))
		if got := reasons(t, err); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.body, got, tt.want)
		}
	}
	in, err := u.DecodeCreate([]byte(`{"kind": "zak", "userId": "me@example.com", "expiresInSeconds": 60, "singleUse": true, "meetingId": null}`))
	if err != nil || in.Kind != KindZAK || in.ExpiresIn != time.Minute || !in.Once {
		t.Fatalf("a good request: %+v, %v", in, err)
	}
}

// A revoke request gets one reason, the first found.
func TestDecodeRevokeReasons(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"url": 1, "id": 2}`, "url must be a string: the callback URL\n"},
		{`{"url": "x", "id": 2}`, "id must be a string: the callback URL's id\n"},
		{`{"url": null}`, "url or id is required (one of them)\n"},
		{`{"url": "x", "id": "y"}`, "url or id is required (one of them)\n"},
		{`{"url": "` + strings.Repeat("x", 4097) + `"}`, "url is longer than 4096 characters\n"},
		{`{"id": "not an id"}`, "id is not a callback URL id\n"},
	}
	for _, tt := range tests {
		_, err := DecodeRevoke([]byte(tt.body))
		if got := reasons(t, err); got != tt.want {
			t.Errorf("%.40s: %q, want %q", tt.body, got, tt.want)
		}
	}
	if in, err := DecodeRevoke([]byte(`{"url": "https://h/api/callbacks/zak?x=1"}`)); err != nil || in.URL == "" {
		t.Fatalf("a good request: %+v, %v", in, err)
	}
}
