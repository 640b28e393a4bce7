package gate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/redis"
)

// The lease of a batch slot in Redis, by default: a slot whose instance
// died frees itself within DefaultLease; a running batch renews its lease
// every third of it.
const DefaultLease = 30 * time.Second

// RedisSlots are the callers' batch slots (services.BatchSlots) shared by the
// instances of a cluster: per caller, a sorted set in Redis whose members
// are the running batches, each scored by the end of its lease. A slot is
// taken in one Lua script that first drops the expired leases, renewed
// while its batch runs, and removed when it ends; the slot of an instance
// that died expires with its lease. Leases are scored on the instances'
// clocks (keep them in sync, NTP), and the set expires by itself once no
// lease in it can be alive. While Redis is degraded each instance counts
// its own batches (the local slots); it goes back to Redis by itself, and a
// slot taken in Redis whose release cannot reach Redis expires with its
// lease.
type RedisSlots struct {
	redis *redis.Redis
	local Slots
	lease time.Duration
	renew time.Duration
	now   func() time.Time
}

// RedisSlotsConfig tunes RedisSlots; the zero value is the default.
type RedisSlotsConfig struct {
	Lease time.Duration    // how long a slot outlives its last renewal; DefaultLease
	Renew time.Duration    // how often a running batch renews its lease; Lease / 3
	Now   func() time.Time // the clock leases are scored on; time.Now
}

// NewRedisSlots shares the callers' batch slots among the instances that share
// r; local answers while Redis is degraded.
func NewRedisSlots(r *redis.Redis, local Slots, cfg RedisSlotsConfig) *RedisSlots {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RedisSlots{redis: r, local: local, lease: cfg.Lease, renew: cfg.Renew, now: cfg.Now}
}

func slotsKey(key string) string { return "tokenserver:batches:" + key }

// acquireSlot takes a slot when fewer than limit leases are alive.
// KEYS[1]: the caller's set. ARGV: now (ms), the lease (ms), limit, the
// batch's id. The set lives two leases past its last change.
var acquireSlot = goredis.NewScript(`
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + lease, ARGV[4])
redis.call("PEXPIRE", KEYS[1], 2 * lease)
return 1
`)

// renewSlot moves a batch's lease end to ARGV[1] (ms), putting the batch
// back if the set lost it (a Redis that restarted empty): it still runs.
// ARGV[2]: the lease (ms); ARGV[3]: the batch's id.
var renewSlot = goredis.NewScript(`
redis.call("ZADD", KEYS[1], tonumber(ARGV[1]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], 2 * tonumber(ARGV[2]))
return 1
`)

// Acquire implements services.BatchSlots.
func (s *RedisSlots) Acquire(ctx context.Context, key string, limit int) (func(), bool) {
	id := batchID()
	k := slotsKey(key)
	var taken int
	if !s.redis.Try(ctx, func(ctx context.Context) (err error) {
		taken, err = acquireSlot.Run(ctx, s.redis.Client(), []string{k},
			s.now().UnixMilli(), s.lease.Milliseconds(), limit, id).Int()
		return err
	}) {
		return s.local.Acquire(ctx, key, limit)
	}
	if taken == 0 {
		return nil, false
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go s.keep(k, id, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			s.redis.Try(context.Background(), func(ctx context.Context) error {
				return s.redis.Client().ZRem(ctx, k, id).Err()
			})
		})
	}, true
}

// keep renews the lease of batch id in set k until stop is closed.
func (s *RedisSlots) keep(k, id string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.renew)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.redis.Try(context.Background(), func(ctx context.Context) error {
				return renewSlot.Run(ctx, s.redis.Client(), []string{k},
					s.now().Add(s.lease).UnixMilli(), s.lease.Milliseconds(), id).Err()
			})
		}
	}
}

// batchID names a batch uniquely across the instances.
func batchID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
