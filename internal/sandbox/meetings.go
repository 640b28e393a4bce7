package sandbox

// Meetings and a join judge (docs/ZOOM.md, "Meetings and join tokens", "OBF
// joins in practice", "Meeting SDK signature"): the sandbox holds meetings
// with a host and the users in them now, answers Zoom's meeting and
// local-recording join-token endpoints, and judges a Meeting SDK join
// (POST /sandbox/sdk/join) as Zoom's SDK and servers do. Where Zoom's exact
// answer is not documented the stricter one is taken, and the comment says so.

import (
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	keepMeetings       = 10000 // meetings held at once
	keepParticipants   = 1000  // users in one meeting at once
	localRecordingLife = 120   // seconds, Zoom's expire_in
	sdkMinLife         = 1800  // exp - iat, seconds
	sdkMaxLife         = 172800
)

// Meeting is a sandbox meeting. A meeting whose host is a user of the
// sandbox's account is the account's own; any other is an outside meeting.
type Meeting struct {
	ID           int64    `json:"id"`
	Number       string   `json:"number"`
	UUID         string   `json:"uuid"`
	HostID       string   `json:"host_id"`
	HostEmail    string   `json:"host_email"`
	AccountID    string   `json:"account_id"`
	Topic        string   `json:"topic"`
	Type         int      `json:"type"`         // 2: scheduled
	Status       string   `json:"status"`       // "waiting", or "started" while anyone is in it
	Participants []string `json:"participants"` // user ids of the users in the meeting now
}

type meeting struct {
	Meeting
	in map[string]bool // user ids in the meeting now

	// For its webhook events (webhooks.go): each user's session, and when
	// the meeting started.
	sessions    map[string]webhookSession
	nextSession int
	startedAt   time.Time

	sdk map[string]*sdkSession // its Meeting SDK sessions in progress (sessions.go)
}

func (m *meeting) view() Meeting {
	v := m.Meeting
	v.Participants = make([]string, 0, len(m.in))
	for id := range m.in {
		v.Participants = append(v.Participants, id)
	}
	slices.Sort(v.Participants)
	v.Status = "waiting"
	if len(m.in) > 0 {
		v.Status = "started"
	}
	return v
}

// meetState is the sandbox's meetings and the OBF tokens spent in joins.
type meetState struct {
	meetings map[string]*meeting
	usedOBF  map[string]bool
	sdk      sessionState // the judge's SDK sessions (sessions.go)

	meetingCalls, recordingCalls int64 // GET /v2/meetings/{id} and …/jointoken/local_recording, all answers
}

// The scopes of the meeting endpoints (granular, as Zoom's docs name them,
// and the classic ones that cover them): an S2S token needs the :admin ones.
const (
	ScopeMeetingReadAdmin    = "meeting:read:meeting:admin"
	ScopeMeetingRead         = "meeting:read:meeting"
	ScopeLocalRecordingAdmin = "meeting:read:local_recording_token:admin"
	ScopeLocalRecording      = "meeting:read:local_recording_token"
)

// Scopes that serve every endpoint the server calls: ServerScopes for the
// S2S app, UserScopes for the General app's users (sandbox mode grants
// them; the defaults of Options grant only the user-token ones).
const (
	ServerScopes = ScopeUserToken + " " + ScopeMeetingReadAdmin + " " + ScopeLocalRecordingAdmin
	UserScopes   = DefaultOAuthScopes + " " + ScopeMeetingRead + " " + ScopeLocalRecording
)

// meetingScopes are the scopes that allow a meeting endpoint, for an S2S
// token (admin) or a user's token: the granular one, or the classic one.
func meetingScopes(recording, admin bool) []string {
	switch {
	case recording && admin:
		return []string{ScopeLocalRecordingAdmin, "meeting_token:read:admin:local_recording", "meeting:read:admin"}
	case recording:
		return []string{ScopeLocalRecording, "meeting_token:read:local_recording", "meeting:read"}
	case admin:
		return []string{ScopeMeetingReadAdmin, "meeting:read:admin"}
	default:
		return []string{ScopeMeetingRead, "meeting:read"}
	}
}

// MeetingAPICalls counts the calls of Zoom's meeting endpoints, all answers:
// GET /v2/meetings/{id}, and its jointoken/local_recording.
func (s *Sandbox) MeetingAPICalls() (meetings, recordingTokens int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.meetings()
	return st.meetingCalls, st.recordingCalls
}

// MeetingError is a refusal of the meeting API, with Zoom's code.
type MeetingError struct {
	Status  int // HTTP status
	Code    int // Zoom's code
	Message string
}

func (e *MeetingError) Error() string { return fmt.Sprintf("sandbox: %d %s", e.Code, e.Message) }

func meetErr(status, code int, msg string) error {
	return &MeetingError{Status: status, Code: code, Message: msg}
}

func noMeeting(number string) error {
	return meetErr(http.StatusNotFound, 3001, "Meeting does not exist: "+number+".")
}

// SDKApp returns the Meeting SDK key and secret the join judge verifies
// signatures with: Options.SDKKey and SDKSecret, by default the General
// app's client id and secret, as Zoom's General app signs SDK JWTs with them.
func (s *Sandbox) SDKApp() (key, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sdkApp(s.opts)
}

func sdkApp(o Options) (key, secret string) {
	key, secret = o.SDKKey, o.SDKSecret
	if key == "" {
		key = o.OAuthClientID
	}
	if secret == "" {
		secret = o.OAuthClientSecret
	}
	return key, secret
}

// lookupUser finds any user the sandbox knows, in any account, by email or
// id. It takes s.mu.
func (s *Sandbox) lookupUser(o Options, id string) (User, bool) {
	if strings.Contains(id, "@") {
		if !validEmail(id) {
			return User{}, false
		}
		return s.emailUser(o, id)
	}
	if id == OwnerID {
		return s.ownerUser(o), true
	}
	if slices.Contains(defaultUsers, id) {
		return User{ID: id, AccountID: o.AccountID, Type: 1}, true
	}
	s.mu.Lock()
	u, ok := s.oauth.seen[id]
	s.mu.Unlock()
	return u, ok
}

// CreateMeeting creates a meeting hosted by host (an email); number is its
// meeting number (9 to 11 digits), or "" for a random one. The host's
// account decides whether the meeting is the sandbox account's own.
func (s *Sandbox) CreateMeeting(host, number string) (Meeting, error) {
	o := s.snapshot()
	if number == "" {
		number = strconv.FormatInt(1_000_000_000+rand.Int64N(9_000_000_000), 10)
	}
	if !isMeetingNumber(number) {
		return Meeting{}, meetErr(http.StatusBadRequest, 300, "Validation Failed. Invalid field: number.")
	}
	if !strings.Contains(host, "@") {
		return Meeting{}, meetErr(http.StatusBadRequest, 300, "Validation Failed. Invalid field: host (an email).")
	}
	u, ok := s.lookupUser(o, host)
	if !ok {
		return Meeting{}, meetErr(http.StatusNotFound, 1001, "User does not exist: "+host+".")
	}
	id, _ := strconv.ParseInt(number, 10, 64)
	m := &meeting{Meeting: Meeting{ID: id, Number: number, UUID: base64.StdEncoding.EncodeToString(randomBytes(16)),
		HostID: u.ID, HostEmail: u.Email, AccountID: u.AccountID, Topic: "Sandbox meeting " + number, Type: 2},
		in: map[string]bool{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.meetings()
	if _, dup := st.meetings[number]; dup {
		return Meeting{}, meetErr(http.StatusConflict, 3000, "Meeting number already in use: "+number+".")
	}
	if len(st.meetings) >= keepMeetings {
		return Meeting{}, meetErr(http.StatusServiceUnavailable, 3000, "Too many meetings: end some first.")
	}
	st.meetings[number] = m
	return m.view(), nil
}

// meetings returns the meeting state, made on first use. s.mu held.
func (s *Sandbox) meetings() *meetState {
	if s.meet.meetings == nil {
		s.meet = meetState{meetings: map[string]*meeting{}, usedOBF: map[string]bool{}}
	}
	return &s.meet
}

// GetMeeting returns a meeting.
func (s *Sandbox) GetMeeting(number string) (Meeting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meetings().meetings[number]
	if m == nil {
		return Meeting{}, noMeeting(number)
	}
	return m.view(), nil
}

// AddParticipant puts a user (email or id) in the meeting now.
func (s *Sandbox) AddParticipant(number, user string) (Meeting, error) {
	u, ok := s.lookupUser(s.snapshot(), user)
	if !ok {
		return Meeting{}, meetErr(http.StatusNotFound, 1001, "User does not exist: "+user+".")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meetings().meetings[number]
	switch {
	case m == nil:
		return Meeting{}, noMeeting(number)
	case !m.in[u.ID] && len(m.in) >= keepParticipants:
		return Meeting{}, meetErr(http.StatusServiceUnavailable, 3000, "The meeting is full.")
	}
	if !m.in[u.ID] {
		s.joinedEvents(m, u)
	}
	m.in[u.ID] = true
	return m.view(), nil
}

// RemoveParticipant takes a user (email or id) out of the meeting; a user
// who was not in it is no error. When the last one leaves, the meeting's
// RTMS stream stops (rtms.go).
func (s *Sandbox) RemoveParticipant(number, user string) (Meeting, error) {
	m, err := s.removeParticipant(number, user)
	if err == nil && m.Status != "started" {
		s.stopMeetingRTMS(number)
	}
	return m, err
}

func (s *Sandbox) removeParticipant(number, user string) (Meeting, error) {
	u, ok := s.lookupUser(s.snapshot(), user)
	if !ok {
		return Meeting{}, meetErr(http.StatusNotFound, 1001, "User does not exist: "+user+".")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meetings().meetings[number]
	if m == nil {
		return Meeting{}, noMeeting(number)
	}
	if m.in[u.ID] {
		delete(m.in, u.ID)
		// Zoom ends the SDK sessions of OBFs of the user who left; when
		// the last user leaves, the meeting ends, and every session in it.
		s.endSessions(m, u.ID, SessionUserLeft)
		if len(m.in) == 0 {
			s.endSessions(m, "", SessionMeetingEnded)
		}
		s.leftEvents(m, u)
	}
	return m.view(), nil
}

// EndMeeting ends a meeting: its RTMS stream stops, everyone leaves and the
// meeting no longer exists (3001 from then on), as an ended instant meeting.
func (s *Sandbox) EndMeeting(number string) error {
	if _, err := s.GetMeeting(number); err == nil {
		s.stopMeetingRTMS(number)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.meetings()
	if st.meetings[number] == nil {
		return noMeeting(number)
	}
	s.endSessions(st.meetings[number], "", SessionMeetingEnded)
	s.endedEvent(st.meetings[number])
	delete(st.meetings, number)
	return nil
}

// issuedToken is a ZAK or OBF the sandbox minted, read back from its list
// of minted tokens (the token's payload cannot be altered: it must match a
// minted token exactly).
type issuedToken struct {
	Sub  string `json:"sub"`
	Type string `json:"type"`
	MN   string `json:"mn"`
	Exp  int64  `json:"exp"`
}

// issued finds a token among those minted. s.mu held.
func (s *Sandbox) issued(tok string) (issuedToken, bool) {
	if tok == "" || !slices.Contains(s.minted, tok) {
		return issuedToken{}, false
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return issuedToken{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var it issuedToken
	if err != nil || json.Unmarshal(b, &it) != nil {
		return issuedToken{}, false
	}
	return it, true
}

// spendOBF marks an OBF used; false if it was already. s.mu held. The set is
// bounded: tokens no longer among those minted are refused anyway, so they
// are forgotten.
func (s *Sandbox) spendOBF(tok string) bool {
	st := s.meetings()
	if st.usedOBF[tok] {
		return false
	}
	if len(st.usedOBF) >= keepMinted {
		live := make(map[string]bool, len(s.minted))
		for _, t := range s.minted {
			live[t] = true
		}
		for t := range st.usedOBF {
			if !live[t] {
				delete(st.usedOBF, t)
			}
		}
	}
	st.usedOBF[tok] = true
	return true
}

// ControlHandler serves the sandbox's control routes alone (its meetings,
// their participants, and the judge of Meeting SDK joins, all under
// /sandbox/), for a server that offers them on its own port. Its Zoom side
// (OAuth, /v2) is not served here: that stays at URL, where a Zoom client
// talks to it. Anything else is answered 404 as Zoom's gateway answers.
func (s *Sandbox) ControlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs, ok := gatewayPath(r.URL.EscapedPath())
		if ok && len(segs) >= 2 && segs[0].name == "sandbox" && s.serveSandbox(w, r, segs) {
			return
		}
		writeJSON(w, http.StatusNotFound, zoomErr(404, "Not found."))
	})
}

// serveSandbox answers the sandbox's own control routes under /sandbox/.
func (s *Sandbox) serveSandbox(w http.ResponseWriter, r *http.Request, segs []segment) bool {
	n := func(i int) string { return segs[i].name }
	switch {
	case r.Method == http.MethodPost && len(segs) == 3 && n(1) == "sdk" && n(2) == "join":
		s.sdkJoin(w, r)
	case len(segs) >= 4 && n(1) == "sdk" && n(2) == "sessions":
		return s.serveSession(w, r, segs)
	case r.Method == http.MethodPost && len(segs) == 2 && n(1) == "meetings":
		var req struct {
			Number json.RawMessage `json:"number"`
			Host   string          `json:"host"`
		}
		if !readJSON(w, r, &req) {
			return true
		}
		number, ok := numberField(req.Number)
		if !ok {
			writeJSON(w, http.StatusBadRequest, zoomErr(300, "Validation Failed. Invalid field: number."))
			return true
		}
		answerMeeting(w, http.StatusCreated)(s.CreateMeeting(req.Host, number))
	case r.Method == http.MethodGet && len(segs) == 3 && n(1) == "meetings":
		answerMeeting(w, http.StatusOK)(s.GetMeeting(n(2)))
	case r.Method == http.MethodDelete && len(segs) == 3 && n(1) == "meetings":
		if err := s.EndMeeting(n(2)); err != nil {
			answerMeeting(w, 0)(Meeting{}, err)
			return true
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && len(segs) == 4 && n(1) == "meetings" && n(3) == "participants":
		var req struct {
			User string `json:"user"`
		}
		if !readJSON(w, r, &req) {
			return true
		}
		answerMeeting(w, http.StatusOK)(s.AddParticipant(n(2), req.User))
	case len(segs) == 4 && n(1) == "meetings" && n(3) == "rtms":
		return s.serveRTMS(w, r, n(2))
	case r.Method == http.MethodDelete && len(segs) == 5 && n(1) == "meetings" && n(3) == "participants":
		answerMeeting(w, http.StatusOK)(s.RemoveParticipant(n(2), segs[4].lookup))
	default:
		return false
	}
	return true
}

func answerMeeting(w http.ResponseWriter, status int) func(Meeting, error) {
	return func(m Meeting, err error) {
		var me *MeetingError
		switch {
		case errors.As(err, &me):
			writeJSON(w, me.Status, zoomErr(me.Code, me.Message))
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, zoomErr(500, err.Error()))
		default:
			writeJSON(w, status, m)
		}
	}
}

// readJSON decodes a small JSON body, answering 400 code 300 when it is not one.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, zoomErr(300, "Validation Failed. The body is not the JSON expected."))
		return false
	}
	return true
}

// numberField reads a meeting number given as a JSON string or integer
// (absent: ""), without checking its length.
func numberField(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, true
	}
	var num json.Number
	if json.Unmarshal(raw, &num) == nil {
		if _, err := strconv.ParseUint(num.String(), 10, 64); err == nil {
			return num.String(), true
		}
	}
	return "", false
}

// serveMeetingsAPI answers Zoom's GET /v2/meetings/{meetingId} and
// GET /v2/meetings/{meetingId}/jointoken/local_recording.
func (s *Sandbox) serveMeetingsAPI(w http.ResponseWriter, r *http.Request, segs []segment) bool {
	recording := len(segs) == 5 && segs[3].name == "jointoken" && segs[4].name == "local_recording"
	if r.Method != http.MethodGet || (len(segs) != 3 && !recording) || segs[2].name == "" {
		return false
	}
	s.mu.Lock()
	if recording {
		s.meetings().recordingCalls++
	} else {
		s.meetings().meetingCalls++
	}
	s.mu.Unlock()
	o, auth, ok := s.apiCall(w, r)
	if !ok {
		return true
	}
	// The scope is checked before the meeting is looked up, as for the
	// user-token endpoint.
	if need := meetingScopes(recording, auth.user == nil); !slices.ContainsFunc(need, func(sc string) bool { return hasScope(auth.scopes, sc) }) {
		writeJSON(w, http.StatusBadRequest, zoomErr(4711, "Invalid access token, does not contain scopes:["+need[0]+"]."))
		return true
	}
	id := segs[2].name
	m, err := s.GetMeeting(id)
	// What the token may see: with S2S, meetings of the account; with a
	// user's token, the meetings that user hosts. Anything else does not
	// exist for it.
	visible := err == nil && ((auth.user == nil && m.AccountID == o.AccountID) ||
		(auth.user != nil && m.HostID == auth.user.ID))
	if !visible {
		writeJSON(w, http.StatusNotFound, zoomErr(3001, "Meeting does not exist: "+id+"."))
		return true
	}
	if !recording {
		writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "uuid": m.UUID, "host_id": m.HostID,
			"host_email": m.HostEmail, "topic": m.Topic, "type": m.Type, "status": m.Status})
		return true
	}
	if v := r.URL.Query()["bypass_waiting_room"]; len(v) > 1 || (len(v) == 1 && v[0] != "true" && v[0] != "false") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
			"errors": []map[string]string{{"field": "bypass_waiting_room", "message": "Invalid field."}}})
		return true
	}
	tok := fakeJWT(m.HostID, "local_recording", m.Number, o.Now().Add(localRecordingLife*time.Second))
	s.mu.Lock()
	s.remember(tok)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expire_in": localRecordingLife})
	return true
}

// joinRefusal is the join judge's answer to a refused join: the web SDK's
// error code and message, and the sandbox's reason.
type joinRefusal struct {
	status int
	code   int
	msg    string
	reason string
}

func refuse(status, code int, msg, reason string) *joinRefusal {
	return &joinRefusal{status, code, msg, reason}
}

func badSignature(reason string) *joinRefusal {
	return refuse(http.StatusUnauthorized, 3712, "Signature is invalid.", reason)
}

// sdkJoin answers POST /sandbox/sdk/join.
func (s *Sandbox) sdkJoin(w http.ResponseWriter, r *http.Request) {
	o := s.snapshot()
	if !s.delay(r, o.Latency) {
		return
	}
	var req struct {
		Signature     string          `json:"signature"`
		MeetingNumber json.RawMessage `json:"meetingNumber"`
		ZAK           string          `json:"zak"`
		OBFToken      string          `json:"obfToken"`
		UserName      string          `json:"userName"`
	}
	number, parsed := "", false
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err == nil {
		number, parsed = numberField(req.MeetingNumber)
	}
	v, no := s.judgeJoin(o, req.Signature, number, req.ZAK, req.OBFToken, req.UserName, parsed)
	var sess *sdkSession
	if no == nil {
		s.mu.Lock()
		sess, no = s.startSession(o, number, req.UserName, v)
		s.mu.Unlock()
	}
	if no != nil {
		writeJSON(w, no.status, map[string]any{"method": "join", "status": false, "errorCode": no.code,
			"errorMessage": no.msg, "reason": no.reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": true, "meetingNumber": number, "userName": req.UserName, "as": v.as,
		"sessionId": sess.ID})
}

// verdict is how a join the judge lets in joins: as whom, and for an OBF
// join, the OBF's user, to whose presence its session is tied.
type verdict struct {
	as      string
	obfUser string // the OBF's user id
	obfWho  string // its email, or id
}

// judgeJoin decides a join: how it joins, or why it is refused.
func (s *Sandbox) judgeJoin(o Options, signature, number, zak, obf, userName string, parsed bool) (verdict, *joinRefusal) {
	if !parsed || !isMeetingNumber(number) || strings.TrimSpace(userName) == "" {
		// No Zoom code is known for a malformed join; 3000 is the SDK's
		// generic "join meeting failed".
		return verdict{}, refuse(http.StatusBadRequest, 3000, "Invalid parameters.",
			"signature, meetingNumber (9 to 11 digits) and userName are required")
	}
	role, no := verifySignature(o, signature, number)
	if no != nil {
		return verdict{}, no
	}
	if zak != "" && obf != "" {
		return verdict{}, refuse(http.StatusBadRequest, 3000, "Invalid parameters.", "zak and obfToken are exclusive: send one")
	}
	m, err := s.GetMeeting(number)
	if err != nil {
		return verdict{}, refuse(http.StatusNotFound, 3001, "Meeting does not exist: "+number+".", "no such meeting")
	}
	if role == 1 && zak == "" {
		return verdict{}, refuse(http.StatusForbidden, 3000, "Join meeting failed.", "role 1 (host) needs the host's ZAK")
	}
	switch {
	case zak != "":
		return s.judgeZAK(o, m, zak, role)
	case obf != "":
		return s.judgeOBF(o, number, obf)
	}
	if m.AccountID != o.AccountID {
		return verdict{}, refuse(http.StatusForbidden, 4012, "Join meeting failed: this meeting requires a ZAK or an OBF token.",
			"the meeting is outside the SDK app's account: a ZAK or OBF token is required")
	}
	return verdict{as: "participant"}, nil
}

// judgeZAK decides a join with a ZAK: as the host (role 1, the meeting
// host's ZAK) or as a participant.
func (s *Sandbox) judgeZAK(o Options, m Meeting, zak string, role int) (verdict, *joinRefusal) {
	s.mu.Lock()
	it, ok := s.issued(zak)
	s.mu.Unlock()
	if !ok || it.Type != "zak" {
		return verdict{}, refuse(http.StatusForbidden, 4013, "Join meeting failed: invalid ZAK.", "the ZAK is not one the sandbox issued")
	}
	if it.Exp <= o.Now().Unix() {
		return verdict{}, refuse(http.StatusForbidden, 4013, "Join meeting failed: invalid ZAK.", "the ZAK has expired")
	}
	u, ok := s.lookupUser(o, it.Sub)
	if !ok {
		return verdict{}, refuse(http.StatusForbidden, 4013, "Join meeting failed: invalid ZAK.", "the ZAK's user does not exist")
	}
	if role == 1 {
		if u.ID != m.HostID {
			return verdict{}, refuse(http.StatusForbidden, 3000, "Join meeting failed.", "role 1 needs the ZAK of the meeting's host")
		}
		return verdict{as: "host"}, nil
	}
	return verdict{as: "participant"}, nil
}

// judgeOBF decides a join with an OBF token: on behalf of its user, who
// must be in the meeting now. The token is spent when presented.
func (s *Sandbox) judgeOBF(o Options, number, obf string) (verdict, *joinRefusal) {
	now := o.Now().Unix()
	s.mu.Lock()
	it, ok := s.issued(obf)
	var reason string
	switch {
	case !ok || it.Type != "onbehalf":
		reason = "the OBF token is not one the sandbox issued"
	case it.Exp <= now:
		reason = "the OBF token has expired"
	case it.MN != number:
		reason = "the OBF token was minted for another meeting (meeting_id " + it.MN + ")"
	case !s.spendOBF(obf):
		// Spent when presented, even if the join then fails: one OBF per
		// SDK session (Zoom's exact rule is not documented; this is the
		// stricter reading).
		reason = "the OBF token was used already: mint a fresh one for each join"
	}
	s.mu.Unlock()
	if reason != "" {
		return verdict{}, refuse(http.StatusForbidden, 4013, "Join meeting failed: invalid OBF token.", reason)
	}
	u, ok := s.lookupUser(o, it.Sub)
	if !ok {
		return verdict{}, refuse(http.StatusForbidden, 4013, "Join meeting failed: invalid OBF token.", "the OBF's user does not exist")
	}
	cur, err := s.GetMeeting(number)
	if err != nil || !slices.Contains(cur.Participants, u.ID) {
		return verdict{}, refuse(http.StatusForbidden, 65535, "authorized user not in meeting",
			"the OBF's user is not in the meeting now")
	}
	who := u.Email
	if who == "" {
		who = u.ID
	}
	return verdict{as: "on behalf of " + who, obfUser: u.ID, obfWho: who}, nil
}

// verifySignature checks a Meeting SDK JWT for the meeting and returns its role.
func verifySignature(o Options, signature, number string) (int, *joinRefusal) {
	if signature == "" {
		return 0, badSignature("no signature")
	}
	key, secret := sdkApp(o)
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	claims := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(signature, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil {
		return 0, badSignature("not an HS256 JWT signed with the SDK secret: " + err.Error())
	}
	if k, _ := claims["appKey"].(string); k != key {
		return 0, badSignature("appKey is not the SDK key")
	}
	if k, ok := claims["sdkKey"]; ok && k != key {
		return 0, badSignature("sdkKey is not the SDK key")
	}
	integer := func(name string) (int64, bool) {
		n, ok := claims[name].(json.Number)
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		return v, err == nil
	}
	iat, ok1 := integer("iat")
	exp, ok2 := integer("exp")
	if !ok1 || !ok2 {
		return 0, badSignature("iat and exp must be integers")
	}
	now := o.Now().Unix()
	switch {
	case iat > now:
		return 0, badSignature("not yet valid: iat is in the future")
	case exp <= now:
		return 0, badSignature("the signature has expired")
	case exp-iat < sdkMinLife || exp-iat > sdkMaxLife:
		return 0, badSignature(fmt.Sprintf("exp - iat is %d s: it must be 1800 s to 48 h", exp-iat))
	}
	if _, ok := claims["tokenExp"]; ok {
		if te, ok := integer("tokenExp"); !ok || te <= now || te-iat < sdkMinLife || te > exp {
			return 0, badSignature("tokenExp must be an integer, at least 1800 s after iat, not after exp and not past")
		}
	}
	var mn string
	switch v := claims["mn"].(type) {
	case string:
		mn = v
	case json.Number:
		mn = v.String()
	}
	if mn != number {
		return 0, badSignature("mn is not the meeting number joined")
	}
	role, ok := integer("role")
	if !ok || (role != 0 && role != 1) {
		return 0, badSignature("role must be 0 or 1")
	}
	return int(role), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := cryptorand.Read(b); err != nil {
		panic(errors.New("sandbox: no randomness"))
	}
	return b
}
