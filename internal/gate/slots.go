package gate

import (
	"context"
	"sync"
)

// Slots are the batch slots of each caller (services.BatchSlots): how many
// batches it has running. MemorySlots count in this instance; RedisSlots
// across the instances of a cluster.
type Slots interface {
	// Acquire takes one of key's limit slots for a batch about to run and
	// returns the function that frees it; ok is false when key holds limit
	// already.
	Acquire(ctx context.Context, key string, limit int) (release func(), ok bool)
}

var (
	_ Slots = (*MemorySlots)(nil)
	_ Slots = (*RedisSlots)(nil)
)

// MemorySlots are the batch slots of one process: a count per caller.
type MemorySlots struct {
	mu      sync.Mutex
	running map[string]int // batches in progress, by caller
}

// NewMemorySlots returns empty slots.
func NewMemorySlots() *MemorySlots {
	return &MemorySlots{running: map[string]int{}}
}

// Acquire takes one of key's limit slots (services.BatchSlots).
func (s *MemorySlots) Acquire(_ context.Context, key string, limit int) (func(), bool) {
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
func (s *MemorySlots) Running(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[key]
}
