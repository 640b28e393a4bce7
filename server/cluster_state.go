package main

import (
	"context"
	"errors"
	"time"

	"github.com/zoomtoken/tokenserver/internal/store"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/services"
)

// callbackState is where callback URLs' revocations and spent single uses
// live: this process's memory, or, in a cluster, Redis (every instance
// agrees on them); without Redis, the database of DATABASE_URL when it
// names one (dbCallbackState).
func (s *sharedState) callbackState() callbacks.State {
	if s.redis == nil && s.marks != nil {
		return dbCallbackState{s.marks}
	}
	if s.redis == nil {
		return callbacks.NewMemory(0, nil)
	}
	return sharedCallbackState{redis.NewCallbackState(s.redis, nil)}
}

// sharedCallbackState is cluster.CallbackState as a callbacks.State. Redis
// unavailable fails closed: 503 store_unavailable with Retry-After, since a
// revocation that cannot be checked must not be ignored.
type sharedCallbackState struct{ s *redis.CallbackState }

// sharedStateRetry is the Retry-After of a refusal while Redis is down:
// Redis is probed every second, so a few seconds is enough to see it back.
const sharedStateRetry = 5 * time.Second

func sharedUnavailable(op string, err error) error {
	if !errors.Is(err, redis.ErrUnavailable) {
		return err
	}
	return &apperr.Error{Kind: apperr.ErrStoreUnavailable, Op: op, Err: err, RetryAfter: sharedStateRetry,
		Message: "The state this server's instances share (Redis) cannot be reached, so callback URLs cannot be checked or revoked now; try again in a few seconds."}
}

func (c sharedCallbackState) Revoke(ctx context.Context, id string, until time.Time) error {
	return sharedUnavailable("revoke callback URL", c.s.Revoke(ctx, id, until))
}

func (c sharedCallbackState) Use(ctx context.Context, id string, once bool, until time.Time) (callbacks.Use, error) {
	u, err := c.s.Use(ctx, id, once, until)
	if err != nil {
		return callbacks.UseOK, sharedUnavailable("answer callback URL", err)
	}
	switch u {
	case redis.CallbackRevoked:
		return callbacks.UseRevoked, nil
	case redis.CallbackSpent:
		return callbacks.UseSpent, nil
	}
	return callbacks.UseOK, nil
}

func (c sharedCallbackState) Unspend(ctx context.Context, id string) error {
	return sharedUnavailable("give back callback URL", c.s.Unspend(ctx, id))
}

// pendingStates is where the connect flow's pending links live: nil (this
// process's memory, services' default) alone; in a cluster, Redis, with
// this process's memory while Redis is down.
func (s *sharedState) pendingStates() services.PendingStates {
	if s.redis == nil {
		return nil
	}
	local := store.NewMemoryPending(0, store.MaxPendingPerSub, nil)
	return store.NewRedisPending(s.redis, local, store.PendingLimits{PerSub: store.MaxPendingPerSub,
		PerAddr: store.MaxPendingPerAddr, Total: store.DefaultMaxPending}, nil)
}
