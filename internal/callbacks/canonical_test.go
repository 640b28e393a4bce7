package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// The vectors below were written by Python 3's json module (the encoder
// Attendee signs with): attendeeSent is json.dumps(payload) as requests
// sends it (insertion order, ", " and ": ", \u escapes), attendeeCanonical
// is json.dumps(payload, sort_keys=True, ensure_ascii=False,
// separators=(",", ":")), and attendeeSignature is base64(HMAC-SHA256) of
// its UTF-8 bytes with the base64-decoded attendeeSecret.
const (
	attendeeSecret    = "q4VdIGZ1wFkbH2CqK0y4oP8g3G2+8cEr2X9pR1Cj1ZU="
	attendeeSent      = `{"meeting_url": "https://us05web.zoom.us/j/85746065432?pwd=abc", "bot_id": "bot_Xy12", "callback_type": "zoom_tokens", "bot_metadata": {"zoom_user_id": "host@example.com", "team": "\u00c9quipe Z\u00fcrich \u2013 \u6771\u4eac \u2028 \ud83d\ude00", "quote": "a\"b\\c\n\t\u0001\u007f</>&", "n": 12345678901234567890123, "f": 1.5, "big": 1e+16, "small": 1e-05, "z": -0.0, "hundred": 100.0, "nested": {"b": [1, 2.25, null, true, false], "a": "x"}}}`
	attendeeCanonical = `{"bot_id":"bot_Xy12","bot_metadata":{"big":1e+16,"f":1.5,"hundred":100.0,"n":12345678901234567890123,"nested":{"a":"x","b":[1,2.25,null,true,false]},"quote":"a\"b\\c\n\t\u0001` + "\x7f" + `</>&","small":1e-05,"team":"Équipe Zürich – 東京 ` + "\u2028" + ` 😀","z":-0.0,"zoom_user_id":"host@example.com"},"callback_type":"zoom_tokens","meeting_url":"https://us05web.zoom.us/j/85746065432?pwd=abc"}`
	attendeeSignature = "U90H+g7qPviENQ8vI+ze01QJiwisbDRcTjl/mB31zeA="
)

func TestCanonicalMatchesPython(t *testing.T) {
	got, _, err := Canonical([]byte(attendeeSent))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != attendeeCanonical {
		t.Fatalf("canonical form differs from Python's:\n got %q\nwant %q", got, attendeeCanonical)
	}
	key, err := ParseAttendeeSecret(attendeeSecret)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write(got)
	if s := base64.StdEncoding.EncodeToString(m.Sum(nil)); s != attendeeSignature {
		t.Fatalf("signature = %s, want Python's %s", s, attendeeSignature)
	}
}

func TestPythonFloatRepr(t *testing.T) {
	// Python 3: repr(f) == json.dumps(f) for each.
	for in, want := range map[string]string{
		"0.1": "0.1", "1e22": "1e+22", "1.0": "1.0", "123456789012345.6": "123456789012345.6",
		"1e15": "1000000000000000.0", "1e16": "1e+16", "0.0001": "0.0001", "0.00001": "1e-05",
		"5e-324": "5e-324", "1.7976931348623157e308": "1.7976931348623157e+308", "-2.5e-7": "-2.5e-07",
		"3.14159": "3.14159", "1234567890123456.0": "1234567890123456.0", "12345678901234567.0": "1.2345678901234568e+16",
		"1E2": "100.0", "1e400": "Infinity", "0.5e1": "5.0", "-0.0": "-0.0",
		"-0": "0", "12345678901234567890123": "12345678901234567890123",
	} {
		got, err := pyNumber(in)
		if err != nil || got != want {
			t.Errorf("pyNumber(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestAttendeeVerify(t *testing.T) {
	key, _ := ParseAttendeeSecret(attendeeSecret)
	a, err := NewAttendee(AttendeeConfig{Key: key, Tokens: fakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(attendeeSignature, []byte(attendeeSent)); err != nil {
		t.Fatalf("Attendee's own signature refused: %v", err)
	}
	bad := []struct{ name, sig, body string }{
		{"no signature", "", attendeeSent},
		{"not base64", "!!!", attendeeSent},
		{"short", base64.StdEncoding.EncodeToString([]byte("short")), attendeeSent},
		{"other body", attendeeSignature, `{"bot_id":"bot_Xy13"}`},
		{"raw body signed", signRaw(key.Reveal(), attendeeSent), attendeeSent},
	}
	for _, c := range bad {
		if _, err := a.Verify(c.sig, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func signRaw(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestMeetingFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://us05web.zoom.us/j/85746065432?pwd=abc": "85746065432",
		"https://zoom.us/wc/join/857460654":             "857460654",
		"https://zoom.us/s/85746065432":                 "85746065432",
		"https://zoom.us/my/alice":                      "",
		"https://zoom.us/j/123":                         "",
		"zoom.us/j/85746065432":                         "",
	} {
		m, _ := MeetingFromURL(in)
		if m.String() != want {
			t.Errorf("MeetingFromURL(%q) = %q, want %q", in, m.String(), want)
		}
	}
}
