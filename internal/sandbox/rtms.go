package sandbox

// RTMS, Realtime Media Streams (docs/ZOOM.md, "RTMS"): a control starts a
// stream on a sandbox meeting (StartRTMS, POST /sandbox/meetings/{n}/rtms)
// and stops it (StopRTMS, DELETE), and the sandbox sends
// meeting.rtms_started / meeting.rtms_stopped to the webhook as Zoom does:
// signed, and retried when not answered in time (webhooks.go). The stream's
// signaling websocket (GET /rtms/signaling on the sandbox's own listener, the
// URL in server_urls) checks the handshake as Zoom does: msg_type 1 with the
// stream's meeting_uuid, rtms_stream_id and signature = hex(HMAC-SHA256(
// client secret, "client_id,meeting_uuid,stream_id")). A wrong one is
// answered with a non-zero status_code and closed; a second good connection
// for a stream kicks out the first. After the handshake the sandbox sends a
// few transcript messages (msg_type 17) on the signaling connection itself
// (Zoom sends media on a separate media connection: the sandbox has none),
// and keep-alive requests (12), which the client answers (13); a client's own
// 12 is answered 13.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Zoom's RTMS message types (its RTMS_MESSAGE_TYPE) that the sandbox uses.
const (
	rtmsHandshakeReq  = 1
	rtmsHandshakeResp = 2
	rtmsStreamState   = 8
	rtmsKeepAliveReq  = 12
	rtmsKeepAliveResp = 13
	rtmsTranscript    = 17
)

// Handshake status codes. 0 is Zoom's success; the non-zero values are the
// sandbox's own (Zoom's numbering for each refusal is not relied on).
const (
	RTMSStatusOK               = 0
	RTMSStatusInvalidMessage   = 3
	RTMSStatusStreamNotFound   = 4
	RTMSStatusInvalidSignature = 8
)

// RTMSStopMeetingEnded is the stop_reason the sandbox sends when a meeting
// ends, and the default of a stop. Zoom's stop reasons are numbers; any from
// 1 to 30 may be asked for.
const RTMSStopMeetingEnded = 6

// Close codes of the signaling connection.
const (
	rtmsCloseKicked  = 4001 // another connection for the stream took over
	rtmsCloseStopped = 4002 // the stream stopped
	rtmsCloseRefused = 4003 // the handshake was refused
	rtmsCloseIdle    = 4004 // keep-alives went unanswered
)

const (
	rtmsHandshakeWait = 10 * time.Second
	rtmsUnanswered    = 3 // keep-alive requests unanswered before the connection is closed
	keepStreams       = 10000
)

// RTMSStream is a stream as the sandbox's controls show it.
type RTMSStream struct {
	StreamID      string    `json:"rtms_stream_id"`
	MeetingNumber string    `json:"meeting_number"`
	MeetingUUID   string    `json:"meeting_uuid"`
	ServerURLs    string    `json:"server_urls"`
	State         string    `json:"state"` // "active" or "stopped"
	StopReason    int       `json:"stop_reason,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	Connected     bool      `json:"connected"`  // a signaling connection passed the handshake and is open
	Handshakes    int       `json:"handshakes"` // good handshakes
	Refused       int       `json:"refused"`    // handshakes refused
	Kicked        int       `json:"kicked"`     // connections kicked out by a newer one
	KeepAlives    int       `json:"keep_alives_answered"`
}

type rtmsStream struct {
	RTMSStream
	meetingID int64
	accountID string
	operator  string
	conn      *rtmsConn
}

type rtmsState struct {
	mu      sync.Mutex
	streams map[string]*rtmsStream
	active  map[string]string // meeting number → its active stream id
	conns   map[*rtmsConn]bool
}

// rtmsConn is one signaling connection; writes are serialised by mu.
type rtmsConn struct {
	mu   sync.Mutex
	ws   *websocket.Conn
	done chan struct{}
	once sync.Once

	asked, answered atomic.Int64 // keep-alive requests sent, and answers read
}

func (c *rtmsConn) send(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// close sends a close frame with code and reason, then closes.
func (c *rtmsConn) close(code int, reason string) {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		c.mu.Unlock()
		_ = c.ws.Close()
	})
}

// RTMSApp returns the client id and secret RTMS signatures are checked with:
// Options.RTMSClientID and RTMSClientSecret, by default the General app's.
func (s *Sandbox) RTMSApp() (clientID, secret string) {
	o := s.snapshot()
	clientID, secret = o.RTMSClientID, o.RTMSClientSecret
	if clientID == "" {
		clientID = o.OAuthClientID
	}
	if secret == "" {
		secret = o.OAuthClientSecret
	}
	return clientID, secret
}

// RTMSSignature is Zoom's signature of a stream: hex HMAC-SHA256 keyed with
// the client secret over "clientId,meetingUuid,streamId".
func RTMSSignature(clientID, clientSecret, meetingUUID, streamID string) string {
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte(clientID + "," + meetingUUID + "," + streamID))
	return hex.EncodeToString(mac.Sum(nil))
}

// RTMSSignalingURL is the signaling websocket's URL, sent in server_urls.
func (s *Sandbox) RTMSSignalingURL() string {
	return "ws" + strings.TrimPrefix(s.url, "http") + "/rtms/signaling"
}

// StartRTMS starts a stream on a meeting with users in it and sends
// meeting.rtms_started. A meeting has one stream at a time (409 while one
// is active).
func (s *Sandbox) StartRTMS(number string) (RTMSStream, error) {
	m, err := s.GetMeeting(number)
	if err != nil {
		return RTMSStream{}, err
	}
	if m.Status != "started" {
		return RTMSStream{}, meetErr(http.StatusConflict, 3000, "Meeting has not started: RTMS starts in a meeting with users in it.")
	}
	st := &s.rtms
	st.mu.Lock()
	if st.streams == nil {
		st.streams, st.active, st.conns = map[string]*rtmsStream{}, map[string]string{}, map[*rtmsConn]bool{}
	}
	if _, on := st.active[number]; on {
		st.mu.Unlock()
		return RTMSStream{}, meetErr(http.StatusConflict, 3000, "RTMS is already active in meeting "+number+".")
	}
	if len(st.streams) >= keepStreams {
		st.pruneStopped()
	}
	str := &rtmsStream{RTMSStream: RTMSStream{StreamID: hex.EncodeToString(randomBytes(16)), MeetingNumber: number,
		MeetingUUID: m.UUID, ServerURLs: s.RTMSSignalingURL(), State: "active", StartedAt: s.snapshot().Now()},
		meetingID: m.ID, accountID: m.AccountID, operator: m.HostID}
	st.streams[str.StreamID] = str
	st.active[number] = str.StreamID
	view := str.RTMSStream
	st.mu.Unlock()
	s.emitRTMS("meeting.rtms_started", str, nil)
	return view, nil
}

// pruneStopped forgets stopped streams. st.mu held.
func (st *rtmsState) pruneStopped() {
	for id, str := range st.streams {
		if str.State == "stopped" {
			delete(st.streams, id)
		}
	}
}

// FailoverRTMS is Zoom's RTMS failover on a meeting's active stream: the
// signaling connection is dropped, and reason "restarted" sends a new
// meeting.rtms_started for the same stream (Zoom's RTMS server failed over),
// "interrupted" sends meeting.rtms_interrupted.
func (s *Sandbox) FailoverRTMS(number, reason string) (RTMSStream, error) {
	event := map[string]string{"restarted": "meeting.rtms_started", "interrupted": "meeting.rtms_interrupted"}[reason]
	if event == "" {
		return RTMSStream{}, meetErr(http.StatusBadRequest, 300, "Validation Failed. Invalid field: failover (restarted or interrupted).")
	}
	str, conn, err := s.activeStream(number, false, 0)
	if err != nil {
		return RTMSStream{}, err
	}
	if conn != nil {
		conn.close(websocket.CloseGoingAway, "RTMS server failover")
	}
	s.emitRTMS(event, str, nil)
	return s.RTMSStream(str.StreamID)
}

// StopRTMS stops a meeting's active stream with Zoom's stop_reason (0:
// RTMSStopMeetingEnded): the signaling connection is told (msg_type 8, state
// 4 TERMINATED) and closed, and meeting.rtms_stopped is sent.
func (s *Sandbox) StopRTMS(number string, reason int) (RTMSStream, error) {
	if reason == 0 {
		reason = RTMSStopMeetingEnded
	}
	if reason < 1 || reason > 30 {
		return RTMSStream{}, meetErr(http.StatusBadRequest, 300, "Validation Failed. Invalid field: stop_reason (1 to 30).")
	}
	str, conn, err := s.activeStream(number, true, reason)
	if err != nil {
		return RTMSStream{}, err
	}
	if conn != nil {
		_ = conn.send(map[string]any{"msg_type": rtmsStreamState, "rtms_stream_id": str.StreamID, "state": 4,
			"reason": reason, "timestamp": time.Now().UnixMilli()})
		conn.close(rtmsCloseStopped, "stream stopped")
	}
	s.emitRTMS("meeting.rtms_stopped", str, map[string]any{"stop_reason": reason})
	return str.RTMSStream, nil
}

// activeStream returns a copy of the meeting's active stream and its
// connection; stop marks it stopped with reason and forgets the connection.
func (s *Sandbox) activeStream(number string, stop bool, reason int) (*rtmsStream, *rtmsConn, error) {
	st := &s.rtms
	st.mu.Lock()
	defer st.mu.Unlock()
	id, on := st.active[number]
	if !on {
		return nil, nil, meetErr(http.StatusNotFound, 3001, "No active RTMS stream in meeting "+number+".")
	}
	str := st.streams[id]
	conn := str.conn
	if stop {
		delete(st.active, number)
		str.State, str.StopReason, str.conn, str.Connected = "stopped", reason, nil, false
	}
	cp := *str
	return &cp, conn, nil
}

// RTMSStream returns a stream by id.
func (s *Sandbox) RTMSStream(id string) (RTMSStream, error) {
	st := &s.rtms
	st.mu.Lock()
	defer st.mu.Unlock()
	if str := st.streams[id]; str != nil {
		return str.RTMSStream, nil
	}
	return RTMSStream{}, meetErr(http.StatusNotFound, 3001, "No RTMS stream "+id+".")
}

// MeetingRTMS returns a meeting's active stream, or else its latest one.
func (s *Sandbox) MeetingRTMS(number string) (RTMSStream, error) {
	st := &s.rtms
	st.mu.Lock()
	defer st.mu.Unlock()
	if id, on := st.active[number]; on {
		return st.streams[id].RTMSStream, nil
	}
	var last *rtmsStream
	for _, str := range st.streams {
		if str.MeetingNumber == number && (last == nil || str.StartedAt.After(last.StartedAt)) {
			last = str
		}
	}
	if last == nil {
		return RTMSStream{}, meetErr(http.StatusNotFound, 3001, "No RTMS stream in meeting "+number+".")
	}
	return last.RTMSStream, nil
}

// emitRTMS sends an RTMS webhook: Zoom puts the fields directly under
// payload (no payload.object).
func (s *Sandbox) emitRTMS(event string, str *rtmsStream, extra map[string]any) {
	o := s.snapshot()
	s.mu.Lock()
	sends := s.sendsEvents(o, str.accountID)
	s.mu.Unlock()
	if !sends {
		return
	}
	p := map[string]any{"account_id": str.accountID, "meeting_id": str.meetingID, "meeting_uuid": str.MeetingUUID,
		"rtms_stream_id": str.StreamID, "operator_id": str.operator, "is_original_host": true}
	if event != "meeting.rtms_stopped" {
		p["server_urls"] = str.ServerURLs
	}
	for k, v := range extra {
		p[k] = v
	}
	s.emitWebhook(event, str.MeetingNumber, "", p, o.Now())
}

// stopMeetingRTMS stops a meeting's stream when the meeting ends. It must
// not be called with s.mu held.
func (s *Sandbox) stopMeetingRTMS(number string) {
	s.rtms.mu.Lock()
	_, on := s.rtms.active[number]
	s.rtms.mu.Unlock()
	if on {
		_, _ = s.StopRTMS(number, RTMSStopMeetingEnded)
	}
}

// closeRTMS closes every signaling connection.
func (s *Sandbox) closeRTMS() {
	st := &s.rtms
	st.mu.Lock()
	conns := make([]*rtmsConn, 0, len(st.conns))
	for c := range st.conns {
		conns = append(conns, c)
	}
	st.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "sandbox closing")
	}
}

// rtmsHandshake is the signaling handshake request (msg_type 1).
type rtmsHandshake struct {
	MsgType     int    `json:"msg_type"`
	Version     int    `json:"protocol_version"`
	Sequence    int64  `json:"sequence"`
	MeetingUUID string `json:"meeting_uuid"`
	SessionID   string `json:"session_id"`
	StreamID    string `json:"rtms_stream_id"`
	Signature   string `json:"signature"`
}

// rtmsSignaling serves one signaling websocket.
func (s *Sandbox) rtmsSignaling(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	ws.SetReadLimit(64 << 10)
	c := &rtmsConn{ws: ws, done: make(chan struct{})}
	s.rtms.mu.Lock()
	if s.rtms.conns == nil {
		s.rtms.streams, s.rtms.active, s.rtms.conns = map[string]*rtmsStream{}, map[string]string{}, map[*rtmsConn]bool{}
	}
	s.rtms.conns[c] = true
	s.rtms.mu.Unlock()
	defer func() {
		c.close(websocket.CloseNormalClosure, "")
		s.rtms.mu.Lock()
		delete(s.rtms.conns, c)
		s.rtms.mu.Unlock()
	}()
	_ = ws.SetReadDeadline(time.Now().Add(rtmsHandshakeWait))
	var hs rtmsHandshake
	if err := ws.ReadJSON(&hs); err != nil {
		_ = c.send(handshakeAnswer(hs, RTMSStatusInvalidMessage, "the first message must be the JSON handshake (msg_type 1)"))
		c.close(rtmsCloseRefused, "handshake refused")
		return
	}
	str, status, reason := s.judgeHandshake(hs, c)
	if status != RTMSStatusOK {
		_ = c.send(handshakeAnswer(hs, status, reason))
		c.close(rtmsCloseRefused, "handshake refused")
		return
	}
	_ = ws.SetReadDeadline(time.Time{})
	ans := handshakeAnswer(hs, RTMSStatusOK, "")
	ans["media_server"] = nil // the sandbox sends media on this connection
	if c.send(ans) != nil {
		return
	}
	go s.rtmsTalk(c, str)
	s.rtmsListen(c, str)
}

func handshakeAnswer(hs rtmsHandshake, status int, reason string) map[string]any {
	return map[string]any{"msg_type": rtmsHandshakeResp, "protocol_version": 1, "sequence": hs.Sequence,
		"status_code": status, "reason": reason}
}

// judgeHandshake checks a handshake as Zoom does; on success the connection
// becomes the stream's, and the previous one, if any, is kicked out.
func (s *Sandbox) judgeHandshake(hs rtmsHandshake, c *rtmsConn) (string, int, string) {
	if hs.MsgType != rtmsHandshakeReq {
		return "", RTMSStatusInvalidMessage, "the first message must be a handshake request (msg_type 1)"
	}
	clientID, secret := s.RTMSApp()
	st := &s.rtms
	st.mu.Lock()
	str := st.streams[hs.StreamID]
	if str == nil || str.State != "active" {
		st.mu.Unlock()
		return "", RTMSStatusStreamNotFound, "no active stream has this rtms_stream_id"
	}
	want := RTMSSignature(clientID, secret, str.MeetingUUID, str.StreamID)
	if hs.MeetingUUID != str.MeetingUUID || !hmac.Equal([]byte(strings.ToLower(hs.Signature)), []byte(want)) {
		str.Refused++
		st.mu.Unlock()
		return "", RTMSStatusInvalidSignature, "invalid signature"
	}
	old := str.conn
	str.conn, str.Connected = c, true
	str.Handshakes++
	if old != nil {
		str.Kicked++
	}
	st.mu.Unlock()
	if old != nil {
		old.close(rtmsCloseKicked, "another connection for this stream took over")
	}
	return str.StreamID, RTMSStatusOK, ""
}

// rtmsTalk sends the transcript messages, then keep-alive requests, until
// the connection ends; it closes a connection that leaves keep-alives
// unanswered.
func (s *Sandbox) rtmsTalk(c *rtmsConn, streamID string) {
	o := s.snapshot()
	n, every, keep := o.RTMSTranscripts, o.RTMSMessageEvery, o.RTMSKeepAlive
	if n <= 0 {
		n = 3
	}
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	if keep <= 0 {
		keep = 30 * time.Second
	}
	lines := []string{"Hello from the sandbox meeting.", "This is a transcript line from RTMS.",
		"The token server handed this stream to one worker."}
	for i := range n {
		select {
		case <-c.done:
			return
		case <-time.After(every):
		}
		msg := map[string]any{"msg_type": rtmsTranscript, "rtms_stream_id": streamID, "content": map[string]any{
			"user_id": 16778240 + i%2, "user_name": []string{"Sandbox host", "Sandbox participant"}[i%2],
			"data": lines[i%len(lines)], "timestamp": time.Now().UnixMilli()}}
		if c.send(msg) != nil {
			return
		}
	}
	tick := time.NewTicker(keep)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		if c.asked.Load()-c.answered.Load() >= rtmsUnanswered {
			c.close(rtmsCloseIdle, "keep-alive requests unanswered")
			return
		}
		c.asked.Add(1)
		if c.send(map[string]any{"msg_type": rtmsKeepAliveReq, "timestamp": time.Now().UnixMilli()}) != nil {
			return
		}
	}
}

// rtmsListen reads the client's messages until the connection ends:
// keep-alive answers are counted, a client's keep-alive request answered,
// anything else ignored.
func (s *Sandbox) rtmsListen(c *rtmsConn, streamID string) {
	defer func() {
		st := &s.rtms
		st.mu.Lock()
		if str := st.streams[streamID]; str != nil && str.conn == c {
			str.conn, str.Connected = nil, false
		}
		st.mu.Unlock()
	}()
	for {
		var msg struct {
			MsgType   int   `json:"msg_type"`
			Timestamp int64 `json:"timestamp"`
		}
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if json.Unmarshal(data, &msg) != nil {
			continue // not a message the sandbox reads
		}
		switch msg.MsgType {
		case rtmsKeepAliveResp:
			c.answered.Add(1)
			s.rtms.mu.Lock()
			if str := s.rtms.streams[streamID]; str != nil && str.conn == c {
				str.KeepAlives++
			}
			s.rtms.mu.Unlock()
		case rtmsKeepAliveReq:
			if c.send(map[string]any{"msg_type": rtmsKeepAliveResp, "timestamp": time.Now().UnixMilli()}) != nil {
				return
			}
		}
	}
}

// serveRTMS answers the controls of a meeting's stream:
// POST /sandbox/meetings/{n}/rtms {failover?: "restarted"|"interrupted"}
// starts it (201), or fails it over; DELETE …/rtms?stop_reason=N stops it;
// GET …/rtms shows it.
func (s *Sandbox) serveRTMS(w http.ResponseWriter, r *http.Request, number string) bool {
	answer := func(status int, str RTMSStream, err error) {
		var me *MeetingError
		switch {
		case errors.As(err, &me):
			writeJSON(w, me.Status, zoomErr(me.Code, me.Message))
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, zoomErr(500, "Internal error."))
		default:
			writeJSON(w, status, str)
		}
	}
	switch r.Method {
	case http.MethodGet:
		str, err := s.MeetingRTMS(number)
		answer(http.StatusOK, str, err)
	case http.MethodPost:
		var req struct {
			Failover string `json:"failover"`
		}
		if r.ContentLength != 0 && !readJSON(w, r, &req) {
			return true
		}
		if req.Failover != "" {
			str, err := s.FailoverRTMS(number, req.Failover)
			answer(http.StatusOK, str, err)
			return true
		}
		str, err := s.StartRTMS(number)
		answer(http.StatusCreated, str, err)
	case http.MethodDelete:
		reason := 0
		if v := r.URL.Query().Get("stop_reason"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 30 {
				writeJSON(w, http.StatusBadRequest, zoomErr(300, "Validation Failed. Invalid field: stop_reason (1 to 30)."))
				return true
			}
			reason = n
		}
		str, err := s.StopRTMS(number, reason)
		answer(http.StatusOK, str, err)
	default:
		return false
	}
	return true
}
