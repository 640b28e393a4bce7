package redis

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// LocalGuard is this instance's own failed-authentication guard
// (services.AuthGuard is one): Key is the unit it counts an address in
// (an IPv4 address, an IPv6 /64).
type LocalGuard interface {
	Allow(addr string) (ok bool, retryAfter time.Duration)
	Failed(addr string)
	Key(addr string) string
}

// Guard is the failed-authentication guard (AUTH_FAILURES_PER_MINUTE)
// shared by the instances of a cluster: each address's failures are a
// GCRA budget in Redis (the quota's limiter, on Redis's clock) of
// perMinute failures in a burst, refilled at perMinute a minute, as the
// local guard's; its key lives until the budget is full again. A failure
// is counted in the local guard too, so that while Redis is degraded the
// instance still knows what it saw; then it answers alone, and goes back
// to Redis by itself. Guard is a routes.AuthGuard and a realtime.AuthGuard.
type Guard struct {
	redis *Redis
	gcra  *redis_rate.Limiter
	limit redis_rate.Limit
	local LocalGuard
}

// NewGuard allows perMinute failed attempts per address per minute, in
// bursts of as many, across the instances that share r.
func NewGuard(r *Redis, perMinute int, local LocalGuard) *Guard {
	perMinute = max(1, perMinute)
	return &Guard{redis: r, gcra: redis_rate.NewLimiter(r.client),
		limit: redis_rate.Limit{Rate: perMinute, Burst: perMinute, Period: time.Minute}, local: local}
}

func guardKey(key string) string { return "tokenserver:authfail:" + key }

// Allow reports whether addr may try a credential now and, if not, how long
// until it may (whole seconds, at least one). It spends nothing.
func (g *Guard) Allow(addr string) (bool, time.Duration) {
	var res *redis_rate.Result
	if g.redis.try(context.Background(), func(ctx context.Context) (err error) {
		// A cost of 0 reads the budget: Remaining is the whole failures left.
		res, err = g.gcra.AllowN(ctx, guardKey(g.local.Key(addr)), g.limit, 0)
		return err
	}) {
		if res.Remaining >= 1 {
			return true, 0
		}
		// One failure is back once the budget's theoretical arrival time is
		// no more than burst-1 intervals ahead.
		every := g.limit.Period / time.Duration(g.limit.Rate)
		wait := res.ResetAfter - time.Duration(g.limit.Burst-1)*every
		return false, max(wait, time.Second).Round(time.Second)
	}
	return g.local.Allow(addr)
}

// Failed counts a refused credential against addr, in Redis and here.
func (g *Guard) Failed(addr string) {
	g.local.Failed(addr)
	g.redis.try(context.Background(), func(ctx context.Context) error {
		_, err := g.gcra.AllowN(ctx, guardKey(g.local.Key(addr)), g.limit, 1)
		return err
	})
}
