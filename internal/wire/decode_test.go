package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

const (
	meetingDigitsReason = `must be 9 to 11 digits (the Zoom meeting number, e.g. "85746065432")`
	ttlReason           = "must be a whole number of seconds from 1 to 31536000" // zoom.MaxTTLSeconds
)

// problems is err's details as "field: reason", or the error's message
// when it lists none; nil for no error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("error %v is not an *apperr.Error", err)
	}
	if len(e.Details) == 0 {
		return []string{e.Message}
	}
	var out []string
	for _, d := range e.Details {
		out = append(out, d.Field+": "+d.Reason)
	}
	return out
}

func sameProblems(t *testing.T, name string, err error, want []string) {
	t.Helper()
	got := problems(t, err)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: problems\n  got  %q\n  want %q", name, got, want)
	}
	if err != nil && len(want) > 0 && !errors.Is(err, apperr.ErrInvalidInput) && !errors.Is(err, apperr.ErrTooLarge) {
		t.Errorf("%s: error %v is neither invalid input nor too large", name, err)
	}
}

func TestMaxTTLReasonMatchesZoom(t *testing.T) {
	if want := fmt.Sprintf("must be a whole number of seconds from 1 to %d", zoom.MaxTTLSeconds); ttlReason != want {
		t.Fatalf("ttlReason is %q, zoom says %q", ttlReason, want)
	}
}

func TestDecodeStart(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"good", `{"meetingId":"85746065432","hostUserId":"host@example.com","ttl":3600}`, nil},
		{"good, no ttl", `{"meetingId":85746065432,"hostUserId":"abc_DEF-123"}`, nil},
		{"null ttl is absent", `{"meetingId":85746065432,"hostUserId":"h@example.com","ttl":null}`, nil},
		{"unknown fields ignored", `{"meetingId":85746065432,"hostUserId":"h@example.com","extra":[1,2]}`, nil},
		{"empty object", `{}`, []string{"meetingId: is required", "hostUserId: is required"}},
		{"nulls are absent", `{"meetingId":null,"hostUserId":null}`, []string{"meetingId: is required", "hostUserId: is required"}},
		{"meetingId a bool", `{"meetingId":true,"hostUserId":"h@example.com"}`, []string{"meetingId: must be a string or a number"}},
		{"meetingId an object", `{"meetingId":{},"hostUserId":"h@example.com"}`, []string{"meetingId: must be a string or a number"}},
		{"meetingId letters", `{"meetingId":"abcdefghij","hostUserId":"h@example.com"}`, []string{"meetingId: " + meetingDigitsReason}},
		{"meetingId negative", `{"meetingId":-123456789,"hostUserId":"h@example.com"}`, []string{"meetingId: " + meetingDigitsReason}},
		{"meetingId a fraction", `{"meetingId":123456789.5,"hostUserId":"h@example.com"}`, []string{"meetingId: " + meetingDigitsReason}},
		{"meetingId short", `{"meetingId":"12345678","hostUserId":"h@example.com"}`, []string{"meetingId: must be 9 to 11 digits, got 8"}},
		{"meetingId long", `{"meetingId":123456789012,"hostUserId":"h@example.com"}`, []string{"meetingId: must be 9 to 11 digits, got 12"}},
		{"meetingId empty string", `{"meetingId":"","hostUserId":"h@example.com"}`, []string{"meetingId: is required"}},
		{"hostUserId a number", `{"meetingId":123456789,"hostUserId":42}`, []string{"hostUserId: must be a string (a Zoom user id or email)"}},
		{"hostUserId empty", `{"meetingId":123456789,"hostUserId":""}`, []string{"hostUserId: is required"}},
		{"hostUserId me", `{"meetingId":123456789,"hostUserId":"me"}`, []string{`hostUserId: must name a user: "me" is Zoom's alias for the token's own user`}},
		{"hostUserId with a slash", `{"meetingId":123456789,"hostUserId":"a/b"}`, []string{`hostUserId: must be a Zoom user id (letters, digits, _ and -) or an email; '/' is not allowed`}},
		{"ttl zero", `{"meetingId":123456789,"hostUserId":"h@example.com","ttl":0}`, []string{"ttl: " + ttlReason}},
		{"ttl too long", `{"meetingId":123456789,"hostUserId":"h@example.com","ttl":31536001}`, []string{"ttl: " + ttlReason}},
		{"ttl a fraction", `{"meetingId":123456789,"hostUserId":"h@example.com","ttl":1.5}`, []string{"ttl: " + ttlReason}},
		{"ttl a word", `{"meetingId":123456789,"hostUserId":"h@example.com","ttl":"soon"}`, []string{"ttl: must be a whole number of seconds"}},
		{"ttl a bool", `{"meetingId":123456789,"hostUserId":"h@example.com","ttl":true}`, []string{"ttl: must be a whole number of seconds"}},
		{"every field wrong, in order", `{"meetingId":[],"hostUserId":{},"ttl":-1}`, []string{
			"meetingId: must be a string or a number", "hostUserId: must be a string (a Zoom user id or email)", "ttl: " + ttlReason}},
		{"not an object", `[1]`, []string{"body: must be a JSON object"}},
		{"empty body", ``, []string{"body: is empty; send a JSON object"}},
		{"two objects", `{} {}`, []string{"body: must hold one JSON object and nothing after it"}},
		{"broken JSON", `{"meetingId":`, []string{"body: is not valid JSON"}},
	}
	for _, tt := range tests {
		_, err := DecodeStart([]byte(tt.body))
		sameProblems(t, tt.name, err, tt.want)
	}
}

func TestDecodeStartValues(t *testing.T) {
	in, err := DecodeStart([]byte(`{"meetingId":"085746065432"` + `,"hostUserId":"Host@Example.com","ttl":"60"}`))
	if err == nil {
		t.Fatalf("12 digits accepted: %+v", in)
	}
	in, err = DecodeStart([]byte(`{"meetingId":"85746065432","hostUserId":"Host@Example.com","ttl":"60"}`))
	if err != nil {
		t.Fatal(err)
	}
	// A ttl sent as a string holding a number is read as that number, as
	// json.Number reads it.
	if in.MeetingID.String() != "85746065432" || in.HostUserID.String() != "Host@Example.com" || in.TTL != 60 {
		t.Fatalf("decoded %+v", in)
	}
}

// A meeting id is answered as it was sent: a number as a number, a string
// as a string.
func TestMeetingIDNumberOrString(t *testing.T) {
	for _, tt := range []struct{ sent, answered string }{
		{`85746065432`, `85746065432`},
		{`"85746065432"`, `"85746065432"`},
		{` 123456789 `, `123456789`},
	} {
		in, err := DecodeJoin([]byte(`{"meetingId":` + tt.sent + `,"participantUserId":"p@example.com"}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.sent, err)
		}
		b, _ := json.Marshal(in.MeetingID)
		if string(b) != tt.answered || in.MeetingID.String() != strings.Trim(strings.TrimSpace(tt.sent), `"`) {
			t.Errorf("meetingId %s: answered %s (%q), want %s", tt.sent, b, in.MeetingID.String(), tt.answered)
		}
	}
}

func TestDecodeJoin(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"good", `{"meetingId":"123456789","participantUserId":"p@example.com","ttl":60}`, nil},
		{"absent user", `{"meetingId":"123456789"}`, []string{"participantUserId: is required"}},
		{"hostUserId is not read", `{"meetingId":"123456789","hostUserId":"h@example.com"}`, []string{"participantUserId: is required"}},
		{"user an array", `{"meetingId":"123456789","participantUserId":["p@example.com"]}`, []string{"participantUserId: must be a string (a Zoom user id or email)"}},
		{"bad ttl", `{"meetingId":"123456789","participantUserId":"p@example.com","ttl":99999999999}`, []string{"ttl: " + ttlReason}},
	}
	for _, tt := range tests {
		_, err := DecodeJoin([]byte(tt.body))
		sameProblems(t, tt.name, err, tt.want)
	}
	in, err := DecodeJoin([]byte(`{"meetingId":123456789,"participantUserId":"p@example.com","ttl":120}`))
	if err != nil || in.ParticipantUserID.String() != "p@example.com" || in.TTL != 120 {
		t.Fatalf("decoded %+v, %v", in, err)
	}
}

func TestDecodeBatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		most int
		want []string
	}{
		{"good", `{"meetingId":"123456789","participantUserIds":["a@example.com","b@example.com"]}`, 10, nil},
		{"absent list", `{"meetingId":"123456789"}`, 10, []string{"participantUserIds: is required: an array of Zoom user ids or emails"}},
		{"null list", `{"meetingId":"123456789","participantUserIds":null}`, 10, []string{"participantUserIds: is required: an array of Zoom user ids or emails"}},
		{"empty list", `{"meetingId":"123456789","participantUserIds":[]}`, 10, []string{"participantUserIds: must list at least one user"}},
		{"a string, not a list", `{"meetingId":"123456789","participantUserIds":"a@example.com"}`, 10, []string{"participantUserIds: must be an array of strings"}},
		{"bad items, each named", `{"meetingId":"123456789","participantUserIds":["a@example.com",7,"",null,"me"]}`, 10, []string{
			"participantUserIds[1]: must be a string",
			"participantUserIds[2]: is required",
			"participantUserIds[3]: is required",
			`participantUserIds[4]: must name a user: "me" is Zoom's alias for the token's own user`}},
		{"at the limit", `{"meetingId":"123456789","participantUserIds":["a@example.com","b@example.com"]}`, 2, nil},
		{"over the limit: 413 alone", `{"meetingId":"x","participantUserIds":["a@example.com","b@example.com","c@example.com"]}`, 2, []string{
			"participantUserIds lists 3 users; at most 2 (BATCH_MAX) may be asked for at once."}},
		{"no limit", `{"meetingId":"123456789","participantUserIds":["a@example.com","b@example.com","c@example.com"]}`, 0, nil},
	}
	for _, tt := range tests {
		_, err := DecodeBatch([]byte(tt.body), tt.most)
		sameProblems(t, tt.name, err, tt.want)
	}
	_, err := DecodeBatch([]byte(`{"meetingId":"123456789","participantUserIds":["a@example.com","b@example.com","c@example.com"]}`), 2)
	if !errors.Is(err, apperr.ErrTooLarge) {
		t.Errorf("over BATCH_MAX: %v, want apperr.ErrTooLarge", err)
	}
	in, err := DecodeBatch([]byte(`{"meetingId":"123456789","participantUserIds":["a@example.com","B@example.com"]}`), 10)
	if err != nil || len(in.ParticipantUserIDs) != 2 || in.ParticipantUserIDs[1].String() != "B@example.com" {
		t.Fatalf("decoded %+v, %v", in, err)
	}
}

// A body of many wrong items gets the first MaxDetails reasons and a
// message that counts them all.
func TestDecodeBatchCapsDetails(t *testing.T) {
	for _, n := range []int{MaxDetails, MaxDetails + 1, 100} {
		items := make([]string, n)
		for i := range items {
			items[i] = "1"
		}
		_, err := DecodeBatch([]byte(`{"meetingId":"123456789","participantUserIds":[`+strings.Join(items, ",")+`]}`), 1000)
		e, ok := apperr.As(err)
		if !ok {
			t.Fatalf("%d bad items: %v", n, err)
		}
		if len(e.Details) != MaxDetails {
			t.Errorf("%d bad items: %d details, want %d", n, len(e.Details), MaxDetails)
		}
		if e.Details[MaxDetails-1].Field != fmt.Sprintf("participantUserIds[%d]", MaxDetails-1) {
			t.Errorf("%d bad items: last detail is %+v", n, e.Details[MaxDetails-1])
		}
		want := fmt.Sprintf("The request is not valid: %d fields are wrong (see details).", n)
		if n > MaxDetails {
			want = fmt.Sprintf("The request is not valid: %d fields are wrong; details lists the first %d.", n, MaxDetails)
		}
		if e.Message != want {
			t.Errorf("%d bad items: message %q, want %q", n, e.Message, want)
		}
	}
}

func TestDecodeDistribute(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"good", `{"meetingId":123456789,"hostUserId":"h@example.com","participantUserIds":["a@example.com"]}`, nil},
		{"empty", `{}`, []string{"hostUserId: is required", "meetingId: is required",
			"participantUserIds: is required: an array of Zoom user ids or emails"}},
		{"too many", `{"hostUserId":7,"participantUserIds":["a@example.com","b@example.com"]}`, []string{
			"participantUserIds lists 2 users; at most 1 (BATCH_MAX) may be asked for at once."}},
	}
	for _, tt := range tests {
		_, err := DecodeDistribute([]byte(tt.body), 1)
		sameProblems(t, tt.name, err, tt.want)
	}
	in, err := DecodeDistribute([]byte(`{"meetingId":123456789,"hostUserId":"h@example.com","participantUserIds":["a@example.com"]}`), 1)
	if err != nil || in.HostUserID.String() != "h@example.com" || in.MeetingID.String() != "123456789" || len(in.ParticipantUserIDs) != 1 {
		t.Fatalf("decoded %+v, %v", in, err)
	}
}

func TestDecodeSetup(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"good, no participants", `{"meetingId":123456789,"hostUserId":"h@example.com"}`, nil},
		{"empty participants allowed", `{"meetingId":123456789,"hostUserId":"h@example.com","participantUserIds":[]}`, nil},
		{"bad", `{"meetingId":1,"participantUserIds":[1],"ttl":0}`, []string{"meetingId: must be 9 to 11 digits, got 1",
			"hostUserId: is required", "participantUserIds[0]: must be a string", "ttl: " + ttlReason}},
	}
	for _, tt := range tests {
		_, err := DecodeSetup([]byte(tt.body), 5)
		sameProblems(t, tt.name, err, tt.want)
	}
}

func TestDecodeCallerToken(t *testing.T) {
	tests := []struct {
		name string
		body string
		role services.Role
		want []string
	}{
		{"participant by default", `{"sub":"u@example.com"}`, services.RoleParticipant, nil},
		{"null role is absent", `{"sub":"u@example.com","role":null}`, services.RoleParticipant, nil},
		{"host", `{"sub":"u@example.com","role":"host"}`, services.RoleHost, nil},
		{"admin", `{"sub":"u@example.com","role":"admin"}`, services.RoleAdmin, nil},
		{"bad role", `{"sub":"u@example.com","role":"root"}`, "", []string{"role: must be admin, host or participant"}},
		{"role a number", `{"sub":"u@example.com","role":1}`, "", []string{"role: must be admin, host or participant"}},
		{"no sub", `{"role":"host"}`, "", []string{"sub: is required"}},
	}
	for _, tt := range tests {
		id, err := DecodeCallerToken([]byte(tt.body))
		sameProblems(t, tt.name, err, tt.want)
		if err == nil && (id.Role != tt.role || id.Subject != "u@example.com" || id.Method != "jwt") {
			t.Errorf("%s: identity %+v", tt.name, id)
		}
	}
}

func TestDecodeAwait(t *testing.T) {
	const socketRange = "timeoutSeconds: must be a whole number of seconds from 1 to 3600"
	tests := []struct {
		name    string
		body    string
		zeroOK  bool
		user    string
		timeout time.Duration
		want    []string
	}{
		{"onBehalfOf", `{"meetingId":123456789,"onBehalfOf":"u@example.com"}`, false, "u@example.com", AwaitSocketDefault, nil},
		{"participantUserId", `{"meetingId":123456789,"participantUserId":"u@example.com"}`, false, "u@example.com", AwaitSocketDefault, nil},
		{"both, the same user", `{"meetingId":123456789,"onBehalfOf":"U@example.com","participantUserId":"u@example.com"}`, false, "U@example.com", AwaitSocketDefault, nil},
		{"both, other users", `{"meetingId":123456789,"onBehalfOf":"a@example.com","participantUserId":"b@example.com"}`, false, "", 0,
			[]string{"participantUserId: names another user than onBehalfOf: send one of them"}},
		{"neither", `{"meetingId":123456789}`, false, "", 0, []string{"onBehalfOf: is required"}},
		{"null onBehalfOf, participantUserId given", `{"meetingId":123456789,"onBehalfOf":null,"participantUserId":"u@example.com"}`, false, "u@example.com", AwaitSocketDefault, nil},
		{"timeout", `{"meetingId":123456789,"onBehalfOf":"u@example.com","timeoutSeconds":90}`, false, "u@example.com", 90 * time.Second, nil},
		{"timeout null is absent", `{"meetingId":123456789,"onBehalfOf":"u@example.com","timeoutSeconds":null}`, false, "u@example.com", AwaitSocketDefault, nil},
		{"timeout zero on a socket", `{"meetingId":123456789,"onBehalfOf":"u@example.com","timeoutSeconds":0}`, false, "", 0, []string{socketRange}},
		{"timeout over the hour", `{"meetingId":123456789,"onBehalfOf":"u@example.com","timeoutSeconds":3601}`, false, "", 0, []string{socketRange}},
		{"timeout a word", `{"meetingId":123456789,"onBehalfOf":"u@example.com","timeoutSeconds":"long"}`, false, "", 0, []string{socketRange}},
		{"timeout zero over REST", `{"meetingId":123456789,"participantUserId":"u@example.com","timeoutSeconds":0}`, true, "u@example.com", 0, nil},
	}
	for _, tt := range tests {
		in, err := DecodeAwait([]byte(tt.body), AwaitSocketDefault, AwaitSocketMax, tt.zeroOK)
		sameProblems(t, tt.name, err, tt.want)
		if err == nil && (in.User.String() != tt.user || in.Timeout != tt.timeout || in.MeetingID.String() != "123456789") {
			t.Errorf("%s: decoded %+v", tt.name, in)
		}
	}
	_, err := DecodeAwait([]byte(`{"meetingId":123456789,"participantUserId":"u@example.com","timeoutSeconds":61}`), AwaitRESTDefault, AwaitRESTMax, true)
	sameProblems(t, "REST over a minute", err, []string{"timeoutSeconds: must be a whole number of seconds from 0 to 60"})
}

func TestDecodeCancelAwait(t *testing.T) {
	m, err := DecodeCancelAwait([]byte(`{"meetingId":"123456789","onBehalfOf":7}`))
	if err != nil || m.String() != "123456789" {
		t.Fatalf("decoded %v, %v", m, err)
	}
	_, err = DecodeCancelAwait([]byte(`{}`))
	sameProblems(t, "no meeting", err, []string{"meetingId: is required"})
}

func TestDecodeRecording(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		bypass bool
		want   []string
	}{
		{"good", `{"meetingId":123456789}`, false, nil},
		{"bypass", `{"meetingId":123456789,"bypassWaitingRoom":true}`, true, nil},
		{"bypass null is absent", `{"meetingId":123456789,"bypassWaitingRoom":null}`, false, nil},
		{"bypass a string", `{"meetingId":123456789,"bypassWaitingRoom":"yes"}`, false, []string{"bypassWaitingRoom: must be true or false"}},
		{"bypass a number", `{"meetingId":"1","bypassWaitingRoom":1}`, false, []string{"meetingId: must be 9 to 11 digits, got 1", "bypassWaitingRoom: must be true or false"}},
	}
	for _, tt := range tests {
		in, err := DecodeRecording([]byte(tt.body))
		sameProblems(t, tt.name, err, tt.want)
		if err == nil && in.BypassWaitingRoom != tt.bypass {
			t.Errorf("%s: decoded %+v", tt.name, in)
		}
	}
}
