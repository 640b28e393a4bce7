package sandbox

// Meeting SDK sessions (docs/ZOOM.md, "The sandbox's join judge and SDK
// sessions"): every join the judge lets in starts a session, named in its
// answer (sessionId). Zoom ties an OBF join's session to the OBF's user: when
// that user leaves the meeting the session ends, as Zoom removes the bot.
// When the meeting ends (ended, or its last user left) every session in it
// ends. A bot learns its session ended from GET /sandbox/sdk/sessions/{id}
// (its state now) or GET /sandbox/sdk/sessions/{id}/wait (a long poll that
// answers when it ends, or when its time runs out); DELETE
// /sandbox/sdk/sessions/{id} is the bot leaving.

import (
	"net/http"
	"strconv"
	"time"
)

const (
	keepSessions       = 10000 // sessions remembered, ended ones included
	sessionWaitDefault = 20    // seconds a wait holds its answer by default
	sessionWaitMax     = 60
)

// Session states and the reasons a session ends.
const (
	SessionInMeeting    = "in_meeting"
	SessionEnded        = "ended"
	SessionUserLeft     = "user_left"     // the OBF's user left the meeting
	SessionMeetingEnded = "meeting_ended" // the meeting ended, or its last user left
	SessionLeft         = "left"          // the bot left (DELETE)
)

// SDKSession is a Meeting SDK session the judge let in.
type SDKSession struct {
	ID            string     `json:"sessionId"`
	MeetingNumber string     `json:"meetingNumber"`
	UserName      string     `json:"userName"`
	As            string     `json:"as"`
	OnBehalfOf    string     `json:"onBehalfOf,omitempty"` // the OBF's user (email, or id), for an OBF join
	State         string     `json:"state"`                // in_meeting or ended
	StartedAt     time.Time  `json:"startedAt"`
	EndedAt       *time.Time `json:"endedAt,omitempty"`
	Reason        string     `json:"reason,omitempty"` // why it ended
}

type sdkSession struct {
	SDKSession
	obfUser string        // the OBF's user id; "" for a join without an OBF
	ended   chan struct{} // closed when it ends
}

// sessionState is the sessions the judge started, and their order, for
// forgetting the oldest ended ones. Part of meetState; s.mu guards it.
type sessionState struct {
	byID  map[string]*sdkSession
	order []string
}

// startSession starts the session of a join the judge let in. The OBF's
// user's presence is checked again here, under the lock the leave takes, so
// no session outlives a departure it missed. s.mu held.
func (s *Sandbox) startSession(o Options, number, userName string, v verdict) (*sdkSession, *joinRefusal) {
	st := s.meetings()
	m := st.meetings[number]
	if m == nil {
		return nil, refuse(http.StatusNotFound, 3001, "Meeting does not exist: "+number+".", "no such meeting")
	}
	if v.obfUser != "" && !m.in[v.obfUser] {
		return nil, refuse(http.StatusForbidden, 65535, "authorized user not in meeting", "the OBF's user is not in the meeting now")
	}
	ss := &st.sdk
	if len(ss.byID) >= keepSessions {
		s.forgetEndedSessions()
	}
	if len(ss.byID) >= keepSessions {
		return nil, refuse(http.StatusServiceUnavailable, 3000, "Join meeting failed.",
			"the sandbox holds "+strconv.Itoa(keepSessions)+" SDK sessions in meetings: end some meetings first")
	}
	sess := &sdkSession{SDKSession: SDKSession{ID: "sdk_" + randomString(12), MeetingNumber: number, UserName: userName,
		As: v.as, OnBehalfOf: v.obfWho, State: SessionInMeeting, StartedAt: o.Now().UTC()},
		obfUser: v.obfUser, ended: make(chan struct{})}
	if ss.byID == nil {
		ss.byID = map[string]*sdkSession{}
	}
	ss.byID[sess.ID] = sess
	ss.order = append(ss.order, sess.ID)
	if m.sdk == nil {
		m.sdk = map[string]*sdkSession{}
	}
	m.sdk[sess.ID] = sess
	return sess, nil
}

// forgetEndedSessions drops the ended sessions from memory. s.mu held.
func (s *Sandbox) forgetEndedSessions() {
	ss := &s.meetings().sdk
	kept := ss.order[:0]
	for _, id := range ss.order {
		if ss.byID[id].State == SessionEnded {
			delete(ss.byID, id)
			continue
		}
		kept = append(kept, id)
	}
	ss.order = kept
}

// endSessions ends the sessions in m tied to the user id (every session
// when userID is ""), with reason. s.mu held.
func (s *Sandbox) endSessions(m *meeting, userID, reason string) {
	for id, sess := range m.sdk {
		if userID == "" || sess.obfUser == userID {
			s.endSession(sess, reason)
			delete(m.sdk, id)
		}
	}
}

// endSession ends one session. s.mu held.
func (s *Sandbox) endSession(sess *sdkSession, reason string) {
	if sess.State == SessionEnded {
		return
	}
	at := s.opts.Now().UTC()
	sess.State, sess.EndedAt, sess.Reason = SessionEnded, &at, reason
	close(sess.ended)
}

// Session answers a session's state now.
func (s *Sandbox) Session(id string) (SDKSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.meetings().sdk.byID[id]
	if sess == nil {
		return SDKSession{}, false
	}
	return sess.view(), true
}

func (sess *sdkSession) view() SDKSession {
	v := sess.SDKSession
	if v.EndedAt != nil {
		at := *v.EndedAt
		v.EndedAt = &at
	}
	return v
}

// LeaveSession is the bot leaving: its session ends (reason "left"); a
// session that ended already stays as it ended.
func (s *Sandbox) LeaveSession(id string) (SDKSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.meetings()
	sess := st.sdk.byID[id]
	if sess == nil {
		return SDKSession{}, false
	}
	if sess.State != SessionEnded {
		s.endSession(sess, SessionLeft)
		if m := st.meetings[sess.MeetingNumber]; m != nil {
			delete(m.sdk, id)
		}
	}
	return sess.view(), true
}

// serveSession answers GET and DELETE /sandbox/sdk/sessions/{id} and GET
// /sandbox/sdk/sessions/{id}/wait; false for any other path under
// /sandbox/sdk/sessions.
func (s *Sandbox) serveSession(w http.ResponseWriter, r *http.Request, segs []segment) bool {
	wait := len(segs) == 5 && segs[4].name == "wait"
	if (len(segs) != 4 && !wait) || segs[3].name == "" {
		return false
	}
	id := segs[3].name
	noSession := func() { writeJSON(w, http.StatusNotFound, zoomErr(404, "No such SDK session: "+id+".")) }
	switch {
	case r.Method == http.MethodGet && wait:
		s.waitSession(w, r, id)
	case r.Method == http.MethodGet:
		if v, ok := s.Session(id); ok {
			writeJSON(w, http.StatusOK, v)
		} else {
			noSession()
		}
	case r.Method == http.MethodDelete && !wait:
		if v, ok := s.LeaveSession(id); ok {
			writeJSON(w, http.StatusOK, v)
		} else {
			noSession()
		}
	default:
		return false
	}
	return true
}

// waitSession holds its answer until the session ends, timeoutSeconds pass
// (1 to 60; default 20), or the client goes; it answers the session's state.
func (s *Sandbox) waitSession(w http.ResponseWriter, r *http.Request, id string) {
	secs := sessionWaitDefault
	if q := r.URL.Query()["timeoutSeconds"]; len(q) > 0 {
		n, err := strconv.Atoi(q[0])
		if len(q) > 1 || err != nil || n < 1 || n > sessionWaitMax {
			writeJSON(w, http.StatusBadRequest, zoomErr(300, "Validation Failed. Invalid field: timeoutSeconds (1 to 60)."))
			return
		}
		secs = n
	}
	s.mu.Lock()
	sess := s.meetings().sdk.byID[id]
	s.mu.Unlock()
	if sess == nil {
		writeJSON(w, http.StatusNotFound, zoomErr(404, "No such SDK session: "+id+"."))
		return
	}
	t := time.NewTimer(time.Duration(secs) * time.Second)
	defer t.Stop()
	select {
	case <-sess.ended:
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	v := sess.view()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}
