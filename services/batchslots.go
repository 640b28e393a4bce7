package services

import (
	"context"
	"sync"
)

// BatchSlots counts the batches (batch-join, setup, distribute) each caller
// has running. LocalBatchSlots counts in this process; a cluster gives
// Meetings one that counts across its instances (package cluster), through
// WithBatchSlots.
type BatchSlots interface {
	// Acquire takes one of key's limit slots for a batch about to run and
	// returns the function that frees it (called once, when the batch
	// ends); ok is false, and release nil, when key holds limit already.
	Acquire(ctx context.Context, key string, limit int) (release func(), ok bool)
}

// LocalBatchSlots are the batch slots of one process: a count per caller.
type LocalBatchSlots struct {
	mu      sync.Mutex
	running map[string]int // batches in progress, by caller
}

// NewLocalBatchSlots returns empty slots.
func NewLocalBatchSlots() *LocalBatchSlots {
	return &LocalBatchSlots{running: map[string]int{}}
}

// Acquire implements BatchSlots.
func (s *LocalBatchSlots) Acquire(_ context.Context, key string, limit int) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[key] >= limit {
		return nil, false
	}
	s.running[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running[key]--; s.running[key] <= 0 {
				delete(s.running, key)
			}
		})
	}, true
}

// Running is how many batches key has in progress here (for tests).
func (s *LocalBatchSlots) Running(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[key]
}

// WithBatchSlots makes m count its callers' batches in slots (nil: keep
// this process's own count). Call it while wiring, before m serves.
func (m *Meetings) WithBatchSlots(slots BatchSlots) *Meetings {
	if slots != nil {
		m.slots = slots
	}
	return m
}
