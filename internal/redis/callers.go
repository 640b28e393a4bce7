package redis

import (
	"context"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// LocalLimiter is this instance's own per-caller limiter
// (services.CallerLimiter is one): Callers answers with it while Redis is
// degraded.
type LocalLimiter interface {
	AllowN(key string, n int) (ok bool, retryAfter time.Duration)
}

// Callers is the per-caller limit (CALLER_RPS, CALLER_BURST) shared by the
// instances of a cluster: one GCRA limiter in Redis per caller key, the
// quota's (redis_rate, on Redis's clock), with the same rate and burst as
// the local token bucket. A key lives only while its caller's budget is not
// full again, so an idle caller costs Redis nothing. While Redis is
// degraded each instance limits its callers alone (the local limiter, the
// whole rate and burst each); it goes back to Redis by itself. Callers is a
// routes.CallerLimiter and a realtime.CallerLimiter.
type Callers struct {
	redis *Redis
	gcra  *redis_rate.Limiter
	limit redis_rate.Limit
	local LocalLimiter
}

// NewCallers allows each caller rps requests per second in bursts of burst
// across the instances that share r; local answers while Redis is degraded.
func NewCallers(r *Redis, rps float64, burst int, local LocalLimiter) *Callers {
	return &Callers{redis: r, gcra: redis_rate.NewLimiter(r.client), limit: perSecond(rps, max(1, burst)), local: local}
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
func (c *Callers) Allow(key string) (bool, time.Duration) { return c.AllowN(key, 1) }

// AllowN takes n requests at once, as services.CallerLimiter does.
func (c *Callers) AllowN(key string, n int) (bool, time.Duration) {
	if n > c.limit.Burst {
		return false, time.Second // more than a full budget: never, as the local limiter says
	}
	var res *redis_rate.Result
	if c.redis.try(context.Background(), func(ctx context.Context) (err error) {
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

// try runs f against Redis within ioTimeout when Redis is in use, and says
// whether it did. When f fails, Redis is not used until a probe answers
// (unless ctx, the caller's, ended): the caller answers from its own state
// at once, so that a Redis that is down or slow costs one call at most
// ioTimeout once.
func (r *Redis) try(ctx context.Context, f func(ctx context.Context) error) bool {
	if !r.Up() {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if err := f(cctx); err != nil {
		r.Failed(ctx, err)
		return false
	}
	return true
}
