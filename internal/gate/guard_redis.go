package gate

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/zoomtoken/tokenserver/internal/redis"
)

// RedisGuard is the failed-authentication guard (AUTH_FAILURES_PER_MINUTE)
// shared by the instances of a cluster: each address's failures are a
// GCRA budget in Redis (the quota's limiter, on Redis's clock) of
// perMinute failures in a burst, refilled at perMinute a minute, as the
// local guard's; its key lives until the budget is full again. A failure
// is counted in the local guard too, so that while Redis is degraded the
// instance still knows what it saw; then it answers alone, and goes back
// to Redis by itself. RedisGuard is a routes.AuthGuard and a realtime.AuthGuard.
type RedisGuard struct {
	redis *redis.Redis
	gcra  *redis_rate.Limiter
	limit redis_rate.Limit
	local Guard
}

// NewRedisGuard allows perMinute failed attempts per address per minute, in
// bursts of as many, across the instances that share r.
func NewRedisGuard(r *redis.Redis, perMinute int, local Guard) *RedisGuard {
	perMinute = max(1, perMinute)
	return &RedisGuard{redis: r, gcra: redis_rate.NewLimiter(r.Client()),
		limit: redis_rate.Limit{Rate: perMinute, Burst: perMinute, Period: time.Minute}, local: local}
}

func guardKey(key string) string { return "tokenserver:authfail:" + key }

// Allow reports whether addr may try a credential now and, if not, how long
// until it may (whole seconds, at least one). It spends nothing.
func (g *RedisGuard) Allow(addr string) (bool, time.Duration) {
	var res *redis_rate.Result
	if g.redis.Try(context.Background(), func(ctx context.Context) (err error) {
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
func (g *RedisGuard) Failed(addr string) {
	g.local.Failed(addr)
	g.redis.Try(context.Background(), func(ctx context.Context) error {
		_, err := g.gcra.AllowN(ctx, guardKey(g.local.Key(addr)), g.limit, 1)
		return err
	})
}

// Key is the unit an address is counted in, as the local guard's.
func (g *RedisGuard) Key(addr string) string { return g.local.Key(addr) }
