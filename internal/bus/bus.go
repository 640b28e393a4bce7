// Package bus carries what the domain publishes to whoever delivers it: the
// domain says "a token was minted for user U", the realtime side subscribes
// and pushes it to U's sockets. The domain never calls the realtime side.
//
// Local is the bus of one process. A bus shared by several instances (over
// Redis) implements the same two methods.
package bus

import (
	"context"
	"sync"
)

// Handler delivers one message and reports whether it reached anyone.
type Handler[M any] func(ctx context.Context, m M) (delivered bool)

// Local is an in-process bus: Publish calls every subscriber in turn, in
// the publisher's goroutine, so a publisher learns at once whether the
// message was delivered.
type Local[M any] struct {
	mu   sync.RWMutex
	subs map[int]Handler[M]
	next int
}

// NewLocal returns an empty bus.
func NewLocal[M any]() *Local[M] {
	return &Local[M]{subs: map[int]Handler[M]{}}
}

// Publish hands m to every subscriber and reports whether any delivered it.
func (b *Local[M]) Publish(ctx context.Context, m M) bool {
	b.mu.RLock()
	subs := make([]Handler[M], 0, len(b.subs))
	for _, h := range b.subs {
		subs = append(subs, h)
	}
	b.mu.RUnlock()
	delivered := false
	for _, h := range subs {
		if h(ctx, m) {
			delivered = true
		}
	}
	return delivered
}

// Subscribe adds h; the returned function removes it.
func (b *Local[M]) Subscribe(h Handler[M]) (unsubscribe func()) {
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = h
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}
