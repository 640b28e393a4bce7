package zoom

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// The account's pace: when a call to Zoom may go (pace, below), and one job
// only. Each Zoom account has this server's budget of ZOOM_QPS calls per
// second: an x/time/rate limiter in the process (account.limiter), or the
// cluster's schedule (Config.Quota), and a batch turn that shares it fairly.
//
// Fair shares: a call is interactive (a person's join or start, an await's
// answer, a bot's callback fetch) unless its context says it is an item of
// a batch (WithBatch). Interactive calls book the account's next moment at
// once, as every call used to. Batch items first wait for the account's
// batch turn (turns, below): one batch item at a time books a moment and
// sleeps until it, and the turn then goes to the next caller with items
// waiting, in turn (round robin per caller key). So at most one batch
// moment is booked ahead of now per account (per instance in a cluster),
// and an interactive call waits behind that one and other interactive calls
// only, never behind a batch's queue; and batches of different callers
// share what interactive calls leave, one item each in turn, whatever their
// number of workers or of batches.

type batchKey struct{}

// WithBatch marks ctx's Zoom calls as items of a batch that callerKey (the
// caller's rate key: one share per caller, however many batches it runs)
// asked for. Calls without the mark are interactive and go first.
func WithBatch(ctx context.Context, callerKey string) context.Context {
	return context.WithValue(ctx, batchKey{}, callerKey)
}

// batchOf is the caller key WithBatch put on ctx; ok false: interactive.
func batchOf(ctx context.Context) (key string, ok bool) {
	key, ok = ctx.Value(batchKey{}).(string)
	return key, ok
}

// pace takes a slot of this server's own budget of Zoom calls (ZOOM_QPS)
// for one Zoom account (acct's limiter), or of the cluster's (waitShared).
// The queue may use at most three quarters of the time left before ctx's
// deadline (and never more than the time left minus one attempt), so Zoom
// always has time to answer: when its answer is late, it is Zoom's. A call
// that cannot get a slot in that time is refused at once, and one whose
// deadline ends while queued likewise: both as this server's queue being
// full (zoom_rate_limited), never as Zoom not answering.
//
// A batch item (WithBatch) first waits for the account's batch turn, within
// the same bound, and holds it until its moment: the batches book one
// moment at a time, callers in turn, and interactive calls book theirs
// meanwhile, ahead of every batch item still waiting.
func (c *Client) pace(ctx context.Context, acct *account) error {
	key, batch := batchOf(ctx)
	if !batch {
		return c.book(ctx, acct)
	}
	const op = "wait for this server's Zoom quota (ZOOM_QPS), in turn with other batches"
	interval := time.Duration(float64(time.Second) / c.cfg.QPS)
	release, late, err := acct.turns.take(ctx, key, c.queueWithin(ctx), interval)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return ctxErr(ctx, op)
		}
		return queueFullErr(op, late)
	}
	defer release()
	return c.book(ctx, acct)
}

// book takes the account's next moment and sleeps until it.
func (c *Client) book(ctx context.Context, acct *account) error {
	if c.cfg.Quota != nil {
		return c.waitShared(ctx, acct.id)
	}
	const op = "wait for this server's Zoom quota (ZOOM_QPS)"
	r := acct.limiter.Reserve()
	delay := r.Delay()
	if delay <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if limit := left - min(c.cfg.AttemptTimeout, left/4); delay > limit {
			r.Cancel()
			return queueFullErr(op, delay-limit)
		}
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		if delay > time.Millisecond {
			c.obs.LimiterWait(delay)
		}
		return nil
	case <-ctx.Done():
		r.Cancel()
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctxErr(ctx, op)
		}
		return queueFullErr(op, delay)
	}
}

func queueFullErr(op string, retryAfter time.Duration) error {
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, RetryAfter: max(retryAfter, time.Second),
		Message: "This server's queue of Zoom calls (its ZOOM_QPS budget) is full: the call could not be made in time. Try again shortly.",
		Hint:    "Zoom itself was not asked. If the Zoom account's rate limit allows, raise ZOOM_QPS."}
}

// queueWithin is how long a call may wait in the queue: at most three
// quarters of the time left before ctx's deadline (and never more than
// the time left minus one attempt), so Zoom always has time to answer.
// Negative: no deadline, no bound; a deadline already past: 0.
func (c *Client) queueWithin(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	left := time.Until(dl)
	return max(0, left-min(c.cfg.AttemptTimeout, left/4))
}

// waitShared is book with the cluster's quota: book the account's next
// slot within the same bound as the local queue, and sleep until it. A
// call whose slot is further off is refused at once, as a full queue; one
// whose context ends while it sleeps leaves its slot unused (the pace
// loses that one call, Zoom is never called early).
func (c *Client) waitShared(ctx context.Context, account string) error {
	const op = "wait for the cluster's Zoom quota (ZOOM_QPS)"
	within := c.queueWithin(ctx)
	wait, ok, err := c.cfg.Quota.Reserve(ctx, account, within)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctxErr(ctx, op)
		}
		return queueFullErr(op, time.Second)
	}
	if !ok {
		return queueFullErr(op, wait-within)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		if wait > time.Millisecond {
			c.obs.LimiterWait(wait)
		}
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctxErr(ctx, op)
		}
		return queueFullErr(op, wait)
	}
}

// turns hands an account's batch turn to one waiter at a time, taking the
// callers with items waiting in turn.
type turns struct {
	mu     sync.Mutex
	busy   bool                     // a batch item holds the turn
	queues map[string][]*turnWaiter // caller key -> its waiting items, oldest first
	ring   []string                 // the keys with items waiting, in the order they are served
	next   int                      // index in ring of the key served next
}

type turnWaiter struct {
	ready   chan struct{} // closed when the turn is this waiter's
	granted bool          // under turns.mu
}

// ahead is how many turns come before a new item of key's (under mu): the
// holder's, and, round robin, each other caller's items up to as many as
// key has waiting plus one.
func (t *turns) ahead(key string) int {
	n := 0
	if t.busy {
		n++
	}
	mine := len(t.queues[key])
	for k, q := range t.queues {
		if k == key {
			n += mine
			continue
		}
		n += min(len(q), mine+1)
	}
	return n
}

// take waits for key's turn. When the turn cannot come within (negative:
// no bound; the estimate is ahead × interval) it refuses at once, and when
// within passes while it waits it gives up: both errTurnLate, with how far
// off the turn was estimated to be. release must be called once the item
// has booked its moment and slept until it.
func (t *turns) take(ctx context.Context, key string, within, interval time.Duration) (release func(), late time.Duration, err error) {
	t.mu.Lock()
	if t.queues == nil {
		t.queues = map[string][]*turnWaiter{}
	}
	if !t.busy && len(t.ring) == 0 {
		t.busy = true
		t.mu.Unlock()
		return t.release, 0, nil
	}
	est := time.Duration(t.ahead(key)) * interval
	if within >= 0 && est > within {
		t.mu.Unlock()
		return nil, est - within, errTurnLate
	}
	w := &turnWaiter{ready: make(chan struct{})}
	if _, ok := t.queues[key]; !ok {
		// A new key joins the ring just before the key served next: it
		// is served last of this round.
		t.ring = insertAt(t.ring, t.next, key)
		t.next = (t.next + 1) % len(t.ring)
	}
	t.queues[key] = append(t.queues[key], w)
	t.mu.Unlock()

	var expire <-chan time.Time
	if within >= 0 {
		timer := time.NewTimer(within)
		defer timer.Stop()
		expire = timer.C
	}
	select {
	case <-w.ready:
		return t.release, 0, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-expire:
		err = errTurnLate
	}
	t.mu.Lock()
	if w.granted {
		t.mu.Unlock()
		t.release()
	} else {
		t.remove(key, w)
		t.mu.Unlock()
	}
	return nil, est, err
}

var errTurnLate = errors.New("zoom: the batch turn would come too late")

// release hands the turn to the next caller's oldest item, or frees it.
func (t *turns) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ring) == 0 {
		t.busy = false
		return
	}
	key := t.ring[t.next]
	q := t.queues[key]
	w := q[0]
	if len(q) == 1 {
		delete(t.queues, key)
		t.ring = append(t.ring[:t.next], t.ring[t.next+1:]...)
	} else {
		q[0] = nil
		t.queues[key] = q[1:]
		t.next++
	}
	if len(t.ring) > 0 {
		t.next %= len(t.ring)
	} else {
		t.next = 0
	}
	w.granted = true
	close(w.ready)
}

// remove takes a waiter that gave up out of key's queue (under mu).
func (t *turns) remove(key string, w *turnWaiter) {
	q := t.queues[key]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		t.queues[key] = q
		return
	}
	delete(t.queues, key)
	for i, k := range t.ring {
		if k != key {
			continue
		}
		t.ring = append(t.ring[:i], t.ring[i+1:]...)
		if i < t.next {
			t.next--
		}
		break
	}
	if len(t.ring) > 0 {
		t.next %= len(t.ring)
	} else {
		t.next = 0
	}
}

func insertAt(s []string, i int, v string) []string {
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
