package main

import (
	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/services"
)

// callbackState is where callback URLs' revocations and spent single uses
// live: in a cluster, Redis (every instance agrees on them); without Redis,
// the database of DATABASE_URL when it names one; else this process's
// memory.
func (s *sharedState) callbackState() callbacks.State {
	switch {
	case s.redis != nil:
		return callbacks.NewRedisState(s.redis, nil)
	case s.marks != nil:
		return callbacks.NewStoreState(s.marks)
	}
	return callbacks.NewMemory(0, nil)
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
