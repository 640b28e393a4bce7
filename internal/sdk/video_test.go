package sdk_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

func TestDecodeVideoRequestAccepts(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		body string
		want sdk.VideoRequest
	}{
		{"required only", `{"sessionName":"s1","role":0}`, sdk.VideoRequest{SessionName: "s1"}},
		{"role as string", `{"sessionName":"s1","role":"1"}`, sdk.VideoRequest{SessionName: "s1", Role: 1}},
		{"every field", `{"sessionName":"my session","role":1,"sessionKey":"k","userIdentity":"u","geoRegions":"US,DE",
			"cloudRecordingOption":1,"cloudRecordingElection":"0","telemetryTrackingId":"t-1","expirationSeconds":1800,
			"videoWebRtcMode":1,"audioWebRtcMode":0}`,
			sdk.VideoRequest{SessionName: "my session", Role: 1, SessionKey: "k", UserIdentity: "u", GeoRegions: []string{"US", "DE"},
				CloudRecordingOption: intp(1), CloudRecordingElection: intp(0), TelemetryTrackingID: "t-1", ExpirationSeconds: 1800,
				VideoWebRTCMode: intp(1), AudioWebRTCMode: intp(0)}},
		{"geoRegions array, trimmed, any case", `{"sessionName":"s","role":0,"geoRegions":[" us","sg "]}`,
			sdk.VideoRequest{SessionName: "s", GeoRegions: []string{"US", "SG"}}},
		{"every region", `{"sessionName":"s","role":0,"geoRegions":"AU,BR,CA,CN,DE,HK,IN,JP,MX,NL,SG,US"}`,
			sdk.VideoRequest{SessionName: "s", GeoRegions: strings.Split("AU,BR,CA,CN,DE,HK,IN,JP,MX,NL,SG,US", ",")}},
		{"longest lengths", `{"sessionName":"` + long(199) + `","role":0,"sessionKey":"` + long(35) + `","userIdentity":"` + long(35) + `"}`,
			sdk.VideoRequest{SessionName: long(199), SessionKey: long(35), UserIdentity: long(35)}},
		{"expiration upper bound", `{"sessionName":"s","role":0,"expirationSeconds":172800}`, sdk.VideoRequest{SessionName: "s", ExpirationSeconds: 172800}},
		{"nulls are absent", `{"sessionName":"s","role":0,"sessionKey":null,"geoRegions":null,"videoWebRtcMode":null}`, sdk.VideoRequest{SessionName: "s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdk.DecodeVideoRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeVideoRequest(%s): %v", tt.body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeVideoRequest(%s) =\n%+v, want\n%+v", tt.body, got, tt.want)
			}
		})
	}
}

func TestDecodeVideoRequestRefuses(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	// 😀 is two UTF-16 code units, as JavaScript counts: 100 of them are 200.
	emoji := strings.Repeat("😀", 100)
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"empty body", ``, []string{"body"}},
		{"not an object", `"s"`, []string{"body"}},
		{"nothing", `{}`, []string{"sessionName", "role"}},
		{"sessionName missing", `{"role":0}`, []string{"sessionName"}},
		{"sessionName empty", `{"sessionName":"","role":0}`, []string{"sessionName"}},
		{"sessionName 200", `{"sessionName":"` + long(200) + `","role":0}`, []string{"sessionName"}},
		{"sessionName 200 UTF-16 units", `{"sessionName":"` + emoji + `","role":0}`, []string{"sessionName"}},
		{"sessionName number", `{"sessionName":5,"role":0}`, []string{"sessionName"}},
		{"role missing", `{"sessionName":"s"}`, []string{"role"}},
		{"role 2", `{"sessionName":"s","role":2}`, []string{"role"}},
		{"role word", `{"sessionName":"s","role":"host"}`, []string{"role"}},
		{"sessionKey 36", `{"sessionName":"s","role":0,"sessionKey":"` + long(36) + `"}`, []string{"sessionKey"}},
		{"sessionKey number", `{"sessionName":"s","role":0,"sessionKey":12}`, []string{"sessionKey"}},
		{"userIdentity 36", `{"sessionName":"s","role":0,"userIdentity":"` + long(36) + `"}`, []string{"userIdentity"}},
		{"userIdentity array", `{"sessionName":"s","role":0,"userIdentity":["u"]}`, []string{"userIdentity"}},
		{"geoRegions unknown", `{"sessionName":"s","role":0,"geoRegions":"US,FR"}`, []string{"geoRegions"}},
		{"geoRegions empty string", `{"sessionName":"s","role":0,"geoRegions":""}`, []string{"geoRegions"}},
		{"geoRegions empty array", `{"sessionName":"s","role":0,"geoRegions":[]}`, []string{"geoRegions"}},
		{"geoRegions empty item", `{"sessionName":"s","role":0,"geoRegions":"US,,DE"}`, []string{"geoRegions"}},
		{"geoRegions number", `{"sessionName":"s","role":0,"geoRegions":1}`, []string{"geoRegions"}},
		{"geoRegions array of numbers", `{"sessionName":"s","role":0,"geoRegions":[1]}`, []string{"geoRegions"}},
		{"cloudRecordingOption 2", `{"sessionName":"s","role":0,"cloudRecordingOption":2}`, []string{"cloudRecordingOption"}},
		{"cloudRecordingElection -1", `{"sessionName":"s","role":0,"cloudRecordingElection":-1}`, []string{"cloudRecordingElection"}},
		{"telemetryTrackingId number", `{"sessionName":"s","role":0,"telemetryTrackingId":7}`, []string{"telemetryTrackingId"}},
		{"expiration 1799", `{"sessionName":"s","role":0,"expirationSeconds":1799}`, []string{"expirationSeconds"}},
		{"expiration 172801", `{"sessionName":"s","role":0,"expirationSeconds":172801}`, []string{"expirationSeconds"}},
		{"expiration fraction", `{"sessionName":"s","role":0,"expirationSeconds":1800.5}`, []string{"expirationSeconds"}},
		{"videoWebRtcMode 2", `{"sessionName":"s","role":0,"videoWebRtcMode":2}`, []string{"videoWebRtcMode"}},
		{"audioWebRtcMode word", `{"sessionName":"s","role":0,"audioWebRtcMode":"on"}`, []string{"audioWebRtcMode"}},
		{"every field wrong", `{"sessionName":"","role":9,"sessionKey":"` + long(40) + `","userIdentity":"` + long(40) + `",
			"geoRegions":"XX","cloudRecordingOption":5,"cloudRecordingElection":5,"telemetryTrackingId":false,
			"expirationSeconds":5,"videoWebRtcMode":5,"audioWebRtcMode":5}`,
			[]string{"sessionName", "role", "sessionKey", "userIdentity", "geoRegions", "cloudRecordingOption",
				"cloudRecordingElection", "telemetryTrackingId", "expirationSeconds", "videoWebRtcMode", "audioWebRtcMode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sdk.DecodeVideoRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeVideoRequest(%s) = %+v, want an error", tt.body, got)
			}
			if f := fieldsOf(t, err); !reflect.DeepEqual(f, tt.fields) {
				t.Errorf("DecodeVideoRequest(%s): bad fields %v, want %v (%v)", tt.body, f, tt.fields, err)
			}
		})
	}
}

// A reason never echoes a long value back.
func TestDecodeVideoRequestReasonIsShort(t *testing.T) {
	_, err := sdk.DecodeVideoRequest([]byte(`{"sessionName":"s","role":0,"geoRegions":"` + strings.Repeat("Z", 5000) + `"}`))
	e, ok := apperr.As(err)
	if !ok || len(e.Details) != 1 || len(e.Details[0].Reason) > 200 {
		t.Fatalf("error %v: want one short reason", err)
	}
}

func TestSignVideoValidates(t *testing.T) {
	tests := []struct {
		name   string
		req    sdk.VideoRequest
		fields []string
	}{
		{"no session name", sdk.VideoRequest{}, []string{"sessionName"}},
		{"expiration 1799", sdk.VideoRequest{SessionName: "s", ExpirationSeconds: 1799}, []string{"expirationSeconds"}},
		{"expiration 172801", sdk.VideoRequest{SessionName: "s", ExpirationSeconds: 172801}, []string{"expirationSeconds"}},
		{"lower-case region", sdk.VideoRequest{SessionName: "s", GeoRegions: []string{"us"}}, []string{"geoRegions"}},
		{"empty regions", sdk.VideoRequest{SessionName: "s", GeoRegions: []string{}}, []string{"geoRegions"}},
		{"several", sdk.VideoRequest{SessionName: "s", Role: 4, CloudRecordingOption: intp(3), AudioWebRTCMode: intp(3)},
			[]string{"role", "cloudRecordingOption", "audioWebRtcMode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := sdk.SignVideo(testKey, secret.New(testSecret), tt.req, testNow)
			if err == nil {
				t.Fatalf("SignVideo(%+v) = %q, want an error", tt.req, sig)
			}
			if f := fieldsOf(t, err); !reflect.DeepEqual(f, tt.fields) {
				t.Errorf("SignVideo(%+v): bad fields %v, want %v", tt.req, f, tt.fields)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error holds the secret: %v", err)
			}
		})
	}
}

func TestSignVideoPayload(t *testing.T) {
	req := sdk.VideoRequest{SessionName: "my session", Role: 1, SessionKey: "key-1", UserIdentity: "user-1",
		GeoRegions: []string{"US", "DE"}, CloudRecordingOption: intp(1), CloudRecordingElection: intp(0),
		TelemetryTrackingID: "tt", ExpirationSeconds: 172800, VideoWebRTCMode: intp(1), AudioWebRTCMode: intp(0)}
	sig, err := sdk.SignVideo(testKey, secret.New(testSecret), req, testNow)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := parse(t, sig, testSecret)
	if err != nil {
		t.Fatalf("token does not verify with the secret: %v", err)
	}
	iat := float64(testNow.Unix() - 30)
	want := jwt.MapClaims{
		"app_key": testKey, "role_type": float64(1), "tpc": "my session", "version": float64(1),
		"iat": iat, "exp": iat + 172800, "user_identity": "user-1", "session_key": "key-1", "geo_regions": "US,DE",
		"cloud_recording_option": float64(1), "cloud_recording_election": float64(0), "telemetry_tracking_id": "tt",
		"video_webrtc_mode": float64(1), "audio_webrtc_mode": float64(0),
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("claims = %#v\nwant %#v", claims, want)
	}
	if _, err := parse(t, sig, "another secret"); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("verify with another secret: %v, want a signature error", err)
	}
	if h := header(t, sig); h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header = %v, want HS256 JWT", h)
	}
}

func TestSignVideoMinimal(t *testing.T) {
	for _, tc := range []struct {
		exp  int
		life float64
	}{{0, 7200}, {1800, 1800}, {172800, 172800}} {
		sig, err := sdk.SignVideo(testKey, secret.New(testSecret), sdk.VideoRequest{SessionName: "s", ExpirationSeconds: tc.exp}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := parse(t, sig, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		iat := float64(testNow.Unix() - 30)
		want := jwt.MapClaims{"app_key": testKey, "role_type": float64(0), "tpc": "s", "version": float64(1), "iat": iat, "exp": iat + tc.life}
		if !reflect.DeepEqual(claims, want) {
			t.Errorf("expiration %d: claims = %#v\nwant %#v", tc.exp, claims, want)
		}
	}
}

func TestSignVideoCredentials(t *testing.T) {
	_, err := sdk.SignVideo(testKey, secret.Value{}, sdk.VideoRequest{SessionName: "s"}, testNow)
	if !errors.Is(err, sdk.ErrNoCredentials) {
		t.Errorf("SignVideo without a secret: %v, want ErrNoCredentials", err)
	}
}
