// Package events delivers the events of the connections store's outbox to
// the app's back-end (EVENTS_URL), signed with EVENTS_SECRET: at least once,
// the same id on every attempt, in order per key (a connection's sub, or
// rtms:<streamId>), retried with backoff for 24 hours, by one instance of a cluster at a time (a lease on
// the event's row). Nothing here blocks the request whose change recorded
// the event.
package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// The headers of a delivery.
const (
	HeaderID        = "X-Tokenserver-Event-Id"
	HeaderSignature = "X-Tokenserver-Signature"
)

// Outbox is what the deliverer needs of the store (store.Outbox).
type Outbox interface {
	ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]store.Event, error)
	DeleteEvent(ctx context.Context, id string) error
	RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error
	PendingEvents(ctx context.Context) (int, error)
	DroppedEvents() int64
}

// Observer counts deliveries (*metrics.Events is one).
type Observer interface {
	Pending(n int)
	Delivered()
	Retried()
	Failed()
	Dropped(n int64)
}

// Config configures a Deliverer. Zero durations get defaults.
type Config struct {
	URL      string
	Secret   secret.Value
	Outbox   Outbox
	Observer Observer // nil: none
	Logger   *slog.Logger
	Now      func() time.Time
	Client   *http.Client // nil: one that follows no redirect, with Timeout

	Timeout     time.Duration // one delivery; 10 s
	LeaseFor    time.Duration // an event held by this deliverer; 30 s (more than Timeout)
	Poll        time.Duration // how often the outbox is read without a Kick; 1 s
	FirstRetry  time.Duration // the first backoff, doubling; 1 s
	MaxRetry    time.Duration // the longest backoff; 10 minutes
	GiveUpAfter time.Duration // an event failing this long after it was recorded is dropped; 24 h
	Batch       int           // events claimed at once, delivered in parallel (one per connection); 16
}

// Deliverer sends the outbox's events to the app's back-end.
type Deliverer struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	wake    chan struct{}
	dropped int64 // DroppedEvents already reported

	unreadable bool // the last ClaimEvents failed (said once, not every poll)
}

// New returns a deliverer; Run starts it.
func New(cfg Config) (*Deliverer, error) {
	if cfg.URL == "" || cfg.Outbox == nil || len(cfg.Secret.Reveal()) < 32 {
		return nil, errors.New("events: a URL, an outbox and a secret of at least 32 bytes are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.LeaseFor, 3*cfg.Timeout)
	def(&cfg.Poll, time.Second)
	def(&cfg.FirstRetry, time.Second)
	def(&cfg.MaxRetry, 10*time.Minute)
	def(&cfg.GiveUpAfter, 24*time.Hour)
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout,
			// A redirect is a failure: the event goes where EVENTS_URL says, or nowhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Deliverer{cfg: cfg, log: cfg.Logger, client: client, wake: make(chan struct{}, 1)}, nil
}

// Kick tells the deliverer an event was recorded; it never blocks.
func (d *Deliverer) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		for d.round(ctx) == d.cfg.Batch && ctx.Err() == nil {
			// A full batch: more may be due at once.
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// round claims the due events and delivers them, one goroutine each (they
// are of different connections); it answers how many it claimed.
func (d *Deliverer) round(ctx context.Context) int {
	d.observe(ctx)
	now := d.cfg.Now()
	es, err := d.cfg.Outbox.ClaimEvents(ctx, now, now.Add(d.cfg.LeaseFor), d.cfg.Batch)
	if err != nil {
		if ctx.Err() == nil && !d.unreadable {
			d.log.Warn("events: cannot read the outbox; trying again every poll", "err", err)
		}
		d.unreadable = true
		return 0
	}
	if d.unreadable {
		d.log.Info("events: the outbox can be read again")
		d.unreadable = false
	}
	var wg sync.WaitGroup
	for _, e := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.settle(ctx, e, d.deliver(ctx, e))
		}()
	}
	wg.Wait()
	return len(es)
}

// observe reports the pending count and the events dropped for the cap.
func (d *Deliverer) observe(ctx context.Context) {
	if n := d.cfg.Outbox.DroppedEvents(); n > d.dropped {
		d.log.Warn("events: the outbox is full; the oldest undelivered events were dropped", "dropped", n-d.dropped)
		if d.cfg.Observer != nil {
			d.cfg.Observer.Dropped(n - d.dropped)
		}
		d.dropped = n
	}
	if d.cfg.Observer == nil {
		return
	}
	if n, err := d.cfg.Outbox.PendingEvents(ctx); err == nil {
		d.cfg.Observer.Pending(n)
	}
}

// Body is what is POSTed: {id, type, createdAt, data}.
type Body struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// deliver POSTs e once; nil when the receiver answered 2xx.
func (d *Deliverer) deliver(ctx context.Context, e store.Event) error {
	body, err := json.Marshal(Body{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC(), Data: e.Data})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokenserver-events/1")
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, d.cfg.Now().Unix(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", d.cfg.Timeout)
		}
		return errors.New("the request failed (connection refused, reset or TLS)")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// settle records the outcome of a delivery: delivered, retried later, or
// (failing for GiveUpAfter) given up.
func (d *Deliverer) settle(ctx context.Context, e store.Event, failure error) {
	ctx = context.WithoutCancel(ctx) // the outcome is kept even while shutting down
	obs := d.cfg.Observer
	if failure == nil {
		if err := d.cfg.Outbox.DeleteEvent(ctx, e.ID); err != nil {
			d.log.Warn("events: delivered, but not removed from the outbox; it will be sent again", "id", e.ID, "err", err)
		}
		if obs != nil {
			obs.Delivered()
		}
		return
	}
	attempts := e.Attempts + 1
	now := d.cfg.Now()
	if now.Sub(e.CreatedAt) >= d.cfg.GiveUpAfter {
		d.log.Warn("events: given up after failing for too long", "id", e.ID, "type", e.Type, "attempts", attempts, "last", failure.Error())
		if err := d.cfg.Outbox.DeleteEvent(ctx, e.ID); err != nil {
			d.log.Warn("events: could not remove a given-up event", "id", e.ID, "err", err)
		}
		if obs != nil {
			obs.Failed()
		}
		return
	}
	wait := d.backoff(attempts)
	d.log.Warn("events: delivery failed; will try again", "id", e.ID, "type", e.Type, "attempt", attempts,
		"reason", failure.Error(), "retry_in", wait.String())
	if err := d.cfg.Outbox.RetryEvent(ctx, e.ID, attempts, now.Add(wait)); err != nil {
		d.log.Warn("events: could not record a failed delivery; its lease runs out by itself", "id", e.ID, "err", err)
	}
	if obs != nil {
		obs.Retried()
	}
}

// backoff is FirstRetry doubled for each failure before, at most MaxRetry.
func (d *Deliverer) backoff(attempts int) time.Duration {
	w := d.cfg.FirstRetry
	for i := 1; i < attempts && w < d.cfg.MaxRetry; i++ {
		w *= 2
	}
	return min(w, d.cfg.MaxRetry)
}

// Sign is the X-Tokenserver-Signature of body sent at unix second t:
// t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func Sign(key secret.Value, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}
