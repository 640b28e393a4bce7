package services

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// An OBF join succeeds only while the OBF's user is in the meeting. Rather
// than retry the join every few seconds with a fresh OBF (which makes Zoom
// email the host each time), a bot awaits its user: Awaits answers at once
// whether the user is present, and mints the OBF the moment Zoom's webhook
// says the user joined.

// joiner mints a participant's OBF (*Meetings is one): with the same
// authorization, minting path and push as a join.
type joiner interface {
	Join(ctx context.Context, caller Identity, in JoinInput) (Minted, error)
}

// Identifiers knows more identifiers of a user than the one given: its
// connection's Zoom user id and email (*Connections is one).
type Identifiers interface {
	Identities(ctx context.Context, user zoom.UserID) []string
}

// AwaitObserver counts awaits by outcome, and the time from the webhook's
// arrival to the token's push, for metrics.
type AwaitObserver interface {
	Await(outcome string)
	AwaitDelivered(sinceEvent time.Duration)
}

// AwaitSink is told how an await goes; the transport implements it. Calls
// come one at a time, in this order: Awaiting once; then, unless the
// presence was Unknown (or Waiting with no time to wait), Credentials or
// Failed; after Credentials, when the await watches, UserLeft at most once.
// After Cancel nothing more is called, except a Credentials whose mint had
// already finished.
type AwaitSink interface {
	Awaiting(p presence.State)
	Credentials(m Minted)
	Failed(err error)
	UserLeft()
}

// AwaitInput asks to be given the user's OBF when the user is in the meeting.
type AwaitInput struct {
	MeetingID zoom.MeetingID
	User      zoom.UserID
	// Timeout is how long to wait for the user; 0: answer the presence and
	// stop (no wait).
	Timeout time.Duration
	// Watch: once the OBF is delivered, keep watching and say when the user
	// leaves (Zoom removes an OBF bot then).
	Watch bool
}

// AwaitsConfig configures Awaits. Zero values take defaults.
type AwaitsConfig struct {
	Presence    presence.Store
	Join        joiner
	Identifiers Identifiers // nil: only the id given is matched
	Observer    AwaitObserver
	Logger      *slog.Logger
	// AfterFunc runs f after d, as time.AfterFunc; tests pass time without sleeping.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	Now       func() time.Time

	MaxAwaits    int           // awaits in progress at once, all callers; 100,000
	MaxPerCaller int           // awaits of one caller at once; 1,000
	MintTimeout  time.Duration // one mint; 30 s
	HoldFor      time.Duration // how long a delivered await watches for its user's leave; 24 h
}

// Awaits holds the awaits of this process and wakes them on the presence
// events of the bus (Deliver).
type Awaits struct {
	cfg AwaitsConfig
	log *slog.Logger
	ctx context.Context // ends at shutdown

	mu        sync.Mutex
	index     map[string]map[string]map[*Await]struct{} // meeting → identifier → awaits
	perCaller map[string]int
	total     int
	closed    bool
}

type awaitState int

const (
	arming  awaitState = iota // registered; Awaiting not yet said
	waiting                   // for the user
	minting                   // the user is present: minting
	holding                   // delivered; watching for the user's leave
	done
)

// Await is one await in progress. Cancel ends it.
type Await struct {
	a       *Awaits
	in      AwaitInput
	caller  Identity
	ids     []string // presence.Key'd
	sink    AwaitSink
	meeting string
	key     string // the caller's, for MaxPerCaller

	mu          sync.Mutex
	state       awaitState
	woken       bool      // the user joined while arming
	arrived     time.Time // when the webhook that woke it arrived
	leftMinting bool      // the user left while its OBF was minted
	stop        func() bool
}

type nopAwaitObserver struct{}

func (nopAwaitObserver) Await(string)                 {}
func (nopAwaitObserver) AwaitDelivered(time.Duration) {}

// NewAwaits returns the awaits; every one ends when ctx does (a long poll
// must not hold the server's shutdown).
func NewAwaits(ctx context.Context, cfg AwaitsConfig) (*Awaits, error) {
	if cfg.Presence == nil || cfg.Join == nil {
		return nil, fmt.Errorf("awaits: the presence store and the joiner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopAwaitObserver{}
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAwaits <= 0 {
		cfg.MaxAwaits = 100_000
	}
	if cfg.MaxPerCaller <= 0 {
		cfg.MaxPerCaller = 1_000
	}
	if cfg.MintTimeout <= 0 {
		cfg.MintTimeout = 30 * time.Second
	}
	if cfg.HoldFor <= 0 {
		cfg.HoldFor = 24 * time.Hour
	}
	a := &Awaits{cfg: cfg, log: cfg.Logger, ctx: ctx, index: map[string]map[string]map[*Await]struct{}{}, perCaller: map[string]int{}}
	go func() {
		<-ctx.Done()
		a.closeAll()
	}()
	return a, nil
}

// Await starts waiting for in.User to be in in.MeetingID, for a caller who
// may join as that user (the same rule as a join). It tells sink the
// presence at once; when the user is present, now or when the event comes,
// it mints the OBF (joiner.Join: pushed to the user's sockets as a join's is)
// and hands it to sink. Unknown ends the await: no event came for the
// meeting, so the client joins with retries instead.
func (a *Awaits) Await(ctx context.Context, caller Identity, in AwaitInput, sink AwaitSink) (*Await, error) {
	if err := authorizeJoin(caller, in.User); err != nil {
		return nil, err
	}
	ids := []string{presence.Key(in.User.String())}
	if a.cfg.Identifiers != nil {
		for _, id := range a.cfg.Identifiers.Identities(ctx, in.User) {
			if k := presence.Key(id); k != "" && !contains(ids, k) {
				ids = append(ids, k)
			}
		}
	}
	w := &Await{a: a, in: in, caller: caller, ids: ids, sink: sink, meeting: in.MeetingID.String(), key: caller.RateKey()}
	if err := a.register(w); err != nil {
		return nil, err
	}
	// Registered before asking, so that a join arriving meanwhile is not missed.
	st, err := a.cfg.Presence.Lookup(ctx, w.meeting, ids)
	if err != nil {
		a.unregister(w)
		return nil, fmt.Errorf("await: %w", err)
	}
	w.mu.Lock()
	if w.woken && st != presence.Unknown {
		st = presence.Present
	}
	w.mu.Unlock()
	a.cfg.Observer.Await(string(st))
	sink.Awaiting(st)

	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.state != arming: // cancelled meanwhile
	case st == presence.Present || w.woken:
		w.state = minting
		go w.mint()
	case st == presence.Unknown || in.Timeout <= 0:
		w.state = done
		a.unregister(w)
	default:
		w.state = waiting
		w.stop = a.cfg.AfterFunc(in.Timeout, w.timeout)
	}
	return w, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (a *Awaits) register(w *Await) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return shuttingDown()
	case a.total >= a.cfg.MaxAwaits:
		return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "await", RetryAfter: 5 * time.Second,
			Message: "This server holds as many awaits as it can; try again shortly, or join with retries."}
	case a.perCaller[w.key] >= a.cfg.MaxPerCaller:
		return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "await", RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("You have %d awaits in progress, the most one caller may have; cancel some first.", a.cfg.MaxPerCaller)}
	}
	byID := a.index[w.meeting]
	if byID == nil {
		byID = map[string]map[*Await]struct{}{}
		a.index[w.meeting] = byID
	}
	for _, id := range w.ids {
		set := byID[id]
		if set == nil {
			set = map[*Await]struct{}{}
			byID[id] = set
		}
		set[w] = struct{}{}
	}
	a.perCaller[w.key]++
	a.total++
	return nil
}

// unregister forgets w; once only.
func (a *Awaits) unregister(w *Await) {
	a.mu.Lock()
	defer a.mu.Unlock()
	byID := a.index[w.meeting]
	if byID == nil {
		return
	}
	found := false
	for _, id := range w.ids {
		if set := byID[id]; set != nil {
			if _, ok := set[w]; ok {
				found = true
				delete(set, w)
			}
			if len(set) == 0 {
				delete(byID, id)
			}
		}
	}
	if len(byID) == 0 {
		delete(a.index, w.meeting)
	}
	if !found {
		return
	}
	a.total--
	if a.perCaller[w.key]--; a.perCaller[w.key] <= 0 {
		delete(a.perCaller, w.key)
	}
}

// Len is how many awaits are in progress.
func (a *Awaits) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// matching lists the awaits of meeting that match any of ids.
func (a *Awaits) matching(meeting string, ids []string) []*Await {
	a.mu.Lock()
	defer a.mu.Unlock()
	byID := a.index[meeting]
	if byID == nil {
		return nil
	}
	var out []*Await
	seen := map[*Await]bool{}
	for _, id := range ids {
		for w := range byID[presence.Key(id)] {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// Deliver is the bus's subscriber: a participant's join wakes its awaits; a
// leave (or the meeting's end) tells the watching ones their user left. Other
// events are not its.
func (a *Awaits) Deliver(ctx context.Context, e Event) bool {
	switch e.Kind {
	case ParticipantJoined:
		ws := a.matching(e.Meeting.String(), e.IDs)
		for _, w := range ws {
			w.wake(e.Arrived)
		}
		return len(ws) > 0
	case ParticipantLeft, MeetingEnded:
		ws := a.matching(e.Meeting.String(), e.IDs)
		for _, w := range ws {
			w.left(ctx)
		}
		return len(ws) > 0
	}
	return false
}

// wake: the user joined.
func (w *Await) wake(arrived time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case arming:
		w.woken, w.arrived = true, arrived
	case waiting:
		if w.stop != nil {
			w.stop()
		}
		w.state, w.arrived = minting, arrived
		go w.mint()
	}
}

// left: a user matching this await left. Still present on another device:
// nothing to say.
func (w *Await) left(ctx context.Context) {
	w.mu.Lock()
	state := w.state
	if state == minting {
		w.leftMinting = true
	}
	w.mu.Unlock()
	if state != holding {
		return
	}
	if st, err := w.a.cfg.Presence.Lookup(ctx, w.meeting, w.ids); err == nil && st == presence.Present {
		return
	}
	if w.finish() {
		w.a.cfg.Observer.Await("user_left")
		w.sink.UserLeft()
	}
}

// finish ends the await; it reports false when it had ended already.
func (w *Await) finish() bool {
	w.mu.Lock()
	if w.state == done {
		w.mu.Unlock()
		return false
	}
	w.state = done
	if w.stop != nil {
		w.stop()
	}
	w.mu.Unlock()
	w.a.unregister(w)
	return true
}

// Cancel ends the await; the sink hears nothing more.
func (w *Await) Cancel() {
	if w.finish() {
		w.a.cfg.Observer.Await("cancelled")
	}
}

// Meeting is the meeting awaited.
func (w *Await) Meeting() zoom.MeetingID { return w.in.MeetingID }

func (w *Await) timeout() {
	w.mu.Lock()
	if w.state != waiting {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if w.finish() {
		w.a.cfg.Observer.Await("timeout")
		w.sink.Failed(&apperr.Error{Kind: apperr.ErrPresenceTimeout, Op: "await",
			Message: fmt.Sprintf("%s was not in meeting %s within %s.", w.in.User.String(), w.meeting, w.in.Timeout),
			Hint:    "Await again, or join with retries."})
	}
}

func (w *Await) expire() {
	w.finish()
}

// mint mints the OBF now that the user is in the meeting, and hands it over.
func (w *Await) mint() {
	ctx, cancel := context.WithTimeout(w.a.ctx, w.a.cfg.MintTimeout)
	defer cancel()
	m, err := w.a.cfg.Join.Join(ctx, w.caller, JoinInput{MeetingID: w.in.MeetingID, ParticipantUserID: w.in.User})
	w.mu.Lock()
	if w.state != minting { // cancelled meanwhile: the token went to the user's sockets only
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if err != nil {
		if w.finish() {
			w.a.cfg.Observer.Await("failed")
			w.sink.Failed(err)
		}
		return
	}
	w.sink.Credentials(m)
	w.a.cfg.Observer.Await("delivered")
	if !w.arrived.IsZero() {
		w.a.cfg.Observer.AwaitDelivered(w.a.cfg.Now().Sub(w.arrived))
	}
	w.mu.Lock()
	if !w.in.Watch || w.state != minting {
		w.mu.Unlock()
		w.finish()
		return
	}
	w.state = holding
	leftAlready := w.leftMinting
	w.stop = w.a.cfg.AfterFunc(w.a.cfg.HoldFor, w.expire)
	w.mu.Unlock()
	if leftAlready {
		w.left(w.a.ctx)
	}
}

func shuttingDown() error {
	return &apperr.Error{Kind: apperr.ErrPresenceTimeout, Op: "await",
		Message: "The server is shutting down before the user was in the meeting.", Hint: "Await again in a moment."}
}

// closeAll ends every await at shutdown: waiting ones fail (a long poll
// answers at once), the others end quietly.
func (a *Awaits) closeAll() {
	a.mu.Lock()
	a.closed = true
	all := map[*Await]struct{}{}
	for _, byID := range a.index {
		for _, set := range byID {
			for w := range set {
				all[w] = struct{}{}
			}
		}
	}
	a.mu.Unlock()
	for w := range all {
		w.mu.Lock()
		wasWaiting := w.state == waiting
		w.mu.Unlock()
		if w.finish() && wasWaiting {
			w.sink.Failed(shuttingDown())
		}
	}
}
