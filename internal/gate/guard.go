package gate

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// MemoryGuard throttles failed authentication by client address, so that
// credentials cannot be guessed: each address may fail Burst times, then
// earns one more try every Every. A success does not reset the count, so a
// caller holding one valid credential cannot interleave guesses at others.
// Guard is the failed-authentication guard (AUTH_FAILURES_PER_MINUTE): how
// many bad credentials a client address may present. Key is the unit it
// counts an address in (an IPv4 address, an IPv6 /64). MemoryGuard counts
// in this instance; RedisGuard across the instances of a cluster.
type Guard interface {
	Allow(addr string) (ok bool, retryAfter time.Duration)
	Failed(addr string)
	Key(addr string) string
}

var (
	_ Guard = (*MemoryGuard)(nil)
	_ Guard = (*RedisGuard)(nil)
)

type MemoryGuard struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu    sync.Mutex
	addrs map[string]*guardEntry
	swept time.Time
}

type guardEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// DefaultAuthFailuresPerMinute is how many failed attempts an address may
// make in a minute (and in a burst) by default.
const DefaultAuthFailuresPerMinute = 10

// NewMemoryGuard allows perMinute failed attempts per address per minute, in
// bursts of as many.
func NewMemoryGuard(perMinute int, now func() time.Time) *MemoryGuard {
	if perMinute < 1 {
		perMinute = DefaultAuthFailuresPerMinute
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryGuard{every: time.Minute / time.Duration(perMinute), burst: perMinute, now: now,
		addrs: map[string]*guardEntry{}, swept: now()}
}

// Allow reports whether addr may try a credential now and, if not, how long
// until it may.
func (g *MemoryGuard) Allow(addr string) (bool, time.Duration) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addrKey(addr)]
	if e == nil {
		return true, 0
	}
	if e.lim.TokensAt(now) >= 1 {
		return true, 0
	}
	r := e.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, max(wait, time.Second).Round(time.Second)
}

// Failed counts a refused credential against addr.
func (g *MemoryGuard) Failed(addr string) {
	now := g.now()
	key := addrKey(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	e := g.addrs[key]
	if e == nil {
		e = &guardEntry{lim: rate.NewLimiter(rate.Every(g.every), g.burst)}
		g.addrs[key] = e
	}
	e.seen = now
	e.lim.AllowN(now, 1)
}

// sweep forgets addresses whose budget has refilled, so the map stays as
// small as the set of recent offenders.
func (g *MemoryGuard) sweep(now time.Time) {
	full := g.every * time.Duration(g.burst)
	if now.Sub(g.swept) < full {
		return
	}
	for k, e := range g.addrs {
		if now.Sub(e.seen) > full {
			delete(g.addrs, k)
		}
	}
	g.swept = now
}

// TooManyFailures is the error for an address refused by the guard.
func TooManyFailures(wait time.Duration) error {
	return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "authenticate", RetryAfter: wait,
		Message: "Too many failed authentication attempts from your address; wait for Retry-After seconds, then send a valid credential."}
}

// Tracked is how many addresses have failures on record.
func (g *MemoryGuard) Tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.addrs)
}

// AddrKey is the unit an address is counted in: an IPv4 address, or the /64
// of an IPv6 address (one host commonly holds a whole /64). A port is
// dropped. The guard counts failures by it, and Socket.IO the connections
// that have not authenticated yet.
func AddrKey(addr string) string { return addrKey(addr) }

func addrKey(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Key is the unit addr is counted in (an IPv4 address, an IPv6 /64): what
// a guard shared by the instances of a cluster counts by too.
func (g *MemoryGuard) Key(addr string) string { return addrKey(addr) }
