package testinfra

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Clock is a settable clock for leases and expiries: tests move it instead
// of sleeping.
type Clock struct{ ns atomic.Int64 }

// NewClock is a clock at the real time now.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Copy is another instance's clock, at the same time as c, moved apart
// from it from now on.
func (c *Clock) Copy() *Clock {
	d := &Clock{}
	d.ns.Store(c.ns.Load())
	return d
}

// WaitFor polls cond until it holds, failing after a generous while (for
// state that changes by itself, at a probe's pace).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Backends records what a backend observer was told (Backend(name, up)).
type Backends struct {
	mu  sync.Mutex
	Got []bool
}

// Backend records one report.
func (s *Backends) Backend(_ string, up bool) {
	s.mu.Lock()
	s.Got = append(s.Got, up)
	s.mu.Unlock()
}

// Last is the last report and how many there were.
func (s *Backends) Last() (up bool, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Got) == 0 {
		return false, 0
	}
	return s.Got[len(s.Got)-1], len(s.Got)
}

// All is every report so far, in order.
func (s *Backends) All() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.Got...)
}
