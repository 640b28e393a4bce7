package services

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Deduper admits each webhook event once (webhooks.Dedupe is one; a cluster
// shares one over Redis).
type Deduper interface {
	Admit(key string, stamp time.Time) webhooks.Verdict
	Forget(key string)
}

// Deauthorizer forgets the connection of a user who removed the app
// (*Connections is one).
type Deauthorizer interface {
	Deauthorized(ctx context.Context, d webhooks.Deauthorization) error
}

// WebhookRelay shares the presence events this instance admits with the
// other instances of a cluster, and hands theirs to this one, so that a
// webhook that lands on one instance updates every instance's presence and
// wakes the awaits held on any. Deauthorizations are not relayed (the
// instance that admits one applies it to the shared connections).
type WebhookRelay interface {
	Send(ctx context.Context, ev webhooks.Event)
	Receive(handle func(webhooks.Event))
}

// RTMSHandler takes the RTMS events (*RTMS is one).
type RTMSHandler interface {
	HandleRTMS(ev webhooks.RTMS)
}

// WebhookObserver counts webhook requests by event and outcome, for metrics.
// event is webhooks.Label's (a fixed set), never a value from the body.
type WebhookObserver interface {
	Webhook(event, outcome string)
}

// The event kinds the webhooks publish: presence changed. Awaits wakes its
// awaiters on them; through a shared bus, on every instance.
const (
	ParticipantJoined EventKind = "participant_joined"
	ParticipantLeft   EventKind = "participant_left"
	MeetingEnded      EventKind = "meeting_ended"
)

// WebhooksConfig configures Webhooks. Zero values take defaults.
type WebhooksConfig struct {
	Verifier *webhooks.Verifier
	Dedupe   Deduper
	Presence presence.Store
	Events   Publisher    // presence changes, for awaiters
	Deauth   Deauthorizer // nil: users' connections are not configured
	Relay    WebhookRelay // nil: one instance
	RTMS     RTMSHandler  // nil: RTMS events are ignored
	Observer WebhookObserver
	Logger   *slog.Logger
	Now      func() time.Time

	Workers int // events are worked on by this many goroutines, each meeting's by one, in order; 4
	Queue   int // events waiting per worker before the webhook answers 429 (Zoom retries); 4,096
}

// Webhooks receives Zoom's webhook requests: it verifies each, answers
// url_validation, admits each event once, and queues it; workers apply it to
// the presence store and publish what changed. The request is answered as
// soon as the event is queued.
type Webhooks struct {
	cfg    WebhooksConfig
	log    *slog.Logger
	queues []chan webhookJob
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
}

type webhookJob struct {
	ev      webhooks.Event
	arrived time.Time
}

// WebhookAnswer is the body of a webhook's 200 answer: for url_validation,
// PlainToken and EncryptedToken (Zoom's names); else Status.
type WebhookAnswer struct {
	PlainToken     string `json:"plainToken,omitempty"`
	EncryptedToken string `json:"encryptedToken,omitempty"`
	Status         string `json:"status,omitempty"` // accepted, duplicate or ignored
}

type nopWebhookObserver struct{}

func (nopWebhookObserver) Webhook(string, string) {}

// NewWebhooks starts the workers; Close stops them.
func NewWebhooks(cfg WebhooksConfig) (*Webhooks, error) {
	if cfg.Verifier == nil || cfg.Dedupe == nil || cfg.Presence == nil || cfg.Events == nil {
		return nil, fmt.Errorf("webhooks: the verifier, dedupe, presence store and event publisher are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopWebhookObserver{}
	}
	w := &Webhooks{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	for range cfg.Workers {
		q := make(chan webhookJob, cfg.Queue)
		w.queues = append(w.queues, q)
		w.wg.Add(1)
		go w.work(q)
	}
	if cfg.Relay != nil {
		cfg.Relay.Receive(w.relayed)
	}
	return w, nil
}

// Close stops the workers once the queued events are done.
func (w *Webhooks) Close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// Receive handles one webhook request: the two signed headers and the raw
// body. A bad or missing signature, or a timestamp too old to tell whether
// the event was seen, is apperr.ErrInvalidSignature and nothing is done.
func (w *Webhooks) Receive(ctx context.Context, timestamp, signature string, body []byte) (WebhookAnswer, error) {
	arrived := w.cfg.Now()
	secretIndex, stamp, err := w.cfg.Verifier.Verify(timestamp, signature, body)
	if err != nil {
		w.cfg.Observer.Webhook("unverified", "invalid_signature")
		return WebhookAnswer{}, err
	}
	ev, err := webhooks.Parse(body)
	if err != nil {
		w.cfg.Observer.Webhook("unverified", "malformed")
		return WebhookAnswer{}, err
	}
	label := webhooks.Label(ev.Name)
	if ev.Name == webhooks.EventURLValidation {
		if !webhooks.InWindow(stamp, arrived) {
			w.cfg.Observer.Webhook(label, "stale")
			return WebhookAnswer{}, &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "verify webhook",
				Message: "The webhook's timestamp is too far from this server's clock."}
		}
		enc, err := w.cfg.Verifier.EncryptToken(secretIndex, ev.PlainToken)
		if err != nil {
			return WebhookAnswer{}, err
		}
		w.cfg.Observer.Webhook(label, "validated")
		return WebhookAnswer{PlainToken: ev.PlainToken, EncryptedToken: enc}, nil
	}
	switch w.cfg.Dedupe.Admit(ev.Key, stamp) {
	case webhooks.Duplicate:
		w.cfg.Observer.Webhook(label, "duplicate")
		return WebhookAnswer{Status: "duplicate"}, nil
	case webhooks.Stale:
		w.cfg.Observer.Webhook(label, "stale")
		return WebhookAnswer{}, &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "verify webhook",
			Message: "The webhook's timestamp is too far from this server's clock to tell whether the event was seen already."}
	}
	if !w.wanted(ev) {
		if ev.RTMS != nil && ev.RTMS.Problem != "" {
			w.log.Warn("webhook: an RTMS event was ignored", "event", label, "reason", ev.RTMS.Problem)
		}
		w.cfg.Observer.Webhook(label, "ignored")
		return WebhookAnswer{Status: "ignored"}, nil
	}
	select {
	case w.queues[w.shard(shardKey(ev))] <- webhookJob{ev: ev, arrived: arrived}:
	default:
		w.cfg.Dedupe.Forget(ev.Key) // Zoom's retry is to be taken in
		w.cfg.Observer.Webhook(label, "busy")
		return WebhookAnswer{}, &apperr.Error{Kind: apperr.ErrRateLimited, Op: "webhook", RetryAfter: time.Second,
			Message: "Too many webhook events are waiting; send this one again."}
	}
	if w.cfg.Relay != nil && ev.Name != webhooks.EventAppDeauthorized {
		w.cfg.Relay.Send(ctx, ev)
	}
	w.cfg.Observer.Webhook(label, "accepted")
	return WebhookAnswer{Status: "accepted"}, nil
}

// relayed takes an event another instance admitted: it is applied here as
// one received here would be, in its meeting's queue; a full queue drops it
// (the instance that admitted it has applied it).
func (w *Webhooks) relayed(ev webhooks.Event) {
	if ev.Name == webhooks.EventAppDeauthorized || !w.wanted(ev) {
		return
	}
	if ev.RTMS != nil {
		rt := *ev.RTMS
		rt.Relayed = true
		ev.RTMS = &rt
	}
	select {
	case w.queues[w.shard(ev.Meeting.Number)] <- webhookJob{ev: ev, arrived: w.cfg.Now()}:
	default:
		w.log.Warn("webhook: an event relayed by another instance was dropped: the queue is full", "event", webhooks.Label(ev.Name))
	}
}

// wanted reports whether an event changes anything here.
func (w *Webhooks) wanted(ev webhooks.Event) bool {
	if ev.RTMS != nil {
		return w.cfg.RTMS != nil && ev.RTMS.Problem == ""
	}
	switch ev.Name {
	case webhooks.EventMeetingStarted, webhooks.EventMeetingEnded:
		return ev.Meeting.Number != ""
	case webhooks.EventParticipantJoined, webhooks.EventParticipantLeft:
		return ev.Meeting.Number != "" && ev.Participant != nil
	case webhooks.EventAppDeauthorized:
		return w.cfg.Deauth != nil && ev.Deauth != nil && ev.Deauth.UserID != ""
	}
	return false
}

// shardKey: a meeting's events, and a stream's, stay in order.
func shardKey(ev webhooks.Event) string {
	if ev.RTMS != nil {
		return "rtms:" + ev.RTMS.StreamID
	}
	return ev.Meeting.Number
}

// shard keeps each meeting's events on one worker, in the order they came.
func (w *Webhooks) shard(meeting string) int {
	h := fnv.New32a()
	h.Write([]byte(meeting))
	return int(h.Sum32() % uint32(len(w.queues)))
}

func (w *Webhooks) work(q chan webhookJob) {
	defer w.wg.Done()
	for {
		select {
		case j := <-q:
			w.apply(j)
		case <-w.stop:
			for {
				select {
				case j := <-q:
					w.apply(j)
				default:
					return
				}
			}
		}
	}
}

// sessionsOf names a participant's session: the per-meeting user_id, else
// participant_uuid (which may outlive a rejoin, so it is only a fallback).
func sessionsOf(p *webhooks.Participant) []string {
	switch {
	case p.UserID != "":
		return []string{"uid:" + p.UserID}
	case p.UUID != "":
		return []string{"puuid:" + p.UUID}
	}
	return nil
}

// idsOf are the identifiers of the user: every one Zoom gave.
func idsOf(p *webhooks.Participant) []string {
	var ids []string
	for _, s := range []string{p.ID, p.ParticipantUserID, p.Email} {
		if s != "" {
			ids = append(ids, s)
		}
	}
	return ids
}

// apply works on one event: the presence store first, then the news on the bus.
func (w *Webhooks) apply(j webhookJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := j.ev
	label := webhooks.Label(ev.Name)
	mid, _ := zoom.MeetingIDFromString(ev.Meeting.Number)
	var err error
	switch ev.Name {
	case webhooks.EventMeetingStarted:
		err = w.cfg.Presence.Started(ctx, ev.Meeting.Number, ev.Meeting.Start)
	case webhooks.EventParticipantJoined:
		p := presence.Participant{Sessions: sessionsOf(ev.Participant), IDs: idsOf(ev.Participant), At: ev.Participant.Time}
		if err = w.cfg.Presence.Joined(ctx, ev.Meeting.Number, p); err == nil && len(p.IDs) > 0 {
			w.cfg.Events.Publish(ctx, Event{Kind: ParticipantJoined, Meeting: mid, IDs: p.IDs, Arrived: j.arrived})
		}
	case webhooks.EventParticipantLeft:
		p := presence.Participant{Sessions: sessionsOf(ev.Participant), IDs: idsOf(ev.Participant), At: ev.Participant.Time}
		var gone []string
		if gone, err = w.cfg.Presence.Left(ctx, ev.Meeting.Number, p); err == nil {
			if ids := append(p.IDs, gone...); len(ids) > 0 {
				w.cfg.Events.Publish(ctx, Event{Kind: ParticipantLeft, Meeting: mid, IDs: ids, Arrived: j.arrived})
			}
		}
	case webhooks.EventMeetingEnded:
		var gone []string
		if gone, err = w.cfg.Presence.Ended(ctx, ev.Meeting.Number, ev.Meeting.End); err == nil {
			w.cfg.Events.Publish(ctx, Event{Kind: MeetingEnded, Meeting: mid, IDs: gone, Arrived: j.arrived})
		}
	case webhooks.EventAppDeauthorized:
		err = w.cfg.Deauth.Deauthorized(ctx, *ev.Deauth)
	default:
		if ev.RTMS != nil {
			w.cfg.RTMS.HandleRTMS(*ev.RTMS)
		}
	}
	if err != nil {
		w.cfg.Observer.Webhook(label, "failed")
		w.log.Error("webhook: an event could not be applied", "event", label, "err", err)
	}
}
