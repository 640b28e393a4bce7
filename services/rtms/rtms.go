package rtms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// RTMS (Realtime Media Streams): each stream Zoom announces by webhook is
// handed to exactly one worker of a pool, with the signature its worker
// needs to connect; the app's client secret never leaves the server.
// Zoom allows one connection per stream (a second kicks the first out), so
// a stream has at most one worker offered or holding it at any time.

// RTMSProduct is what a stream belongs to.
type RTMSProduct string

// The products.
const (
	RTMSMeeting RTMSProduct = "meeting"
	RTMSWebinar RTMSProduct = "webinar"
	RTMSSession RTMSProduct = "session" // Video SDK
)

// RTMSState is where a stream is.
type RTMSState string

// The states. A stream offered to a worker that has not acked yet, and one
// whose worker was lost and which waits for it, are pending.
const (
	RTMSPending  RTMSState = "pending"
	RTMSAssigned RTMSState = "assigned"
	RTMSStopped  RTMSState = "stopped"
)

// The limits of a worker's capacity (rtms:ready).
const (
	RTMSMinCapacity = 1
	RTMSMaxCapacity = 1000
)

// RTMSStream is a stream as GET /api/rtms/streams shows it.
type RTMSStream struct {
	StreamID    string      `json:"streamId"`
	Product     RTMSProduct `json:"product"`
	MeetingUUID string      `json:"meetingUuid,omitempty"`
	SessionID   string      `json:"sessionId,omitempty"`
	MeetingID   string      `json:"meetingId,omitempty"`
	State       RTMSState   `json:"state"`
	Worker      string      `json:"worker,omitempty"`    // the holder's socket id
	WorkerSub   string      `json:"workerSub,omitempty"` // the holder's identity
	StartedAt   time.Time   `json:"startedAt"`
	AssignedAt  *time.Time  `json:"assignedAt,omitempty"`
	StoppedAt   *time.Time  `json:"stoppedAt,omitempty"`
	StopReason  string      `json:"stopReason,omitempty"`
}

// RTMSAssignment is rtms:assign: what a worker needs to connect.
type RTMSAssignment struct {
	StreamID    string      `json:"streamId"`
	Product     RTMSProduct `json:"product"`
	MeetingUUID string      `json:"meetingUuid,omitempty"`
	SessionID   string      `json:"sessionId,omitempty"`
	MeetingID   string      `json:"meetingId,omitempty"`
	ServerURLs  string      `json:"serverUrls"`
	ClientID    string      `json:"clientId"`
	Signature   string      `json:"signature"`
}

// RTMSReconnect is rtms:reconnect: the holder connects again (Zoom's
// failover), to ServerURLs.
type RTMSReconnect struct {
	StreamID   string `json:"streamId"`
	ServerURLs string `json:"serverUrls"`
	Signature  string `json:"signature"`
	Reason     string `json:"reason"` // "restarted" or "interrupted"
}

// RTMSStop is rtms:stopped: the worker lets the stream go.
type RTMSStop struct {
	StreamID string `json:"streamId"`
	// Reason: Zoom's stop_reason for a stream Zoom stopped; "assign_timeout"
	// for an assignment acked after another worker was chosen.
	Reason string `json:"reason"`
}

// RTMSSignature is POST /api/rtms/signature's answer.
type RTMSSignature struct {
	Signature string `json:"signature"`
	ClientID  string `json:"clientId"`
}

// RTMSReady is rtms:ready's answer.
type RTMSReady struct {
	Success  bool `json:"success"`
	Capacity int  `json:"capacity"`
	Holding  int  `json:"holding"`
	// Resumed: the streams of rtms:ready's streams that are this worker's
	// again (each waited for a lost socket of the same identity).
	Resumed []string `json:"resumed"`
}

// RTMSWorker is one worker's connection (a Socket.IO socket in realtime).
type RTMSWorker interface {
	WorkerID() string // unique among the workers connected
	Subject() string  // the worker's identity, for the streams' list
	// Assign sends the assignment and calls acked, once, when the worker
	// acknowledges it. It does not wait.
	Assign(a RTMSAssignment, acked func())
	Reconnect(r RTMSReconnect)
	Stopped(s RTMSStop)
}

// RTMSObserver counts streams and assignments, for metrics.
type RTMSObserver interface {
	RTMSStreams(pending, assigned int)
	RTMSAssigned(latency time.Duration)
	RTMSReassigned(reason string) // "ack_timeout", "worker_lost", "released", "offer_lost"
}

type nopRTMSObserver struct{}

func (nopRTMSObserver) RTMSStreams(int, int)       {}
func (nopRTMSObserver) RTMSAssigned(time.Duration) {}
func (nopRTMSObserver) RTMSReassigned(string)      {}

// RTMSConfig configures RTMS. Zero values take defaults.
type RTMSConfig struct {
	ClientID      string       // ZOOM_RTMS_CLIENT_ID
	ClientSecret  secret.Value // ZOOM_RTMS_CLIENT_SECRET: signs, never sent
	ReassignAfter time.Duration
	AckTimeout    time.Duration // 5 s
	KeepStopped   time.Duration // how long a stopped stream stays listed: 1 h
	Observer      RTMSObserver
	Logger        *slog.Logger
	Now           func() time.Time

	// Claims: in a cluster, the one instance that may assign each stream
	// (rtms_cluster.go); nil: one instance, every stream is this one's.
	Claims     RTMSClaims
	ClaimRetry time.Duration // how often streams claimed elsewhere are tried again, and claims renewed: 1 s

	// Unassigned, when set, is told of each stream this instance admitted
	// that stayed pending UnassignedAfter (5 s) with no worker
	// (rtms_unassigned.go); RecordRTMSUnassigned makes it an event.
	Unassigned      func(RTMSUnassigned)
	UnassignedAfter time.Duration
}

// RTMS hands streams to workers. Its methods are safe for concurrent use;
// workers' sends happen outside its lock.
type RTMS struct {
	cfg RTMSConfig
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*rtmsStream
	workers map[string]*rtmsWorker

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

type rtmsStream struct {
	view         RTMSStream
	serverURLs   string
	pendingSince time.Time
	holder       *rtmsWorker // acked
	offered      *rtmsWorker // sent, not acked yet
	offer        int         // the offer's number, to match its ack and timeout
	timer        *time.Timer // the offer's ack timeout, or the lost holder's wait
	waiting      bool        // its holder was lost: it waits ReassignAfter
	lostSub      string      // the lost holder's identity: its new socket may resume the stream
	tried        map[*rtmsWorker]bool
	reconnect    string // a failover that came while the offer was out

	unassigned *time.Timer // the wait before rtms.unassigned
	reported   bool        // rtms.unassigned decided: never again for this stream

	// In a cluster (Claims set): claimed by this instance, being claimed,
	// or claimed by another (tried again every ClaimRetry).
	claimed, claiming, elsewhere bool
}

type rtmsWorker struct {
	conn     RTMSWorker
	capacity int
	load     int // streams held and offered
	gone     bool
}

// sends are the messages to workers decided under the lock, sent after it.
type rtmsSends []func()

func (s rtmsSends) run() {
	for _, f := range s {
		f()
	}
}

// NewRTMS returns an RTMS with no streams and no workers.
func NewRTMS(cfg RTMSConfig) *RTMS {
	if cfg.ReassignAfter <= 0 {
		cfg.ReassignAfter = 10 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.KeepStopped <= 0 {
		cfg.KeepStopped = time.Hour
	}
	if cfg.Observer == nil {
		cfg.Observer = nopRTMSObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClaimRetry <= 0 {
		cfg.ClaimRetry = time.Second
	}
	if cfg.UnassignedAfter <= 0 {
		cfg.UnassignedAfter = 5 * time.Second
	}
	r := &RTMS{cfg: cfg, log: cfg.Logger, streams: map[string]*rtmsStream{}, workers: map[string]*rtmsWorker{},
		stop: make(chan struct{})}
	if cfg.Claims != nil {
		r.wg.Add(1)
		go r.tend()
	}
	return r
}

// Close stops renewing this instance's claims (they expire, and the other
// instances take the streams).
func (r *RTMS) Close() {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// ClientID is the app whose streams are signed.
func (r *RTMS) ClientID() string { return r.cfg.ClientID }

// sign is Zoom's signature: hex HMAC-SHA256 of "clientId,meetingUuid,streamId"
// (sessionId in place of meetingUuid for a session) with the client secret.
func (r *RTMS) sign(meetingOrSession, streamID string) string {
	m := hmac.New(sha256.New, []byte(r.cfg.ClientSecret.Reveal()))
	m.Write([]byte(r.cfg.ClientID + "," + meetingOrSession + "," + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

func (st *rtmsStream) meetingOrSession() string {
	if st.view.Product == RTMSSession {
		return st.view.SessionID
	}
	return st.view.MeetingUUID
}

func rtmsNotFound(op, streamID string) error {
	return &apperr.Error{Kind: apperr.ErrNotFound, Op: op,
		Message: fmt.Sprintf("There is no RTMS stream %q on this server.", streamID)}
}

// Signature signs streamID for its meeting (meetingUUID) or session
// (sessionID), which must be the stream's.
func (r *RTMS) Signature(streamID, meetingUUID, sessionID string) (RTMSSignature, error) {
	r.mu.Lock()
	st, ok := r.streams[streamID]
	var view RTMSStream
	if ok {
		view = st.view
	}
	r.mu.Unlock()
	if !ok || view.State == RTMSStopped {
		return RTMSSignature{}, rtmsNotFound("rtms signature", streamID)
	}
	field, want, got := "meetingUuid", view.MeetingUUID, meetingUUID
	if view.Product == RTMSSession {
		field, want, got = "sessionId", view.SessionID, sessionID
	}
	if got != want {
		return RTMSSignature{}, apperr.InvalidInput("rtms signature",
			apperr.FieldError{Field: field, Reason: "is not the stream's " + string(view.Product)})
	}
	return RTMSSignature{Signature: r.sign(want, streamID), ClientID: r.cfg.ClientID}, nil
}

// Streams lists the streams, oldest first; stopped ones for KeepStopped.
func (r *RTMS) Streams() []RTMSStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune()
	out := make([]RTMSStream, 0, len(r.streams))
	for _, st := range r.streams {
		out = append(out, st.view)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.Before(out[j].StartedAt)
		}
		return out[i].StreamID < out[j].StreamID
	})
	return out
}

// prune forgets streams stopped more than KeepStopped ago. r.mu held.
func (r *RTMS) prune() {
	cut := r.cfg.Now().Add(-r.cfg.KeepStopped)
	for id, st := range r.streams {
		if st.view.State == RTMSStopped && st.view.StoppedAt != nil && st.view.StoppedAt.Before(cut) {
			delete(r.streams, id)
		}
	}
}

// count tells the observer how many streams are pending and assigned. r.mu held.
func (r *RTMS) count() {
	pending, assigned := 0, 0
	for _, st := range r.streams {
		switch st.view.State {
		case RTMSPending:
			pending++
		case RTMSAssigned:
			assigned++
		}
	}
	r.cfg.Observer.RTMSStreams(pending, assigned)
}

// HandleRTMS applies one RTMS webhook event (admitted once: a retried
// delivery never reaches here).
func (r *RTMS) HandleRTMS(ev webhooks.RTMS) {
	if ev.Problem != "" {
		r.log.Warn("rtms: an event was ignored", "event", ev.Product+"."+ev.Kind, "reason", ev.Problem)
		return
	}
	var sends rtmsSends
	r.mu.Lock()
	switch ev.Kind {
	case webhooks.EventRTMSStarted:
		sends = r.started(ev, "restarted")
	case webhooks.EventRTMSInterrupted:
		sends = r.started(ev, "interrupted")
	case webhooks.EventRTMSStopped:
		sends = r.stopped(ev)
	}
	sends = append(sends, r.pump()...)
	r.count()
	r.mu.Unlock()
	sends.run()
}
