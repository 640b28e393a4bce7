package callbacks

import (
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/redis"
)

// RedisState is State shared by the instances through Redis (REDIS_URL):
// each revocation and spent single use is a key named by the URL's id only
// (never the URL or its signature) that expires when the URL does. A
// single use is SET NX, so two instances racing on one URL cannot both
// spend it. Redis down (or failing) fails closed: every call answers 503
// store_unavailable with Retry-After, since a revocation that cannot be
// checked must not be ignored.
type RedisState struct {
	redis *redis.Redis
	now   func() time.Time
}

var _ State = (*RedisState)(nil)

// NewRedisState keeps callback URLs' state in r; now is the clock expiries
// are computed on (nil: time.Now).
func NewRedisState(r *redis.Redis, now func() time.Time) *RedisState {
	if now == nil {
		now = time.Now
	}
	return &RedisState{redis: r, now: now}
}

func revokedKey(id string) string { return "tokenserver:callback:revoked:" + id }
func spentKey(id string) string   { return "tokenserver:callback:spent:" + id }

// ttl is how long a key about a URL that expires at until lives: at least
// a second (a URL checked in its last millisecond still gets its key).
func (s *RedisState) ttl(until time.Time) time.Duration {
	return max(until.Sub(s.now()), time.Second)
}

// revokeScript sets the revoked key unless it lives longer already
// (ARGV[1]: its life in milliseconds).
var revokeScript = goredis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)

// useScript: 1 when revoked; else, for a single use (ARGV[1] = "1"), 2
// when spent, or marks it spent for ARGV[2] ms; 0: go ahead.
var useScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if ARGV[1] ~= '1' then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
return 2
`)

// errRedisDown is the cause of a refusal while Redis is not in use.
var errRedisDown = errors.New("cluster: Redis unavailable")

// unavailableRetry is the Retry-After of a refusal while the shared state
// (Redis, or the database) cannot be used: Redis is probed every second,
// so a few seconds is enough to see it back.
const unavailableRetry = 5 * time.Second

// call runs f against Redis (redis.Redis.Try: within IOTimeout, and Redis
// set aside until a probe answers when f fails). It fails closed: Redis
// not in use, or failing, is 503 store_unavailable for op; the caller's
// own context ending is that context's error, which says nothing of Redis.
func (s *RedisState) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	var ferr error
	if s.redis.Try(ctx, func(ctx context.Context) error {
		ferr = f(ctx)
		return ferr
	}) {
		return nil
	}
	cause := errRedisDown
	if ferr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause = errors.Join(errRedisDown, ferr)
	}
	return &apperr.Error{Kind: apperr.ErrStoreUnavailable, Op: op, Err: cause, RetryAfter: unavailableRetry,
		Message: "The state this server's instances share (Redis) cannot be reached, so callback URLs cannot be checked or revoked now; try again in a few seconds."}
}

// Revoke implements State.
func (s *RedisState) Revoke(ctx context.Context, id string, until time.Time) error {
	ms := strconv.FormatInt(s.ttl(until).Milliseconds(), 10)
	return s.call(ctx, "revoke callback URL", func(ctx context.Context) error {
		return revokeScript.Run(ctx, s.redis.Client(), []string{revokedKey(id)}, ms).Err()
	})
}

// Use implements State.
func (s *RedisState) Use(ctx context.Context, id string, once bool, until time.Time) (Use, error) {
	flag := "0"
	if once {
		flag = "1"
	}
	ms := strconv.FormatInt(s.ttl(until).Milliseconds(), 10)
	var n int64
	err := s.call(ctx, "answer callback URL", func(ctx context.Context) error {
		var err error
		n, err = useScript.Run(ctx, s.redis.Client(), []string{revokedKey(id), spentKey(id)}, flag, ms).Int64()
		return err
	})
	switch {
	case err != nil:
		return UseOK, err
	case n == 1:
		return UseRevoked, nil
	case n == 2:
		return UseSpent, nil
	}
	return UseOK, nil
}

// Unspend implements State. A revocation stays.
func (s *RedisState) Unspend(ctx context.Context, id string) error {
	return s.call(ctx, "give back callback URL", func(ctx context.Context) error {
		return s.redis.Client().Del(ctx, spentKey(id)).Err()
	})
}
