package webhooks

import (
	"sync"
	"time"
)

// Verdict is what Dedupe says of an event.
type Verdict int

// The verdicts.
const (
	// Fresh: not seen before; the event is to be processed.
	Fresh Verdict = iota
	// Duplicate: seen already (Zoom retried, or the request was replayed);
	// answer 200 and do nothing.
	Duplicate
	// Stale: its timestamp is too far in the past or the future for this
	// server to tell whether it was seen; refuse it.
	Stale
)

func (v Verdict) String() string {
	switch v {
	case Fresh:
		return "fresh"
	case Duplicate:
		return "duplicate"
	}
	return "stale"
}

// Zoom retries a delivery that failed after 5, 20 and 60 minutes; no replay
// window is documented. The defaults below accept any retry of an event
// not seen before (its timestamp up to Horizon old) and remember every
// event admitted for Horizon, so a replay within that time is a Duplicate
// and one after it is Stale.
const (
	DefaultHorizon = 2 * time.Hour
	DefaultSkew    = 5 * time.Minute // how far in the future a timestamp may be
	DefaultMaxKeys = 200_000
)

// InWindow reports whether a request stamped at stamp is within the
// window a default Dedupe takes (DefaultHorizon old, DefaultSkew ahead).
// url_validation, which is not deduplicated, is held to it too, so that a
// signed request recorded long ago or stamped far ahead is refused alike.
func InWindow(stamp, now time.Time) bool {
	return !stamp.After(now.Add(DefaultSkew)) && !stamp.Before(now.Add(-DefaultHorizon))
}

// Dedupe admits each event once, in memory, bounded: at most MaxKeys events
// are remembered. When it is full the oldest is forgotten, and events older
// than the newest one forgotten are refused as Stale from then on (they may
// have been seen). A cluster shares one implementation of the same two
// methods (services declares the interface).
type Dedupe struct {
	now     func() time.Time
	horizon time.Duration
	skew    time.Duration
	max     int

	mu    sync.Mutex
	seen  map[string]time.Time // key → when it may be forgotten
	order []dedupeEntry        // keys in the order admitted (a queue)
	head  int
	floor time.Time // events stamped before this may have been forgotten
}

type dedupeEntry struct {
	key     string
	stamp   time.Time
	expires time.Time
}

// DedupeConfig configures a Dedupe; zero values take the defaults.
type DedupeConfig struct {
	Now     func() time.Time
	Horizon time.Duration
	Skew    time.Duration
	MaxKeys int
}

// NewDedupe returns an empty Dedupe.
func NewDedupe(cfg DedupeConfig) *Dedupe {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Dedupe{now: cfg.Now, horizon: cfg.Horizon, skew: cfg.Skew, max: cfg.MaxKeys, seen: map[string]time.Time{}}
}

// Admit decides on the event key, signed at stamp, and remembers a Fresh one.
func (d *Dedupe) Admit(key string, stamp time.Time) Verdict {
	now := d.now()
	if stamp.After(now.Add(d.skew)) || stamp.Before(now.Add(-d.horizon)) {
		return Stale
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if exp, ok := d.seen[key]; ok && exp.After(now) {
		return Duplicate
	}
	if stamp.Before(d.floor) {
		return Stale
	}
	for len(d.seen) >= d.max {
		d.evictOldest()
	}
	exp := now.Add(d.horizon)
	if s := stamp.Add(d.horizon); s.After(exp) {
		exp = s
	}
	d.seen[key] = exp
	d.order = append(d.order, dedupeEntry{key: key, stamp: stamp, expires: exp})
	return Fresh
}

// Forget drops key, so that Zoom's retry of an event that could not be
// taken in is admitted.
func (d *Dedupe) Forget(key string) {
	d.mu.Lock()
	delete(d.seen, key)
	d.mu.Unlock()
}

// Len is how many events are remembered.
func (d *Dedupe) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// expire forgets entries whose time is past, from the front of the queue.
// d.mu held.
func (d *Dedupe) expire(now time.Time) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if d.seen[e.key] == e.expires && e.expires.After(now) {
			break
		}
		if d.seen[e.key] == e.expires {
			delete(d.seen, e.key)
		}
		d.pop()
	}
}

// evictOldest forgets the oldest entry still remembered and raises the
// floor to its stamp. d.mu held.
func (d *Dedupe) evictOldest() {
	for d.head < len(d.order) {
		e := d.order[d.head]
		d.pop()
		if d.seen[e.key] == e.expires {
			delete(d.seen, e.key)
			if e.stamp.After(d.floor) {
				d.floor = e.stamp
			}
			return
		}
	}
	clear(d.seen) // cannot happen: every remembered key is in the queue
}

// pop removes the queue's head, compacting now and then. d.mu held.
func (d *Dedupe) pop() {
	d.order[d.head] = dedupeEntry{}
	d.head++
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append(d.order[:0:0], d.order[d.head:]...)
		d.head = 0
	}
}
