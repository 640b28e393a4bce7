package wire

import (
	"fmt"
	"strings"
	"testing"
)

func TestDecodeCandidates(t *testing.T) {
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("%q", fmt.Sprintf("u%d@example.com", i)))
	}
	fiftyOne := "[" + strings.Join(many, ",") + "]"
	tests := []struct {
		name   string
		body   string
		rest   bool
		users  string // the candidates, decoded
		listed bool
		follow bool
		want   []string
	}{
		{"a list", `{"meetingId":123456789,"onBehalfOf":["a@example.com","b@example.com"],"follow":true}`, false, "a@example.com b@example.com", true, true, nil},
		{"duplicates collapse", `{"meetingId":123456789,"onBehalfOf":["a@example.com","A@example.com","b@example.com","a@example.com"]}`, false, "a@example.com b@example.com", true, false, nil},
		{"follow, one id", `{"meetingId":123456789,"onBehalfOf":"a@example.com","follow":true}`, false, "", false, true, nil},
		{"REST candidates", `{"meetingId":123456789,"participantUserIds":["a@example.com"],"excludeUserIds":["b@example.com"]}`, true, "a@example.com", true, false, nil},
		{"empty", `{"meetingId":123456789,"onBehalfOf":[]}`, false, "", false, false, []string{"onBehalfOf: must list 1 to 50 users (it lists 0)"}},
		{"51", `{"meetingId":123456789,"participantUserIds":` + fiftyOne + `}`, true, "", false, false, []string{"participantUserIds: must list 1 to 50 users (it lists 51)"}},
		{"a bad id", `{"meetingId":123456789,"onBehalfOf":["a@example.com",7]}`, false, "", false, false, []string{"onBehalfOf[1]: must be a string (a Zoom user id or email)"}},
		{"follow over REST", `{"meetingId":123456789,"participantUserIds":["a@example.com"],"follow":true}`, true, "", false, false, []string{"follow: is for meeting:await over Socket.IO: a long poll answers once"}},
		{"exclude with one id", `{"meetingId":123456789,"onBehalfOf":"a@example.com","excludeUserIds":["a@example.com"]}`, false, "", false, false, []string{"excludeUserIds: goes with a list of candidates"}},
	}
	for _, tt := range tests {
		in, err := DecodeAwait([]byte(tt.body), AwaitSocketDefault, AwaitSocketMax, tt.rest)
		sameProblems(t, tt.name, err, tt.want)
		if err != nil {
			continue
		}
		var got []string
		for _, u := range in.Candidates {
			got = append(got, u.String())
		}
		if strings.Join(got, " ") != tt.users || in.Listed != tt.listed || in.Follow != tt.follow {
			t.Errorf("%s: decoded %+v", tt.name, in)
		}
	}
	in, err := DecodeJoin([]byte(`{"meetingId":123456789,"participantUserIds":["a@example.com","b@example.com"],"excludeUserIds":["a@example.com"]}`))
	if err != nil || len(in.Candidates) != 2 || len(in.Exclude) != 1 || !in.ParticipantUserID.IsZero() {
		t.Fatalf("join with candidates: %+v %v", in, err)
	}
	_, err = DecodeJoin([]byte(`{"meetingId":123456789,"participantUserId":"a@example.com","participantUserIds":["a@example.com"]}`))
	sameProblems(t, "join with both", err, []string{"participantUserIds: goes in place of participantUserId: send one of them"})
}
