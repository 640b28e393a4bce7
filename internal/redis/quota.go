package redis

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// keyPrefix starts every key this server writes in Redis.
const keyPrefix = "tokenserver:zoom:"

// Quota is the Zoom quota of each account shared by the instances of a
// cluster (zoom.SharedQuota): the pace of calls is a schedule in Redis, one
// per Zoom account, at ZOOM_QPS for all instances together: each call
// books the next free moment (the account's key holds the one after it)
// and sleeps until it, as the in-process limiter does with its
// reservations, so no moment goes unused and none comes early. Redis's
// clock decides, so the instances' clocks do not matter. A spent daily
// quota is a key that expires when the quota is back. While Redis is
// degraded, each instance paces itself at ZOOM_QPS / CLUSTER_SIZE and
// keeps the daily marks it met itself; it goes back to Redis by itself.
//
// Fair shares need nothing more here: the client books a batch item's
// moment only once its own queue gave that item the account's batch turn,
// and holds the turn until the moment, so the schedule holds at most one
// batch moment per instance ahead of now, and an interactive call, which
// books at once, finds its moment behind those few (zoom/pace.go).
type Quota struct {
	redis    *Redis
	interval time.Duration // 1 / ZOOM_QPS: the time between two calls
	now      func() time.Time

	localQPS float64
	mu       sync.Mutex
	local    map[string]*rate.Limiter // account -> its pace while Redis is degraded
	daily    *gocache.Cache           // key -> time.Time the daily quota is back (marks met or read here)
}

// paceMargin spaces the shared schedule's moments 2% wider than 1 /
// ZOOM_QPS. A call reaches Zoom some milliseconds after its moment (the
// answer from Redis, the timer, the request), and that delay differs from
// one instance to another: with moments exactly 1 / ZOOM_QPS apart, a late
// call from one second and the on-time calls of the next would make Zoom
// count one call too many in that second (a 429). The margin absorbs
// differences of up to 20 ms; it costs 2% of the pace.
const paceMargin = 1.02

// NewQuota shares qps calls per second per Zoom account among
// clusterSize instances through r.
func NewQuota(r *Redis, qps float64, clusterSize int, now func() time.Time) *Quota {
	if clusterSize < 1 {
		clusterSize = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Quota{redis: r, interval: time.Duration(float64(time.Second) * paceMargin / qps), now: now,
		localQPS: qps / float64(clusterSize), local: map[string]*rate.Limiter{},
		daily: gocache.New(gocache.NoExpiration, 10*time.Minute)}
}

func paceKey(account string) string {
	if account == "" {
		account = "-"
	}
	return keyPrefix + "pace:" + account
}

// reserveSlot books the next free moment of KEYS[1]'s schedule, in
// microseconds of Redis's clock: ARGV[1] is the interval between calls,
// ARGV[2] the longest wait the caller accepts (negative: any). It answers
// {1, wait} with the moment booked (the key then holds the moment after
// it), or {0, wait} booking nothing when the wait is longer than accepted.
// The key expires a second after its last booked moment.
var reserveSlot = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local within = tonumber(ARGV[2])
local next = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if next < now then next = now end
local wait = next - now
if within >= 0 and wait > within then
  return {0, wait}
end
-- %d: Lua's own conversion of a number keeps 14 digits, a moment has 16.
redis.call('SET', KEYS[1], string.format('%d', next + interval), 'PX', string.format('%d', math.floor((next + interval - now) / 1000) + 1000))
return {1, wait}
`)

// Reserve implements zoom.SharedQuota.
func (q *Quota) Reserve(ctx context.Context, account string, within time.Duration) (time.Duration, bool, error) {
	withinUS := int64(-1)
	if within >= 0 {
		withinUS = within.Microseconds()
	}
	var res []int64
	if q.redis.Try(ctx, func(ctx context.Context) error {
		var err error
		res, err = reserveSlot.Run(ctx, q.redis.client, []string{paceKey(account)},
			max(1, q.interval.Microseconds()), withinUS).Int64Slice()
		if err == nil && len(res) != 2 {
			err = errors.New("cluster: the pace script answered an unexpected shape")
		}
		return err
	}) {
		return time.Duration(res[1]) * time.Microsecond, res[0] == 1, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	wait, ok := q.reserveLocal(account, within)
	return wait, ok, nil
}

// reserveLocal is Reserve while Redis is degraded: this instance's share.
func (q *Quota) reserveLocal(account string, within time.Duration) (time.Duration, bool) {
	q.mu.Lock()
	l, ok := q.local[account]
	if !ok {
		l = rate.NewLimiter(rate.Limit(q.localQPS), 1)
		q.local[account] = l
	}
	q.mu.Unlock()
	r := l.Reserve()
	d := r.Delay()
	if within >= 0 && d > within {
		r.Cancel()
		return d, false
	}
	return d, true
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
