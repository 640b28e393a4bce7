package gate

import (
	"context"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/zoomtoken/tokenserver/internal/redis"
)

// RedisLimiter is the per-caller limit (CALLER_RPS, CALLER_BURST) shared by the
// instances of a cluster: one GCRA limiter in Redis per caller key, the
// quota's (redis_rate, on Redis's clock), with the same rate and burst as
// the local token bucket. A key lives only while its caller's budget is not
// full again, so an idle caller costs Redis nothing. While Redis is
// degraded each instance limits its callers alone (the local limiter, the
// whole rate and burst each); it goes back to Redis by itself. RedisLimiter is a
// routes.CallerLimiter and a realtime.CallerLimiter.
type RedisLimiter struct {
	redis *redis.Redis
	gcra  *redis_rate.Limiter
	limit redis_rate.Limit
	local Limiter
}

// NewRedisLimiter allows each caller rps requests per second in bursts of burst
// across the instances that share r; local answers while Redis is degraded.
func NewRedisLimiter(r *redis.Redis, rps float64, burst int, local Limiter) *RedisLimiter {
	return &RedisLimiter{redis: r, gcra: redis_rate.NewLimiter(r.Client()), limit: perSecond(rps, max(1, burst)), local: local}
}

// perSecond is rate calls per second, in bursts of burst, as redis_rate's
// whole number of calls per period (a thousandth of a call per second is
// the finest rate it can say).
func perSecond(rate float64, burst int) redis_rate.Limit {
	return redis_rate.Limit{Rate: max(1, int(math.Round(rate*1000))), Burst: burst, Period: 1000 * time.Second}
}

func callerKey(key string) string { return "tokenserver:caller:" + key }

// Allow takes one request from key's budget. Refused, it says how long
// until a request would be allowed, in whole seconds (a Retry-After).
func (c *RedisLimiter) Allow(key string) (bool, time.Duration) { return c.AllowN(key, 1) }

// AllowN takes n requests at once, as MemoryLimiter does.
func (c *RedisLimiter) AllowN(key string, n int) (bool, time.Duration) {
	if n > c.limit.Burst {
		return false, time.Second // more than a full budget: never, as the local limiter says
	}
	var res *redis_rate.Result
	if c.redis.Try(context.Background(), func(ctx context.Context) (err error) {
		res, err = c.gcra.AllowN(ctx, callerKey(key), c.limit, n)
		return err
	}) {
		if res.Allowed > 0 || n <= 0 {
			return true, 0
		}
		return false, time.Duration(math.Ceil(max(res.RetryAfter, time.Millisecond).Seconds())) * time.Second
	}
	return c.local.AllowN(key, n)
}
