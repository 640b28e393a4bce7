package sandbox

// Webhooks (docs/ZOOM.md, "Webhooks"): the sandbox's meetings send Zoom's
// meeting events, signed as Zoom signs them, to the webhook URL set with
// SetWebhook: meeting.started when the first user joins, participant_joined
// and participant_left, meeting.ended when the last one leaves or the meeting
// is ended; app_deauthorized when a user removes the General app
// (Deauthorize); meeting.rtms_started, rtms_stopped and rtms_interrupted for
// its RTMS streams (rtms.go). As Zoom, it sends meeting events only for
// meetings hosted in its own account or by users of an account that
// installed the app (a user of it holds a grant). A delivery that fails or
// is not answered within 10 s (Options.WebhookTimeout) is retried after 5, 20
// and 60 minutes (Options.WebhookRetryDelays, SetWebhookRetryDelays), with
// its first timestamp. Knobs
// (SetWebhookFaults) sign deliveries with a wrong secret, deliver events
// twice, or deliver them as a retry an hour late.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"
)

const (
	webhookWorkers    = 4
	webhookQueue      = 10_000 // events waiting per worker; more are dropped (counted)
	keepDeliveries    = 10_000
	lateRetryAge      = time.Hour
	webhookTimeout    = 10 * time.Second
	webhookRetryLimit = 3
)

// DefaultWebhookRetryDelays are Zoom's: 5, 20 and 60 minutes after a failed delivery.
var defaultWebhookRetryDelays = []time.Duration{5 * time.Minute, 20 * time.Minute, 60 * time.Minute}

// WebhookFaults are faults the next deliveries carry, each counted down.
type WebhookFaults struct {
	BadSignature int // signed with a wrong secret
	Duplicate    int // delivered twice
	LateRetry    int // delivered as Zoom's retry an hour late: stamped and signed an hour ago
}

// WebhookDelivery is one request the sandbox sent.
type WebhookDelivery struct {
	Event   string
	Meeting string
	User    string // the participant's email, for participant events
	Status  int    // the answer's status; 0 when there was none
	SentAt  time.Time
	Attempt int    // 1 for the first, 2.. for Zoom's retries
	Fault   string // bad_signature, duplicate, late_retry, or ""
}

type webhookState struct {
	mu         sync.Mutex
	url        string
	secret     string
	faults     WebhookFaults
	retry      []time.Duration
	queues     []chan webhookMsg
	deliveries []WebhookDelivery
	dropped    int
	pending    sync.WaitGroup
	client     *http.Client
}

type webhookMsg struct {
	event, meeting, user string
	body                 []byte
	stamp                time.Time // when it was first sent
	attempt              int
	fault                string
}

// SetWebhook sends events to url, signed with secretToken (the app's
// "secret token"); an empty url stops sending.
func (s *Sandbox) SetWebhook(url, secretToken string) {
	o := s.snapshot()
	w := &s.hooks
	w.mu.Lock()
	defer w.mu.Unlock()
	w.url, w.secret = url, secretToken
	if w.queues == nil && url != "" {
		timeout := o.WebhookTimeout
		if timeout <= 0 {
			timeout = webhookTimeout
		}
		w.client = &http.Client{Timeout: timeout}
		if w.retry == nil {
			w.retry = defaultWebhookRetryDelays
			if o.WebhookRetryDelays != nil {
				w.retry = o.WebhookRetryDelays
			}
		}
		for range webhookWorkers {
			q := make(chan webhookMsg, webhookQueue)
			w.queues = append(w.queues, q)
			go s.webhookWorker(q)
		}
	}
}

// SetWebhookFaults sets the faults of the next deliveries.
func (s *Sandbox) SetWebhookFaults(f WebhookFaults) {
	s.hooks.mu.Lock()
	s.hooks.faults = f
	s.hooks.mu.Unlock()
}

// SetWebhookRetryDelays sets the delays of the retries of a failed delivery
// (Zoom's: 5, 20, 60 minutes); nil: none.
func (s *Sandbox) SetWebhookRetryDelays(d []time.Duration) {
	s.hooks.mu.Lock()
	s.hooks.retry = append([]time.Duration{}, d...)
	s.hooks.mu.Unlock()
}

// WebhookDeliveries lists the latest deliveries, oldest first.
func (s *Sandbox) WebhookDeliveries() []WebhookDelivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]WebhookDelivery(nil), s.hooks.deliveries...)
}

// WebhooksIdle waits until every event queued has been sent (retries not
// yet due aside), at most d; it reports whether they were.
func (s *Sandbox) WebhooksIdle(d time.Duration) bool {
	done := make(chan struct{})
	go func() { s.hooks.pending.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// sendsEvents reports whether Zoom would send a meeting's events to the app:
// hosted in its own account, or in an account a user of which installed the
// app (holds a grant). s.mu held.
func (s *Sandbox) sendsEvents(o Options, accountID string) bool {
	if accountID == o.AccountID {
		return true
	}
	for _, gs := range s.oauth.grants {
		for _, g := range gs {
			if !g.revoked && g.user.AccountID == accountID {
				return true
			}
		}
	}
	return false
}

// meetingObject is payload.object of a meeting event. Zoom sends the id as a
// number in some events and as a string in others: so does the sandbox.
func meetingObject(m *meeting, asString bool) map[string]any {
	var id any = m.ID
	if asString {
		id = m.Number
	}
	return map[string]any{"id": id, "uuid": m.UUID, "host_id": m.HostID, "topic": m.Topic, "type": m.Type,
		"start_time": m.startedAt.UTC().Format(time.RFC3339), "timezone": "UTC", "duration": 60}
}

// emitMeetingEvent queues a meeting event for the webhook. s.mu held.
func (s *Sandbox) emitMeetingEvent(o Options, m *meeting, event string, participant map[string]any, user string) {
	if !s.sendsEvents(o, m.AccountID) {
		return
	}
	now := o.Now()
	obj := meetingObject(m, participant != nil)
	if event == "meeting.ended" {
		obj["end_time"] = now.UTC().Format(time.RFC3339)
	}
	if participant != nil {
		obj["participant"] = participant
	}
	s.emitWebhook(event, m.Number, user, map[string]any{"account_id": m.AccountID, "object": obj}, now)
}

// emitWebhook queues an event. It does not take s.mu.
func (s *Sandbox) emitWebhook(event, meetingNumber, user string, payload map[string]any, now time.Time) {
	w := &s.hooks
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.url == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"event": event, "event_ts": now.UnixMilli(), "payload": payload})
	msg := webhookMsg{event: event, meeting: meetingNumber, user: user, body: body, stamp: now, attempt: 1}
	copies := 1
	switch {
	case w.faults.BadSignature > 0:
		w.faults.BadSignature--
		msg.fault = "bad_signature"
	case w.faults.Duplicate > 0:
		w.faults.Duplicate--
		msg.fault, copies = "duplicate", 2
	case w.faults.LateRetry > 0:
		w.faults.LateRetry--
		msg.fault, msg.stamp, msg.attempt = "late_retry", now.Add(-lateRetryAge), 4
		body, _ = json.Marshal(map[string]any{"event": event, "event_ts": msg.stamp.UnixMilli(), "payload": payload})
		msg.body = body
	}
	h := fnv.New32a()
	h.Write([]byte(meetingNumber))
	q := w.queues[h.Sum32()%uint32(len(w.queues))]
	for range copies {
		select {
		case q <- msg:
			w.pending.Add(1)
		default:
			w.dropped++
		}
	}
}

func (s *Sandbox) webhookWorker(q chan webhookMsg) {
	for msg := range q {
		s.deliver(msg)
		s.hooks.pending.Done()
	}
}

// deliver sends one event and schedules Zoom's retry when it fails.
func (s *Sandbox) deliver(msg webhookMsg) {
	w := &s.hooks
	w.mu.Lock()
	url, sec, client, retry := w.url, w.secret, w.client, w.retry
	w.mu.Unlock()
	if url == "" {
		return
	}
	if msg.fault == "bad_signature" {
		sec = "not-" + sec
	}
	ts := strconv.FormatInt(msg.stamp.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(sec))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(msg.body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(msg.body))
	status := 0
	sent := time.Now()
	if err == nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", "Zoom Marketplace/1.0a")
		req.Header.Set("x-zm-request-timestamp", ts)
		req.Header.Set("x-zm-signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		if resp, err := client.Do(req); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
	}
	w.mu.Lock()
	if len(w.deliveries) >= keepDeliveries {
		w.deliveries = append(w.deliveries[:0], w.deliveries[keepDeliveries/2:]...)
	}
	w.deliveries = append(w.deliveries, WebhookDelivery{Event: msg.event, Meeting: msg.meeting, User: msg.user,
		Status: status, SentAt: sent, Attempt: msg.attempt, Fault: msg.fault})
	w.mu.Unlock()
	if (status < 200 || status > 299) && msg.fault == "" && msg.attempt <= webhookRetryLimit && msg.attempt-1 < len(retry) {
		next := msg
		next.attempt++
		time.AfterFunc(retry[msg.attempt-1], func() { s.deliver(next) })
	}
}

// participantObject is payload.object.participant: user_id is the
// per-meeting number of this session; id and participant_user_id the Zoom
// user id; email as Zoom sends it when the account shows it.
func participantObject(u User, session int, uuid string, at time.Time, joined bool) map[string]any {
	name := u.FirstName
	if name == "" {
		name = u.ID
	}
	p := map[string]any{"user_id": strconv.Itoa(session), "user_name": name, "id": u.ID, "participant_uuid": uuid,
		"participant_user_id": u.ID, "email": u.Email}
	if joined {
		p["join_time"] = at.UTC().Format(time.RFC3339)
	} else {
		p["leave_time"] = at.UTC().Format(time.RFC3339)
		p["leave_reason"] = "left the meeting"
	}
	return p
}

// Deauthorize is a user removing the General app at Zoom: every grant of the
// user is revoked, and app_deauthorized is sent to the webhook.
func (s *Sandbox) Deauthorize(email string) {
	o := s.snapshot()
	u, ok := s.lookupUser(o, email)
	if !ok {
		return
	}
	s.RevokeGrant(email)
	now := o.Now()
	s.emitWebhook("app_deauthorized", "", u.Email, map[string]any{"account_id": u.AccountID, "user_id": u.ID,
		"client_id": o.OAuthClientID, "deauthorization_time": now.UTC().Format(time.RFC3339), "user_data_retention": "false"}, now)
}

// webhookSession is a user's session in a meeting: Zoom's per-meeting
// user_id (new at each join) and participant_uuid.
type webhookSession struct {
	userID int
	uuid   string
}

// joinedEvents sends meeting.started for the first user in, then
// participant_joined. s.mu held.
func (s *Sandbox) joinedEvents(m *meeting, u User) {
	o := s.opts
	now := o.Now()
	if len(m.in) == 0 {
		m.startedAt = now
		s.emitMeetingEvent(o, m, "meeting.started", nil, "")
	}
	if m.sessions == nil {
		m.sessions = map[string]webhookSession{}
	}
	m.nextSession++
	sess := webhookSession{userID: 16778240 + m.nextSession, uuid: randomString(16)}
	m.sessions[u.ID] = sess
	s.emitMeetingEvent(o, m, "meeting.participant_joined", participantObject(u, sess.userID, sess.uuid, now, true), u.Email)
}

// leftEvents sends participant_left, then meeting.ended when the last user
// left. s.mu held; u is out of m.in already.
func (s *Sandbox) leftEvents(m *meeting, u User) {
	o := s.opts
	now := o.Now()
	sess := m.sessions[u.ID]
	delete(m.sessions, u.ID)
	s.emitMeetingEvent(o, m, "meeting.participant_left", participantObject(u, sess.userID, sess.uuid, now, false), u.Email)
	if len(m.in) == 0 {
		s.emitMeetingEvent(o, m, "meeting.ended", nil, "")
	}
}

// endedEvent sends meeting.ended for a meeting ended while users were in it. s.mu held.
func (s *Sandbox) endedEvent(m *meeting) {
	if len(m.in) > 0 {
		s.emitMeetingEvent(s.opts, m, "meeting.ended", nil, "")
	}
}

// closeWebhooks stops sending: queued events and retries are dropped.
func (s *Sandbox) closeWebhooks() {
	w := &s.hooks
	w.mu.Lock()
	defer w.mu.Unlock()
	w.url = ""
	for _, q := range w.queues {
		close(q)
	}
	w.queues = nil
}
