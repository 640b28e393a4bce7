package sdk_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

const (
	testKey    = "sdkKeyABC"
	testSecret = "sdkSecretXYZ-0123456789"
)

var testNow = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func intp(n int) *int { return &n }

// fieldsOf returns the field names of an invalid-input error, in order,
// and fails the test if err is not one.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("error %v: want an *apperr.Error of kind invalid input", err)
	}
	var names []string
	for _, d := range e.Details {
		if d.Reason == "" {
			t.Errorf("field %s has no reason", d.Field)
		}
		names = append(names, d.Field)
	}
	return names
}

// parse verifies tok with sec, as HS256 only, and returns its claims
// without judging iat or exp (the tests look at them themselves).
func parse(t *testing.T, tok, sec string) (jwt.MapClaims, error) {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(sec), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	return claims, err
}

func TestDecodeMeetingRequestAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want sdk.MeetingRequest
	}{
		{"web, number as string", `{"meetingNumber":"123456789","role":0}`, sdk.MeetingRequest{MeetingNumber: "123456789"}},
		{"web, number as number", `{"meetingNumber":12345678901,"role":1}`, sdk.MeetingRequest{MeetingNumber: "12345678901", Role: 1}},
		{"role as string", `{"meetingNumber":"1234567890","role":"1"}`, sdk.MeetingRequest{MeetingNumber: "1234567890", Role: 1}},
		{"native: neither", `{}`, sdk.MeetingRequest{}},
		{"native: both null", `{"meetingNumber":null,"role":null}`, sdk.MeetingRequest{}},
		{"all fields", `{"meetingNumber":"123456789","role":1,"expirationSeconds":1800,"videoWebRtcMode":1}`,
			sdk.MeetingRequest{MeetingNumber: "123456789", Role: 1, ExpirationSeconds: 1800, VideoWebRTCMode: intp(1)}},
		{"expiration upper bound, as string", `{"expirationSeconds":"172800"}`, sdk.MeetingRequest{ExpirationSeconds: 172800}},
		{"videoWebRtcMode 0", `{"videoWebRtcMode":0}`, sdk.MeetingRequest{VideoWebRTCMode: intp(0)}},
		{"unknown fields ignored", `{"meetingNumber":"123456789","role":0,"extra":true}`, sdk.MeetingRequest{MeetingNumber: "123456789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdk.DecodeMeetingRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeMeetingRequest(%s): %v", tt.body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeMeetingRequest(%s) = %+v, want %+v", tt.body, got, tt.want)
			}
		})
	}
}

func TestDecodeMeetingRequestRefuses(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"empty body", ``, []string{"body"}},
		{"array", `[]`, []string{"body"}},
		{"bad JSON", `{"role":`, []string{"body"}},
		{"two objects", `{}{}`, []string{"body"}},
		{"meetingNumber without role", `{"meetingNumber":"123456789"}`, []string{"role"}},
		{"role without meetingNumber", `{"role":0}`, []string{"meetingNumber"}},
		{"meetingNumber 8 digits", `{"meetingNumber":"12345678","role":0}`, []string{"meetingNumber"}},
		{"meetingNumber 12 digits", `{"meetingNumber":"123456789012","role":0}`, []string{"meetingNumber"}},
		{"meetingNumber with spaces", `{"meetingNumber":"123 456 789","role":0}`, []string{"meetingNumber"}},
		{"meetingNumber letters", `{"meetingNumber":"12345678a","role":0}`, []string{"meetingNumber"}},
		{"meetingNumber negative", `{"meetingNumber":-123456789,"role":0}`, []string{"meetingNumber"}},
		{"meetingNumber exponent", `{"meetingNumber":1.23456789e9,"role":0}`, []string{"meetingNumber"}},
		{"meetingNumber bool", `{"meetingNumber":true,"role":0}`, []string{"meetingNumber"}},
		{"meetingNumber empty string", `{"meetingNumber":"","role":0}`, []string{"meetingNumber"}},
		{"role 2", `{"meetingNumber":"123456789","role":2}`, []string{"role"}},
		{"role -1", `{"meetingNumber":"123456789","role":-1}`, []string{"role"}},
		{"role fraction", `{"meetingNumber":"123456789","role":0.5}`, []string{"role"}},
		{"role word", `{"meetingNumber":"123456789","role":"host"}`, []string{"role"}},
		{"role object", `{"meetingNumber":"123456789","role":{}}`, []string{"role"}},
		{"expiration 1799", `{"expirationSeconds":1799}`, []string{"expirationSeconds"}},
		{"expiration 172801", `{"expirationSeconds":172801}`, []string{"expirationSeconds"}},
		{"expiration 0 sent", `{"expirationSeconds":0}`, []string{"expirationSeconds"}},
		{"expiration word", `{"expirationSeconds":"2h"}`, []string{"expirationSeconds"}},
		{"expiration huge", `{"expirationSeconds":99999999999999999999999}`, []string{"expirationSeconds"}},
		{"videoWebRtcMode 2", `{"videoWebRtcMode":2}`, []string{"videoWebRtcMode"}},
		{"videoWebRtcMode bool", `{"videoWebRtcMode":true}`, []string{"videoWebRtcMode"}},
		{"all four wrong", `{"meetingNumber":"12","role":5,"expirationSeconds":10,"videoWebRtcMode":"x"}`,
			[]string{"meetingNumber", "role", "expirationSeconds", "videoWebRtcMode"}},
		{"one-sided and others wrong", `{"role":1,"expirationSeconds":200000,"videoWebRtcMode":3}`,
			[]string{"meetingNumber", "expirationSeconds", "videoWebRtcMode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdk.DecodeMeetingRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeMeetingRequest(%s) = %+v, want an error", tt.body, got)
			}
			if f := fieldsOf(t, err); !reflect.DeepEqual(f, tt.fields) {
				t.Errorf("DecodeMeetingRequest(%s): bad fields %v, want %v (%v)", tt.body, f, tt.fields, err)
			}
		})
	}
}

// The expiration bounds hold in SignMeeting too, for requests built in code.
func TestSignMeetingValidates(t *testing.T) {
	tests := []struct {
		name   string
		req    sdk.MeetingRequest
		fields []string
	}{
		{"expiration 1799", sdk.MeetingRequest{MeetingNumber: "123456789", ExpirationSeconds: 1799}, []string{"expirationSeconds"}},
		{"expiration 172801", sdk.MeetingRequest{MeetingNumber: "123456789", ExpirationSeconds: 172801}, []string{"expirationSeconds"}},
		{"negative expiration", sdk.MeetingRequest{MeetingNumber: "123456789", ExpirationSeconds: -1}, []string{"expirationSeconds"}},
		{"role 2", sdk.MeetingRequest{MeetingNumber: "123456789", Role: 2}, []string{"role"}},
		{"role 1 without meeting", sdk.MeetingRequest{Role: 1}, []string{"meetingNumber"}},
		{"meeting number", sdk.MeetingRequest{MeetingNumber: "1234"}, []string{"meetingNumber"}},
		{"videoWebRtcMode", sdk.MeetingRequest{VideoWebRTCMode: intp(7)}, []string{"videoWebRtcMode"}},
		{"several", sdk.MeetingRequest{MeetingNumber: "x", Role: 3, ExpirationSeconds: 5, VideoWebRTCMode: intp(-1)},
			[]string{"meetingNumber", "role", "expirationSeconds", "videoWebRtcMode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := sdk.SignMeeting(testKey, secret.New(testSecret), tt.req, testNow)
			if err == nil {
				t.Fatalf("SignMeeting(%+v) = %q, want an error", tt.req, sig)
			}
			if f := fieldsOf(t, err); !reflect.DeepEqual(f, tt.fields) {
				t.Errorf("SignMeeting(%+v): bad fields %v, want %v", tt.req, f, tt.fields)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error holds the secret: %v", err)
			}
		})
	}
}

func TestSignMeetingPayload(t *testing.T) {
	req := sdk.MeetingRequest{MeetingNumber: "12345678901", Role: 1, ExpirationSeconds: 3600, VideoWebRTCMode: intp(1)}
	sig, err := sdk.SignMeeting(testKey, secret.New(testSecret), req, testNow)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := parse(t, sig, testSecret)
	if err != nil {
		t.Fatalf("signature does not verify with the secret: %v", err)
	}
	iat := float64(testNow.Unix() - 30)
	want := jwt.MapClaims{
		"appKey": testKey, "sdkKey": testKey, "mn": "12345678901", "role": float64(1),
		"iat": iat, "exp": iat + 3600, "tokenExp": iat + 3600, "video_webrtc_mode": float64(1),
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("claims = %#v\nwant %#v", claims, want)
	}
	if _, err := parse(t, sig, testSecret+"x"); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("verify with another secret: %v, want a signature error", err)
	}
	if h := header(t, sig); h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header = %v, want HS256 JWT", h)
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header
}

func TestSignMeetingDefaultsAndOmissions(t *testing.T) {
	tests := []struct {
		name    string
		req     sdk.MeetingRequest
		life    float64
		absent  []string
		present []string
	}{
		{"default 2 h, no webrtc mode", sdk.MeetingRequest{MeetingNumber: "123456789"}, 7200, []string{"video_webrtc_mode"}, []string{"mn", "role"}},
		{"native: no mn, no role", sdk.MeetingRequest{}, 7200, []string{"mn", "role", "video_webrtc_mode"}, nil},
		{"lower bound 1800", sdk.MeetingRequest{MeetingNumber: "123456789", ExpirationSeconds: 1800}, 1800, nil, nil},
		{"upper bound 172800", sdk.MeetingRequest{MeetingNumber: "123456789", ExpirationSeconds: 172800}, 172800, nil, nil},
		{"webrtc mode 0 is sent", sdk.MeetingRequest{MeetingNumber: "123456789", VideoWebRTCMode: intp(0)}, 7200, nil, []string{"video_webrtc_mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := sdk.SignMeeting(testKey, secret.New(testSecret), tt.req, testNow)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parse(t, sig, testSecret)
			if err != nil {
				t.Fatal(err)
			}
			iat, _ := c["iat"].(float64)
			exp, _ := c["exp"].(float64)
			if iat != float64(testNow.Unix()-30) {
				t.Errorf("iat = %v, want now − 30 s = %d", c["iat"], testNow.Unix()-30)
			}
			if exp-iat != tt.life || c["tokenExp"] != c["exp"] {
				t.Errorf("exp − iat = %v, tokenExp %v, exp %v; want %v and tokenExp = exp", exp-iat, c["tokenExp"], c["exp"], tt.life)
			}
			for _, k := range tt.absent {
				if _, ok := c[k]; ok {
					t.Errorf("claim %s present, want absent", k)
				}
			}
			for _, k := range tt.present {
				if _, ok := c[k]; !ok {
					t.Errorf("claim %s absent, want present", k)
				}
			}
		})
	}
}

func TestSignMeetingCredentials(t *testing.T) {
	req := sdk.MeetingRequest{MeetingNumber: "123456789"}
	for _, tc := range []struct {
		key string
		sec secret.Value
	}{{"", secret.New(testSecret)}, {testKey, secret.Value{}}} {
		_, err := sdk.SignMeeting(tc.key, tc.sec, req, testNow)
		if !errors.Is(err, sdk.ErrNoCredentials) || errors.Is(err, apperr.ErrInvalidInput) {
			t.Errorf("SignMeeting(key %q): %v, want ErrNoCredentials and not invalid input", tc.key, err)
		}
	}
}
