package webhooks

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// Zoom's documented test vector for url_validation.
func TestEncryptTokenZoomVector(t *testing.T) {
	v := NewVerifier([]secret.Value{secret.New("secretValueTest")})
	got, err := v.EncryptToken(0, "qgg8vlvZRS6UYooatFL8Aw")
	if err != nil || got != "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff" {
		t.Fatalf("EncryptToken = %q, %v", got, err)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"meeting.started","event_ts":1700000000000,"payload":{}}`)
	ts := "1700000000"
	v := NewVerifier([]secret.Value{secret.New("old-secret-0123"), secret.New(""), secret.New("new-secret-4567")})
	if i, at, err := v.Verify(ts, Sign("new-secret-4567", ts, body), body); err != nil || i != 1 || at.Unix() != 1700000000 {
		t.Fatalf("the second secret: %d %v %v", i, at, err)
	}
	if i, _, err := v.Verify(ts, Sign("old-secret-0123", ts, body), body); err != nil || i != 0 {
		t.Fatalf("the first secret: %d %v", i, err)
	}
	good := Sign("old-secret-0123", ts, body)
	bad := map[string][3]string{
		"no signature":       {ts, "", string(body)},
		"no v0=":             {ts, good[3:], string(body)},
		"short hex":          {ts, good[:40], string(body)},
		"not hex":            {ts, "v0=" + string(make([]byte, 64)), string(body)},
		"other secret":       {ts, Sign("someone-else", ts, body), string(body)},
		"body changed":       {ts, good, string(body) + " "},
		"timestamp changed":  {"1700000001", good, string(body)},
		"no timestamp":       {"", good, string(body)},
		"timestamp not int":  {"17e8", good, string(body)},
		"negative timestamp": {"-1700000000", good, string(body)},
	}
	for name, c := range bad {
		_, _, err := v.Verify(c[0], c[1], []byte(c[2]))
		if !errors.Is(err, apperr.ErrInvalidSignature) || apperr.Code(err) != "invalid_signature" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := NewVerifier(nil).Verify(ts, good, body); !errors.Is(err, apperr.ErrInvalidSignature) {
		t.Errorf("no secrets: %v", err)
	}
	// Milliseconds are read as such.
	if at, ok := ParseTimestamp("1700000000123"); !ok || at.UnixMilli() != 1700000000123 {
		t.Errorf("ms timestamp = %v %v", at, ok)
	}
}

func TestParse(t *testing.T) {
	e, err := Parse([]byte(`{"event":"meeting.participant_joined","event_ts":1700000000123,"payload":{"account_id":"acc",
		"object":{"id":85746065432,"uuid":"u==","host_id":"h","participant":{"user_id":"16778240","user_name":"Pat",
		"id":"BXE0adSxQRqGSP5fg1rkcA","participant_uuid":"pu","participant_user_id":"","email":"Pat@Example.com",
		"join_time":"2026-11-23T10:00:00Z"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := e.Participant
	if e.Name != EventParticipantJoined || e.Meeting.Number != "85746065432" || e.AccountID != "acc" || p == nil ||
		p.UserID != "16778240" || p.ID != "BXE0adSxQRqGSP5fg1rkcA" || p.Email != "Pat@Example.com" || p.UUID != "pu" ||
		p.Time.IsZero() || e.At.UnixMilli() != 1700000000123 || e.Key == "" {
		t.Fatalf("parsed %+v %+v", e, p)
	}
	// The meeting id as a string, user_id as a number; whitespace does not change the key.
	e2, err := Parse([]byte(`{"event":"meeting.participant_joined","event_ts":1700000000123,"payload":{"account_id":"acc","object":{"id":"85746065432","uuid":"u==","host_id":"h","participant":{"user_id":16778240}}}}`))
	if err != nil || e2.Meeting.Number != "85746065432" || e2.Participant.UserID != "16778240" {
		t.Fatalf("string id: %+v %v", e2, err)
	}
	a, _ := Parse([]byte(`{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":123456789}}}`))
	b, _ := Parse([]byte("{ \"event\": \"meeting.started\",\n \"event_ts\": 1, \"payload\": { \"object\": { \"id\": 123456789 } } }"))
	c, _ := Parse([]byte(`{"event":"meeting.started","event_ts":2,"payload":{"object":{"id":123456789}}}`))
	if a.Key != b.Key || a.Key == c.Key {
		t.Fatalf("keys: %s %s %s", a.Key, b.Key, c.Key)
	}
	if e, err := Parse([]byte(`{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1}`)); err != nil || e.PlainToken != "qgg8vlvZRS6UYooatFL8Aw" {
		t.Fatalf("validation: %+v %v", e, err)
	}
	if e, err := Parse([]byte(`{"event":"app_deauthorized","payload":{"account_id":"a","user_id":"u","client_id":"c","deauthorization_time":"2026-11-23T10:00:00Z","user_data_retention":"false"}}`)); err != nil || e.Deauth == nil || e.Deauth.UserID != "u" || e.Deauth.ClientID != "c" || e.Deauth.Retention {
		t.Fatalf("deauth: %+v %v", e, err)
	}
	// A meeting id that is not a meeting number is left empty.
	if e, _ := Parse([]byte(`{"event":"meeting.started","payload":{"object":{"id":"12/../3"}}}`)); e.Meeting.Number != "" {
		t.Fatalf("bad id kept: %q", e.Meeting.Number)
	}
	for _, body := range []string{``, `[]`, `{"event":1}`, `{"payload":{}}`, `{"event":"endpoint.url_validation","payload":{}}`,
		`{"event":"x","payload":[}`, `{"event":"meeting.started","payload":"s"}`} {
		if _, err := Parse([]byte(body)); !errors.Is(err, apperr.ErrInvalidInput) {
			t.Errorf("%q: %v", body, err)
		}
	}
	if Label("meeting.started") != "meeting.started" || Label("recording.completed") != "other" {
		t.Error("labels")
	}
}

func TestDedupe(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := NewDedupe(DedupeConfig{Now: func() time.Time { return now }})
	if v := d.Admit("a", now); v != Fresh {
		t.Fatalf("first = %v", v)
	}
	if v := d.Admit("a", now); v != Duplicate {
		t.Fatalf("again = %v", v)
	}
	// Zoom's retries of an event not seen: accepted once, whatever their age within the horizon.
	for _, age := range []time.Duration{5 * time.Minute, 20 * time.Minute, 60 * time.Minute, 85 * time.Minute} {
		key := fmt.Sprint("late", age)
		if v := d.Admit(key, now.Add(-age)); v != Fresh {
			t.Fatalf("a retry %s old = %v", age, v)
		}
		if v := d.Admit(key, now.Add(-age)); v != Duplicate {
			t.Fatalf("its replay = %v", v)
		}
	}
	if v := d.Admit("old", now.Add(-3*time.Hour)); v != Stale {
		t.Fatalf("3 h old = %v", v)
	}
	if v := d.Admit("future", now.Add(10*time.Minute)); v != Stale {
		t.Fatalf("10 min ahead = %v", v)
	}
	d.Forget("a")
	if v := d.Admit("a", now); v != Fresh {
		t.Fatalf("after Forget = %v", v)
	}
	// Remembered for the horizon, then forgotten; a replay is stale by then.
	now = now.Add(DefaultHorizon + time.Minute)
	if v := d.Admit("a", now.Add(-DefaultHorizon-time.Minute)); v != Stale {
		t.Fatalf("a replay after the horizon = %v", v)
	}
	d.Admit("b", now)
	if d.Len() != 1 {
		t.Fatalf("%d remembered after expiry", d.Len())
	}
}

func TestDedupeBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := NewDedupe(DedupeConfig{Now: func() time.Time { return now }, MaxKeys: 100})
	for i := range 1000 {
		if v := d.Admit(strconv.Itoa(i), now.Add(-time.Hour+time.Duration(i)*time.Second)); v != Fresh {
			t.Fatalf("%d = %v", i, v)
		}
	}
	if d.Len() != 100 {
		t.Fatalf("%d remembered, bound 100", d.Len())
	}
	// An event older than those forgotten may have been seen: refused.
	if v := d.Admit("0", now.Add(-time.Hour)); v != Stale {
		t.Fatalf("a forgotten event's replay = %v", v)
	}
	if v := d.Admit("999", now.Add(-time.Hour+999*time.Second)); v != Duplicate {
		t.Fatalf("a remembered one = %v", v)
	}
}

// InWindow is Dedupe's window, for url_validation: 2 h old to 5 min ahead.
func TestInWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		stamp time.Time
		in    bool
	}{
		{now, true},
		{now.Add(-DefaultHorizon), true},
		{now.Add(-DefaultHorizon - time.Second), false},
		{now.Add(DefaultSkew), true},
		{now.Add(DefaultSkew + time.Second), false},
		{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := InWindow(c.stamp, now); got != c.in {
			t.Errorf("InWindow(%s) = %v; want %v", c.stamp.UTC().Format(time.RFC3339), got, c.in)
		}
	}
}
