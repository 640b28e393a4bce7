package gate

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MemoryLimiter gives each caller (an API key or a JWT subject) its own
// token bucket, so no one client can spend the account's Zoom quota.
// Limiter is the per-caller limit (CALLER_RPS, CALLER_BURST), REST and
// Socket.IO together. MemoryLimiter limits in this instance; RedisLimiter
// across the instances of a cluster.
type Limiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
	AllowN(key string, n int) (ok bool, retryAfter time.Duration)
}

var (
	_ Limiter = (*MemoryLimiter)(nil)
	_ Limiter = (*RedisLimiter)(nil)
)

type MemoryLimiter struct {
	rps   rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	callers map[string]*callerBucket
	swept   time.Time
}

type callerBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleAfter is how long an unused bucket is kept; a full bucket is forgotten.
const idleAfter = 10 * time.Minute

// NewMemoryLimiter allows each caller rps requests per second, in bursts of burst.
func NewMemoryLimiter(rps float64, burst int, now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{rps: rate.Limit(rps), burst: max(1, burst), now: now, callers: map[string]*callerBucket{}, swept: now()}
}

// Allow takes one request from key's bucket. When it is empty it returns
// false and how long until a request would be allowed.
func (l *MemoryLimiter) Allow(key string) (bool, time.Duration) {
	return l.AllowN(key, 1)
}

// AllowN takes n requests at once.
func (l *MemoryLimiter) AllowN(key string, n int) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for k, b := range l.callers {
			if now.Sub(b.seen) > idleAfter {
				delete(l.callers, k)
			}
		}
		l.swept = now
	}
	b := l.callers[key]
	if b == nil {
		b = &callerBucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.callers[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, n)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, time.Duration(math.Ceil(d.Seconds())) * time.Second
	}
	return true, 0
}

// Callers is how many callers are tracked (for tests and metrics).
func (l *MemoryLimiter) Callers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.callers)
}
