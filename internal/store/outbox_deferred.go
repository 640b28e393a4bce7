package store

import (
	"context"
	"sync/atomic"
	"time"
)

var _ Outbox = (*Deferred)(nil)

// outbox is the store's outbox, once Set has given a store that keeps one.
func (d *Deferred) outbox(op string) (Outbox, error) {
	s, err := d.store(op)
	if err != nil {
		return nil, err
	}
	o, ok := s.(Outbox)
	if !ok {
		return nil, ErrUnsupportedDatabase
	}
	return o, nil
}

// ClaimEvents implements Outbox.
func (d *Deferred) ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]Event, error) {
	o, err := d.outbox("claim events")
	if err != nil {
		return nil, err
	}
	return o.ClaimEvents(ctx, now, until, n)
}

// RecordEvent implements Outbox.
func (d *Deferred) RecordEvent(ctx context.Context, e Event) error {
	o, err := d.outbox("record event")
	if err != nil {
		return err
	}
	return o.RecordEvent(ctx, e)
}

// DeleteEvent implements Outbox.
func (d *Deferred) DeleteEvent(ctx context.Context, id string) error {
	o, err := d.outbox("delete event")
	if err != nil {
		return err
	}
	return o.DeleteEvent(ctx, id)
}

// RetryEvent implements Outbox.
func (d *Deferred) RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error {
	o, err := d.outbox("retry event")
	if err != nil {
		return err
	}
	return o.RetryEvent(ctx, id, attempts, next)
}

// PendingEvents implements Outbox.
func (d *Deferred) PendingEvents(ctx context.Context) (int, error) {
	o, err := d.outbox("count events")
	if err != nil {
		return 0, err
	}
	return o.PendingEvents(ctx)
}

// DroppedEvents implements Outbox.
func (d *Deferred) DroppedEvents() int64 {
	o, err := d.outbox("count dropped events")
	if err != nil {
		return 0
	}
	return o.DroppedEvents()
}

// SetMaxEvents implements Outbox: for the store in use, and kept for the
// one Set gives.
func (d *Deferred) SetMaxEvents(n int) {
	d.maxEvents.Store(int64(n))
	if o, err := d.outbox("set the outbox's cap"); err == nil {
		o.SetMaxEvents(n)
	}
}

// passCap gives s the cap set before it came.
func (d *Deferred) passCap(s Store) {
	if o, ok := s.(Outbox); ok && d.maxEvents.Load() != 0 {
		o.SetMaxEvents(int(d.maxEvents.Load()))
	}
}

// deferredBounds is the cap a Deferred passes on.
type deferredBounds struct{ maxEvents atomic.Int64 }
