package redis

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RTMSClaims is rtms.RTMSClaims over Redis: a key per stream,
// tokenserver:rtms:<streamId>, set with NX to this instance's id for Lease
// and renewed by it. Redis down: every claim is granted (each instance
// works alone, as the webhooks' dedupe and relay then do).
type RTMSClaims struct {
	r     *Redis
	id    string
	lease time.Duration
}

// NewRTMSClaims claims for this instance (a random id) with leases of lease.
func NewRTMSClaims(r *Redis, lease time.Duration) *RTMSClaims {
	return &RTMSClaims{r: r, id: randomID(), lease: lease}
}

func rtmsKey(streamID string) string { return "tokenserver:rtms:" + streamID }

// Only the holder extends or deletes its claim.
var (
	renewClaim   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	releaseClaim = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

// Claim takes the stream's claim, or finds it is already this instance's.
func (c *RTMSClaims) Claim(streamID string) bool {
	if !c.r.Up() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
	defer cancel()
	key := rtmsKey(streamID)
	ok, err := c.r.client.SetNX(ctx, key, c.id, c.lease).Result()
	if err == nil && !ok {
		var holder string
		holder, err = c.r.client.Get(ctx, key).Result()
		ok = err == nil && holder == c.id
		if err == redis.Nil {
			err = nil // released in between: tried again at the next round
		}
	}
	if err != nil {
		c.r.Failed(context.Background(), err)
		return true
	}
	return ok
}

// Renew extends this instance's claims.
func (c *RTMSClaims) Renew(streamIDs []string) {
	if !c.r.Up() || len(streamIDs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
	defer cancel()
	pipe := c.r.client.Pipeline()
	for _, id := range streamIDs {
		renewClaim.Eval(ctx, pipe, []string{rtmsKey(id)}, c.id, c.lease.Milliseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		c.r.Failed(context.Background(), err)
	}
}

// Release gives this instance's claim up.
func (c *RTMSClaims) Release(streamID string) {
	if !c.r.Up() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
	defer cancel()
	if err := releaseClaim.Run(ctx, c.r.client, []string{rtmsKey(streamID)}, c.id).Err(); err != nil && err != redis.Nil {
		c.r.Failed(context.Background(), err)
	}
}
