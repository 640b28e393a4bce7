package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable: Redis cannot be used now (down, or failing), so a state
// that must be shared cannot be read or written. The caller refuses rather
// than decide alone.
var ErrUnavailable = errors.New("cluster: Redis unavailable")

// CallbackUse is what CallbackState says of one use of a callback URL.
type CallbackUse int

// The answers of CallbackState.Use (callbacks.Use, without importing it).
const (
	CallbackOK      CallbackUse = iota // go ahead
	CallbackRevoked                    // the URL was revoked
	CallbackSpent                      // a single-use URL was used already (or is being used now)
)

// CallbackState is the revocations and spent single-use marks of signed
// callback URLs, shared by the instances through Redis (the server adapts
// it to callbacks.State). Each is a key named by the URL's id only (never
// the URL or its signature) that expires when the URL does. A single use is
// SET NX, so two instances racing on one URL cannot both spend it. Redis
// down: every call answers ErrUnavailable (fail closed: a revocation that
// cannot be checked must not be ignored).
type CallbackState struct {
	redis *Redis
	now   func() time.Time
}

// NewCallbackState keeps callback URLs' state in r; now is the clock
// expiries are computed on (nil: time.Now).
func NewCallbackState(r *Redis, now func() time.Time) *CallbackState {
	if now == nil {
		now = time.Now
	}
	return &CallbackState{redis: r, now: now}
}

func revokedKey(id string) string { return "tokenserver:callback:revoked:" + id }
func spentKey(id string) string   { return "tokenserver:callback:spent:" + id }

// ttl is how long a key about a URL that expires at until lives: at least
// a second (a URL checked in its last millisecond still gets its key).
func (s *CallbackState) ttl(until time.Time) time.Duration {
	return max(until.Sub(s.now()), time.Second)
}

// revokeScript sets the revoked key unless it lives longer already
// (ARGV[1]: its life in milliseconds).
var revokeScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)

// useScript: 1 when revoked; else, for a single use (ARGV[1] = "1"), 2
// when spent, or marks it spent for ARGV[2] ms; 0: go ahead.
var useScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if ARGV[1] ~= '1' then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
return 2
`)

func (s *CallbackState) call(ctx context.Context, run func(ctx context.Context) error) error {
	if !s.redis.Up() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	if err := run(cctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller is gone: say nothing of Redis
		}
		s.redis.Failed(ctx, err)
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// Revoke refuses every later use of id, until its URL expires.
func (s *CallbackState) Revoke(ctx context.Context, id string, until time.Time) error {
	ms := strconv.FormatInt(s.ttl(until).Milliseconds(), 10)
	return s.call(ctx, func(ctx context.Context) error {
		return revokeScript.Run(ctx, s.redis.client, []string{revokedKey(id)}, ms).Err()
	})
}

// Use asks to use id once: CallbackRevoked; for a single-use URL (once),
// CallbackSpent when it was used before; else it records the use.
func (s *CallbackState) Use(ctx context.Context, id string, once bool, until time.Time) (CallbackUse, error) {
	flag := "0"
	if once {
		flag = "1"
	}
	ms := strconv.FormatInt(s.ttl(until).Milliseconds(), 10)
	var n int64
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		n, err = useScript.Run(ctx, s.redis.client, []string{revokedKey(id), spentKey(id)}, flag, ms).Int64()
		return err
	})
	if err != nil {
		return CallbackOK, err
	}
	switch n {
	case 1:
		return CallbackRevoked, nil
	case 2:
		return CallbackSpent, nil
	}
	return CallbackOK, nil
}

// Unspend gives a single-use URL back after a use that minted nothing.
// A revocation stays.
func (s *CallbackState) Unspend(ctx context.Context, id string) error {
	return s.call(ctx, func(ctx context.Context) error {
		return s.redis.client.Del(ctx, spentKey(id)).Err()
	})
}
