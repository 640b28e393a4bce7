package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// LocalStates is where OAuthStates keeps pending connect links while Redis
// cannot be used (services.MemoryStates; the same methods as
// services.PendingStates, declared here so that cluster imports no domain).
type LocalStates interface {
	Put(ctx context.Context, state, sub string, sealedVerifier []byte, expires time.Time) error
	Take(ctx context.Context, state string) (sub string, sealedVerifier []byte, ok bool)
}

// OAuthStates is the pending links of users' OAuth connect flow shared by
// the instances through Redis (a services.PendingStates), so that Zoom's
// redirect may land on any instance. Each state is one key, named by the
// state's SHA-256 (the state itself is not written), holding the sub, the
// PKCE verifier as the caller sealed it (never in the clear) and the
// expiry, living as long as the state; taking it is GETDEL, so a state is
// used once across the cluster. Each sub's states are a sorted set, oldest
// first: a new state beyond perSub retires the oldest (one script).
//
// Redis down: states are kept and taken in local (this instance's memory).
// A link made then works only if Zoom's redirect comes back to this
// instance (a sticky load balancer usually does); one made while Redis was
// up is not found until Redis answers again.
type OAuthStates struct {
	redis  *Redis
	local  LocalStates
	perSub int
	now    func() time.Time
}

// NewOAuthStates keeps pending states in r, at most perSub per sub (at
// least 1), and in local while r is down; now is the clock expiries are
// computed on (nil: time.Now).
func NewOAuthStates(r *Redis, local LocalStates, perSub int, now func() time.Time) *OAuthStates {
	if now == nil {
		now = time.Now
	}
	return &OAuthStates{redis: r, local: local, perSub: max(perSub, 1), now: now}
}

// hashed names a value in a key without writing it.
func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func oauthStateKey(state string) string { return "tokenserver:oauth:state:" + hashed(state) }
func oauthSubKey(sub string) string     { return "tokenserver:oauth:sub:" + hashed(sub) }

// heldState is a state's value in Redis.
type heldState struct {
	Sub      string `json:"sub"`
	Verifier []byte `json:"verifier"` // sealed by the caller
	Expires  int64  `json:"exp"`      // Unix milliseconds
}

// putScript: KEYS[1] the state's key, KEYS[2] its sub's set; ARGV[1] the
// value, ARGV[2] its life in ms, ARGV[3] its rank (now, ms), ARGV[4] the
// cap per sub. States of the set that are gone (taken, expired) are
// dropped; while the set is full its oldest is retired, key and all.
var putScript = redis.NewScript(`
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', m) == 0 then redis.call('ZREM', KEYS[2], m) end
end
local n = redis.call('ZCARD', KEYS[2])
while n >= tonumber(ARGV[4]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  redis.call('DEL', oldest[1])
  n = n - 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return n + 1
`)

// Put keeps state for sub until expires (services.PendingStates).
func (o *OAuthStates) Put(ctx context.Context, state, sub string, sealedVerifier []byte, expires time.Time) error {
	if !o.redis.Up() {
		return o.local.Put(ctx, state, sub, sealedVerifier, expires)
	}
	now := o.now()
	life := expires.Sub(now)
	if life <= 0 {
		return nil // dead on arrival: nothing to keep
	}
	v, err := json.Marshal(heldState{Sub: sub, Verifier: sealedVerifier, Expires: expires.UnixMilli()})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	err = putScript.Run(cctx, o.redis.client, []string{oauthStateKey(state), oauthSubKey(sub)},
		v, strconv.FormatInt(max(life.Milliseconds(), 1), 10), strconv.FormatInt(now.UnixMilli(), 10), o.perSub).Err()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.redis.Failed(ctx, err)
		return o.local.Put(ctx, state, sub, sealedVerifier, expires)
	}
	return nil
}

// Take removes state and answers what it held (services.PendingStates):
// from Redis (GETDEL: once across the cluster), else from local, where
// states made while Redis was down are.
func (o *OAuthStates) Take(ctx context.Context, state string) (string, []byte, bool) {
	if state == "" {
		return "", nil, false
	}
	if o.redis.Up() {
		cctx, cancel := context.WithTimeout(ctx, ioTimeout)
		raw, err := o.redis.client.GetDel(cctx, oauthStateKey(state)).Bytes()
		cancel()
		switch {
		case err == nil:
			var h heldState
			if json.Unmarshal(raw, &h) != nil || h.Sub == "" || !o.now().Before(time.UnixMilli(h.Expires)) {
				return "", nil, false
			}
			o.forget(ctx, h.Sub, state)
			return h.Sub, h.Verifier, true
		case errors.Is(err, redis.Nil):
		case ctx.Err() != nil:
			return "", nil, false
		default:
			o.redis.Failed(ctx, err)
		}
	}
	return o.local.Take(ctx, state)
}

// forget drops a taken state from its sub's set (best effort: Put drops
// states that are gone anyway).
func (o *OAuthStates) forget(ctx context.Context, sub, state string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ioTimeout)
	defer cancel()
	if err := o.redis.client.ZRem(cctx, oauthSubKey(sub), oauthStateKey(state)).Err(); err != nil {
		o.redis.Failed(ctx, err)
	}
}
