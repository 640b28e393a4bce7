package services

import (
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// ProgressUpdate is how far a batch (batch-join, setup, distribute) has got:
// Done of Total distinct users answered, Failed of them without a token. It
// carries no token.
type ProgressUpdate struct {
	Meeting zoom.MeetingID
	Done    int
	Total   int
	Failed  int
}

// Final reports whether this is the batch's last update.
func (p ProgressUpdate) Final() bool { return p.Done >= p.Total }

// Outcome is one user's answer in a batch, told as soon as it is known:
// Minted when the token was minted, else Failure.
type Outcome struct {
	Minted  *Minted
	Failure *Failure
}

// Hooks let a caller follow a batch while it runs; a nil field is not
// called. The batch calls them from one goroutine, the caller's, one at a
// time and in the order users finish, before Batch, Setup or Distribute
// returns: a hook that blocks holds the batch's answer back, not Zoom's
// quota (workers never wait for it).
type Hooks struct {
	// OnResult is given each user's outcome (REST's ndjson stream).
	OnResult func(Outcome)
	// Progress is told the count after each user, and once, with Done 0,
	// before the first; wrap it in Throttle to send fewer.
	Progress func(ProgressUpdate)
}

// progressInterval is the least time between two throttled progress
// updates: at most 10 a second.
const progressInterval = 100 * time.Millisecond

// Throttle passes on to emit at most one update per progressInterval, by
// now, and always the final one (Done == Total), so the last update a
// caller sees is the batch's end. The first update passes at once. The
// returned func is safe to call from several goroutines.
func Throttle(now func() time.Time, emit func(ProgressUpdate)) func(ProgressUpdate) {
	var (
		mu   sync.Mutex
		last time.Time
		sent bool
	)
	return func(p ProgressUpdate) {
		mu.Lock()
		defer mu.Unlock()
		t := now()
		if !p.Final() && sent && t.Sub(last) < progressInterval {
			return
		}
		last, sent = t, true
		emit(p)
	}
}
