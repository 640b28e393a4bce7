package services

import "context"

// BatchSlots counts the batches (batch-join, setup, distribute) each caller
// has running: gate.LocalSlots in one process, gate.RedisSlots across the
// instances of a cluster, given to Meetings through WithBatchSlots.
type BatchSlots interface {
	// Acquire takes one of key's limit slots for a batch about to run and
	// returns the function that frees it (called once, when the batch
	// ends); ok is false, and release nil, when key holds limit already.
	Acquire(ctx context.Context, key string, limit int) (release func(), ok bool)
}

// WithBatchSlots makes m count its callers' batches in slots (without
// any, a caller's batches are not counted). Call it while wiring, before m
// serves.
func (m *Meetings) WithBatchSlots(slots BatchSlots) *Meetings {
	if slots != nil {
		m.slots = slots
	}
	return m
}
