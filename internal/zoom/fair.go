package zoom

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Fair shares of the account's pace (ZOOM_QPS). A call is interactive (a
// person's join or start, an await's answer, a bot's callback fetch) unless
// its context says it is an item of a batch (WithBatch). Interactive calls
// book the account's next moment at once, as every call used to. Batch items
// first wait for the account's batch turn: one batch item at a time books a
// moment and sleeps until it, and the turn then goes to the next caller
// with items waiting, in turn (round robin per caller key). So at most one
// batch moment is booked ahead of now per account (per instance in a
// cluster), and an interactive call waits behind that one and other
// interactive calls only, never behind a batch's queue; and batches of
// different callers share what interactive calls leave, one item each in
// turn, whatever their number of workers or of batches.

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
