package awaits

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/services"

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
	Join(ctx context.Context, caller services.Identity, in services.JoinInput) (services.Minted, error)
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
// An await that follows (Follow) goes on after UserLeft: Credentials again
// (with Handoff), or Awaiting(Waiting) and later Credentials, Failed (the
// timeout) or Awaiting(Ended). After Cancel nothing more is called, except
// a Credentials whose mint had already finished.
type AwaitSink interface {
	Awaiting(p presence.State)
	Credentials(c AwaitCredentials)
	Failed(err error)
	UserLeft(user zoom.UserID)
}

// AwaitInput asks to be given the OBF of a user (or of the first of
// candidates) when that user is in the meeting.
type AwaitInput struct {
	MeetingID zoom.MeetingID
	User      zoom.UserID // the user; with Candidates, Candidates[0]
	// Candidates, in order of preference (onBehalfOf as a list,
	// participantUserIds); empty: User alone. Exclude: never chosen.
	Candidates []zoom.UserID
	Exclude    []zoom.UserID
	// Listed: the users were named as a list. Then, as with Follow, the OBF
	// goes to the awaiting caller only, never to the users' own sockets.
	Listed bool
	// Timeout is how long to wait for the user; 0: answer the presence and
	// stop (no wait). With Follow, how long to wait each time no candidate
	// is present.
	Timeout time.Duration
	// Watch: once the OBF is delivered, keep watching and say when the user
	// leaves (Zoom removes an OBF bot then).
	Watch bool
	// Follow: when the user leaves, hand the OBF of another present
	// candidate over at once, or wait for one; until the meeting ends.
	Follow bool
	// FallbackUnknown: where presence is unknown, mint for the first
	// candidate not excluded instead of ending (REST with candidates).
	FallbackUnknown bool
}

func (in AwaitInput) users() []zoom.UserID {
	if len(in.Candidates) > 0 {
		return in.Candidates
	}
	return []zoom.UserID{in.User}
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
	caller  services.Identity
	cands   []candidate
	ids     []string // every candidate's, presence.Key'd: the index's keys
	sink    AwaitSink
	meeting string
	key     string // the caller's, for MaxPerCaller
	noPush  bool

	// sinkMu keeps the sink's calls after the first answer in order (a
	// hand-off's UserLeft before its Credentials).
	sinkMu sync.Mutex

	mu          sync.Mutex
	state       awaitState
	holder      int       // the candidate minted for, or held; -1: none
	handoff     *Handoff  // what the next credentials follow
	woken       bool      // a candidate joined while arming
	arrived     time.Time // when the webhook that woke it arrived
	leftMinting bool      // the holder left while its OBF was minted
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

// Await starts waiting for in.User (or the first of in.Candidates) to be
// in in.MeetingID, for a caller who may join as each (the same rule as a
// join). It tells sink the presence at once; when a candidate is present,
// now or when the event comes, it mints the OBF (joiner.Join: pushed to the
// user's sockets as a join's is, unless the users were listed or the await
// follows) and hands it to sink. Unknown ends the await (no event came for
// the meeting, so the client joins with retries instead), unless
// in.FallbackUnknown.
func (a *Awaits) Await(ctx context.Context, caller services.Identity, in AwaitInput, sink AwaitSink) (*Await, error) {
	cs, err := a.candidates(ctx, caller, in.users(), in.Exclude, in.Listed)
	if err != nil {
		return nil, err
	}
	w := &Await{a: a, in: in, caller: caller, cands: cs, sink: sink, meeting: in.MeetingID.String(),
		key: caller.RateKey(), holder: -1, noPush: in.Listed || in.Follow}
	for _, c := range cs {
		for _, id := range c.ids {
			if !contains(w.ids, id) {
				w.ids = append(w.ids, id)
			}
		}
	}
	if err := a.register(w); err != nil {
		return nil, err
	}
	// Registered before asking, so that a join arriving meanwhile is not missed.
	snap, err := a.lookupAll(ctx, w.meeting, cs)
	w.mu.Lock()
	woken := w.woken
	w.mu.Unlock()
	if err == nil && woken && snap.known() && snap.first(cs, -1) < 0 {
		snap, err = a.lookupAll(ctx, w.meeting, cs) // the store has that join now
	}
	if err != nil {
		a.unregister(w)
		return nil, fmt.Errorf("await: %w", err)
	}
	st := snap.overall(cs)
	a.cfg.Observer.Await(string(st))
	sink.Awaiting(st)
	w.begin(snap, st)
	return w, nil
}

// begin goes on from the first answer: mint, wait or end.
func (w *Await) begin(snap snapshot, st presence.State) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.state != arming: // cancelled meanwhile
	case st == presence.Present:
		w.holder, w.state = snap.first(w.cands, -1), minting
		go w.mint()
	case st == presence.Unknown && w.in.FallbackUnknown:
		w.holder, w.state = firstListed(w.cands), minting
		go w.mint()
	case st == presence.Unknown || w.in.Timeout <= 0:
		w.state = done
		w.a.unregister(w)
	default:
		w.state = waiting
		w.stop = w.a.cfg.AfterFunc(w.in.Timeout, w.timeout)
	}
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

// ofMeeting lists every await of meeting.
func (a *Awaits) ofMeeting(meeting string) []*Await {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[*Await]bool{}
	var out []*Await
	for _, set := range a.index[meeting] {
		for w := range set {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// Deliver is the bus's subscriber: a participant's join wakes its awaits; a
// leave tells the watching ones their user left (and hands a following one
// over); the meeting's end ends the following ones and tells the watching
// ones. Other events are not its.
func (a *Awaits) Deliver(ctx context.Context, e services.Event) bool {
	switch e.Kind {
	case services.ParticipantJoined:
		ws := a.matching(e.Meeting.String(), e.IDs)
		for _, w := range ws {
			w.wake(e.Arrived, e.IDs)
		}
		return len(ws) > 0
	case services.ParticipantLeft:
		ws := a.matching(e.Meeting.String(), e.IDs)
		for _, w := range ws {
			w.left(ctx, e.IDs, e.Arrived)
		}
		return len(ws) > 0
	case services.MeetingEnded:
		n := 0
		for _, w := range a.ofMeeting(e.Meeting.String()) {
			if w.in.Follow {
				w.ended()
				n++
			} else if w.matches(e.IDs) {
				w.left(ctx, e.IDs, e.Arrived)
				n++
			}
		}
		return n > 0
	}
	return false
}

func (w *Await) matches(ids []string) bool {
	for _, c := range w.cands {
		if c.matches(ids) {
			return true
		}
	}
	return false
}

// wake: a candidate joined.
func (w *Await) wake(arrived time.Time, ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case arming:
		w.woken, w.arrived = true, arrived
	case waiting:
		for i, c := range w.cands {
			if !c.excluded && c.matches(ids) {
				if w.stop != nil {
					w.stop()
				}
				w.holder, w.state, w.arrived = i, minting, arrived
				go w.mint()
				return
			}
		}
	}
}

// left: a user matching this await left. The holder still present on
// another device: nothing to say. Else the await ends with UserLeft, or,
// when it follows, hands over.
func (w *Await) left(ctx context.Context, ids []string, arrived time.Time) {
	w.mu.Lock()
	h := w.holder
	heldLeft := h >= 0 && w.cands[h].matches(ids)
	if w.state == minting && heldLeft {
		w.leftMinting = true
	}
	if w.state != holding || !heldLeft {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	snap, err := w.a.lookupAll(ctx, w.meeting, w.cands)
	if err == nil && snap[h] == presence.Present {
		return
	}
	if !w.in.Follow {
		if w.finish() {
			w.a.cfg.Observer.Await("user_left")
			w.sink.UserLeft(w.cands[h].user)
		}
		return
	}
	next := -1
	if err == nil {
		next = snap.first(w.cands, h)
	}
	w.handOff(h, next, arrived)
}

// handOff: the holder h left; mint for next (-1: wait for a candidate).
// Once per departure: only the await still holding h moves on.
func (w *Await) handOff(h, next int, arrived time.Time) {
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	w.mu.Lock()
	if w.state != holding || w.holder != h {
		w.mu.Unlock()
		return
	}
	if w.stop != nil {
		w.stop()
	}
	from := w.cands[h].user
	w.handoff, w.arrived, w.leftMinting = &Handoff{From: from, Reason: HandoffUserLeft}, arrived, false
	if next >= 0 {
		w.holder, w.state = next, minting
		go w.mint() // its Credentials waits for sinkMu: after UserLeft
	} else {
		w.holder, w.state = -1, waiting
		w.stop = w.a.cfg.AfterFunc(w.in.Timeout, w.timeout)
	}
	w.mu.Unlock()
	w.a.cfg.Observer.Await("user_left")
	w.sink.UserLeft(from)
	if next < 0 {
		w.sink.Awaiting(presence.Waiting)
	}
}

// ended: the meeting ended; a following await ends with it.
func (w *Await) ended() {
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	w.mu.Lock()
	st, h := w.state, w.holder
	w.mu.Unlock()
	if st == arming || !w.finish() {
		return
	}
	if st == holding && h >= 0 {
		w.sink.UserLeft(w.cands[h].user)
	}
	w.a.cfg.Observer.Await("ended")
	w.sink.Awaiting(presence.Ended)
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
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	w.mu.Lock()
	if w.state != waiting {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if w.finish() {
		w.a.cfg.Observer.Await("timeout")
		w.sink.Failed(&apperr.Error{Kind: apperr.ErrPresenceTimeout, Op: "await",
			Message: fmt.Sprintf("%s was not in meeting %s within %s.", w.who(), w.meeting, w.in.Timeout),
			Hint:    "Await again, or join with retries."})
	}
}

// who names the user awaited, or the candidates.
func (w *Await) who() string {
	if len(w.cands) == 1 {
		return w.cands[0].user.String()
	}
	return fmt.Sprintf("None of the %d candidates", len(w.cands))
}

func (w *Await) expire() {
	w.finish()
}

// choose checks, just before minting, that the chosen candidate is still
// present (where presence is known): else the first present one, else
// back to waiting (reported false).
func (w *Await) choose(ctx context.Context) (int, *Handoff, snapshot, bool) {
	snap, err := w.a.lookupAll(ctx, w.meeting, w.cands)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != minting {
		return -1, nil, nil, false
	}
	if err == nil && snap.known() && snap[w.holder] != presence.Present {
		if j := snap.first(w.cands, -1); j >= 0 {
			w.holder = j
		} else {
			w.holder, w.state, w.leftMinting = -1, waiting, false
			if w.in.Timeout > 0 {
				w.stop = w.a.cfg.AfterFunc(w.in.Timeout, w.timeout)
			} else {
				w.stop = w.a.cfg.AfterFunc(time.Nanosecond, w.timeout)
			}
			go w.say(presence.Waiting)
			return -1, nil, nil, false
		}
	}
	return w.holder, w.handoff, snap, true
}

func (w *Await) say(p presence.State) {
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	w.sink.Awaiting(p)
}

// mint mints the OBF now that the candidate is in the meeting, and hands it over.
func (w *Await) mint() {
	ctx, cancel := context.WithTimeout(w.a.ctx, w.a.cfg.MintTimeout)
	defer cancel()
	h, from, snap, ok := w.choose(ctx)
	if !ok {
		return
	}
	m, err := w.a.cfg.Join.Join(ctx, w.caller, services.JoinInput{MeetingID: w.in.MeetingID, ParticipantUserID: w.cands[h].user, NoPush: w.noPush})
	w.mu.Lock()
	if w.state != minting { // cancelled meanwhile: the token went to the user's sockets only
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if err != nil {
		w.sinkMu.Lock()
		defer w.sinkMu.Unlock()
		if w.finish() {
			w.a.cfg.Observer.Await("failed")
			w.sink.Failed(err)
		}
		return
	}
	w.deliver(AwaitCredentials{Minted: m, Handoff: from, Candidates: w.listed(snap)})
}

func (w *Await) listed(snap snapshot) []CandidatePresence {
	if !w.in.Listed {
		return nil
	}
	return snap.list(w.cands)
}

// deliver hands the credentials over, then holds (watching for the
// holder's leave) or ends. The await holds before sinkMu is let go, so a
// meeting's end or a leave that comes right after the credentials finds
// it holding the user they were for.
func (w *Await) deliver(c AwaitCredentials) {
	w.sinkMu.Lock()
	w.sink.Credentials(c)
	w.mu.Lock()
	hold := (w.in.Watch || w.in.Follow) && w.state == minting
	leftAlready, h, arrived := false, w.holder, w.arrived
	if hold {
		w.state, w.handoff = holding, nil
		leftAlready, w.leftMinting = w.leftMinting, false
		w.stop = w.a.cfg.AfterFunc(w.a.cfg.HoldFor, w.expire)
	}
	w.mu.Unlock()
	w.sinkMu.Unlock()
	w.a.cfg.Observer.Await("delivered")
	if !arrived.IsZero() {
		w.a.cfg.Observer.AwaitDelivered(w.a.cfg.Now().Sub(arrived))
	}
	if !hold {
		w.finish()
		return
	}
	if leftAlready {
		w.left(w.a.ctx, w.cands[h].ids, w.a.cfg.Now())
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
