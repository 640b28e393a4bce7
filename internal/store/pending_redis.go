package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/redis"
)

// PendingLimits bounds the pending links (services.PendingStates says why
// each): PerSub per sub, a new one retiring the sub's oldest; PerAddr per
// client address, beyond which Put refuses; Total in all, a new one
// retiring the oldest of all.
type PendingLimits struct {
	PerSub, PerAddr, Total int
}

// RedisPending is the pending links of users' OAuth connect flow shared by
// the instances through Redis (a services.PendingStates, as MemoryPending is), so that Zoom's
// redirect may land on any instance. Each state is one key, named by the
// state's SHA-256 (the state itself is not written), holding the sub, the
// PKCE verifier as the caller sealed it (never in the clear), the hash of
// the client address and the expiry, living as long as the state; taking
// it is GETDEL, so a state is used once across the cluster. Each sub's
// states, each address's and all of them are sorted sets ranked by expiry,
// oldest first, checked and changed in one script: a new state beyond
// PerSub retires the sub's oldest, one beyond PerAddr is refused, one
// beyond Total retires the oldest of all.
//
// Redis down: states are kept and taken in local (this instance's memory,
// with the same limits). A link made then works only if Zoom's redirect
// comes back to this instance (a sticky load balancer usually does); one
// made while Redis was up is not found until Redis answers again.
type RedisPending struct {
	redis  *redis.Redis
	local  PendingLinks
	limits PendingLimits
	now    func() time.Time
}

// NewRedisPending keeps pending states in r within limits (each at least
// 1), and in local while r is down; now is the clock expiries are
// computed on (nil: time.Now).
func NewRedisPending(r *redis.Redis, local PendingLinks, limits PendingLimits, now func() time.Time) *RedisPending {
	if now == nil {
		now = time.Now
	}
	limits.PerSub, limits.PerAddr, limits.Total = max(limits.PerSub, 1), max(limits.PerAddr, 1), max(limits.Total, 1)
	return &RedisPending{redis: r, local: local, limits: limits, now: now}
}

// hashed names a value in a key without writing it.
func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const oauthAllKey = "tokenserver:oauth:all"

func oauthStateKey(state string) string   { return "tokenserver:oauth:state:" + hashed(state) }
func oauthSubKey(sub string) string       { return "tokenserver:oauth:sub:" + hashed(sub) }
func oauthAddrKey(addrHash string) string { return "tokenserver:oauth:addr:" + addrHash }

// heldState is a state's value in Redis.
type heldState struct {
	Sub      string `json:"sub"`
	Addr     string `json:"addr,omitempty"` // hashed; "" when unknown
	Verifier []byte `json:"verifier"`       // sealed by the caller
	Expires  int64  `json:"exp"`            // Unix milliseconds
}

// putScript: KEYS[1] the state's key, KEYS[2] its sub's set, KEYS[3] its
// address's set, KEYS[4] the set of all; ARGV[1] the value, ARGV[2] its
// life in ms, ARGV[3] now (ms), ARGV[4] its expiry (ms, its rank),
// ARGV[5] the cap per sub, ARGV[6] the cap per address (0: the address is
// unknown), ARGV[7] the cap of all. The sets rank states by expiry; ones
// expired or gone (taken, retired) are dropped from the sub's and the
// address's. It answers 0 when kept, else how many ms until the address's
// oldest state expires.
var putScript = goredis.NewScript(`
local now = tonumber(ARGV[3])
local function live(set)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  for _, m in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    if redis.call('EXISTS', m) == 0 then redis.call('ZREM', set, m) end
  end
  return redis.call('ZCARD', set)
end
local perAddr = tonumber(ARGV[6])
if perAddr > 0 and live(KEYS[3]) >= perAddr then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) - now, 1)
end
local n = live(KEYS[2])
while n >= tonumber(ARGV[5]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  redis.call('DEL', oldest[1])
  redis.call('ZREM', KEYS[4], oldest[1])
  n = n - 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local all = redis.call('ZCARD', KEYS[4])
while all >= tonumber(ARGV[7]) do
  local oldest = redis.call('ZPOPMIN', KEYS[4])
  redis.call('DEL', oldest[1])
  all = all - 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for _, set in ipairs({KEYS[2], KEYS[4]}) do
  redis.call('ZADD', set, ARGV[4], KEYS[1])
  redis.call('PEXPIRE', set, ARGV[2])
end
if perAddr > 0 then
  redis.call('ZADD', KEYS[3], ARGV[4], KEYS[1])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return 0
`)

// Put keeps state for sub, asked from addr, until expires
// (services.PendingStates); refused > 0 when addr holds its cap.
func (o *RedisPending) Put(ctx context.Context, state, sub, addr string, sealedVerifier []byte, expires time.Time) (time.Duration, error) {
	if !o.redis.Up() {
		return o.local.Put(ctx, state, sub, addr, sealedVerifier, expires)
	}
	now := o.now()
	life := expires.Sub(now)
	if life <= 0 {
		return 0, nil // dead on arrival: nothing to keep
	}
	h := heldState{Sub: sub, Verifier: sealedVerifier, Expires: expires.UnixMilli()}
	perAddr := 0
	if addr != "" {
		h.Addr, perAddr = hashed(addr), o.limits.PerAddr
	}
	v, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, redis.IOTimeout)
	defer cancel()
	wait, err := putScript.Run(cctx, o.redis.Client(),
		[]string{oauthStateKey(state), oauthSubKey(sub), oauthAddrKey(h.Addr), oauthAllKey},
		v, strconv.FormatInt(max(life.Milliseconds(), 1), 10), strconv.FormatInt(now.UnixMilli(), 10),
		strconv.FormatInt(expires.UnixMilli(), 10), o.limits.PerSub, perAddr, o.limits.Total).Int64()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		o.redis.Failed(ctx, err)
		return o.local.Put(ctx, state, sub, addr, sealedVerifier, expires)
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// Take removes state and answers what it held (services.PendingStates):
// from Redis (GETDEL: once across the cluster), else from local, where
// states made while Redis was down are.
func (o *RedisPending) Take(ctx context.Context, state string) (string, []byte, bool) {
	if state == "" {
		return "", nil, false
	}
	if o.redis.Up() {
		cctx, cancel := context.WithTimeout(ctx, redis.IOTimeout)
		raw, err := o.redis.Client().GetDel(cctx, oauthStateKey(state)).Bytes()
		cancel()
		switch {
		case err == nil:
			var h heldState
			if json.Unmarshal(raw, &h) != nil || h.Sub == "" || !o.now().Before(time.UnixMilli(h.Expires)) {
				return "", nil, false
			}
			o.forget(ctx, h, state)
			return h.Sub, h.Verifier, true
		case errors.Is(err, goredis.Nil):
		case ctx.Err() != nil:
			return "", nil, false
		default:
			o.redis.Failed(ctx, err)
		}
	}
	return o.local.Take(ctx, state)
}

// forget drops a taken state from its sub's, its address's and the
// cluster's sets (best effort: Put drops states that are gone anyway).
func (o *RedisPending) forget(ctx context.Context, h heldState, state string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redis.IOTimeout)
	defer cancel()
	key := oauthStateKey(state)
	_, err := o.redis.Client().Pipelined(cctx, func(p goredis.Pipeliner) error {
		p.ZRem(cctx, oauthSubKey(h.Sub), key)
		p.ZRem(cctx, oauthAllKey, key)
		if h.Addr != "" {
			p.ZRem(cctx, oauthAddrKey(h.Addr), key)
		}
		return nil
	})
	if err != nil {
		o.redis.Failed(ctx, err)
	}
}
