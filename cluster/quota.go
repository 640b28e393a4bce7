package cluster

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	gocache "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// keyPrefix starts every key this server writes in Redis.
const keyPrefix = "tokenserver:zoom:"

// Quota is the Zoom quota of each account shared by the instances of a
// cluster (zoom.SharedQuota): the pace of calls is a GCRA limiter in Redis
// (redis_rate; Redis's clock, so the instances' clocks do not matter), one
// per Zoom account, at ZOOM_QPS for all instances together; a spent daily
// quota is a key that expires when the quota is back. While Redis is
// degraded, each instance paces itself at ZOOM_QPS / CLUSTER_SIZE and
// keeps the daily marks it met itself; it goes back to Redis by itself.
type Quota struct {
	redis *Redis
	gcra  *redis_rate.Limiter
	limit redis_rate.Limit
	now   func() time.Time

	localQPS float64
	mu       sync.Mutex
	local    map[string]*rate.Limiter // account -> its pace while Redis is degraded
	daily    *gocache.Cache           // key -> time.Time the daily quota is back (marks met or read here)
}

// NewQuota shares qps calls per second per Zoom account among
// clusterSize instances through r.
func NewQuota(r *Redis, qps float64, clusterSize int, now func() time.Time) *Quota {
	if clusterSize < 1 {
		clusterSize = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Quota{redis: r, gcra: redis_rate.NewLimiter(r.client), limit: gcraLimit(qps), now: now,
		localQPS: qps / float64(clusterSize), local: map[string]*rate.Limiter{},
		daily: gocache.New(gocache.NoExpiration, 10*time.Minute)}
}

// gcraLimit is qps as redis_rate's whole number of calls per period: one
// call every 1/qps seconds, no burst (as the local limiter).
func gcraLimit(qps float64) redis_rate.Limit { return perSecond(qps, 1) }

func paceKey(account string) string {
	if account == "" {
		account = "-"
	}
	return keyPrefix + "pace:" + account
}

// Take implements zoom.SharedQuota.
func (q *Quota) Take(ctx context.Context, account string) (time.Duration, error) {
	if q.redis.Up() {
		res, err := q.gcra.Allow(ctx, paceKey(account), q.limit)
		if err == nil {
			if res.Allowed > 0 {
				return 0, nil
			}
			return max(res.RetryAfter, time.Millisecond), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		q.redis.Failed(ctx, err)
	}
	return q.takeLocal(account), nil
}

// takeLocal is Take while Redis is degraded: this instance's share.
func (q *Quota) takeLocal(account string) time.Duration {
	q.mu.Lock()
	l, ok := q.local[account]
	if !ok {
		l = rate.NewLimiter(rate.Limit(q.localQPS), 1)
		q.local[account] = l
	}
	q.mu.Unlock()
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return d
	}
	return 0
}

func dailyKey(key string) string { return keyPrefix + "daily:" + key }

// DailyUntil implements zoom.SharedQuota.
func (q *Quota) DailyUntil(ctx context.Context, key string) time.Time {
	if v, ok := q.daily.Get(key); ok {
		if until := v.(time.Time); until.After(q.now()) {
			return until
		}
	}
	if !q.redis.Up() {
		return time.Time{}
	}
	s, err := q.redis.client.Get(ctx, dailyKey(key)).Result()
	if err != nil {
		q.redis.Failed(ctx, err)
		return time.Time{}
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	until := time.Unix(0, ns)
	q.remember(key, until)
	return until
}

// MarkDaily implements zoom.SharedQuota.
func (q *Quota) MarkDaily(ctx context.Context, key string, until time.Time) {
	q.remember(key, until)
	if !q.redis.Up() {
		return
	}
	// The key lives a minute past the quota's return, as the local mark does.
	err := q.redis.client.SetArgs(ctx, dailyKey(key), strconv.FormatInt(until.UnixNano(), 10),
		redis.SetArgs{ExpireAt: until.Add(time.Minute)}).Err()
	q.redis.Failed(ctx, err)
}

func (q *Quota) remember(key string, until time.Time) {
	if d := until.Sub(q.now()); d > 0 {
		q.daily.Set(key, until, d+time.Minute)
	}
}
