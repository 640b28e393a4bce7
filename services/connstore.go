package services

import (
	"context"
	"errors"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// availableStore is the connections store as the domain uses it: a
// database that cannot be used now (connections.ErrUnavailable) becomes
// apperr.ErrStoreUnavailable, a 503 store_unavailable with a sentence a
// caller can act on; the cause stays in the chain for logs and errors.Is.
type availableStore struct{ store.Store }

func storeErr(err error) error {
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return &apperr.Error{Kind: apperr.ErrStoreUnavailable, Op: "use the database of Zoom connections", Err: err,
		RetryAfter: 5 * time.Second,
		Message:    "The database that keeps users' Zoom connections cannot be reached; try again shortly.",
		Hint:       "Tokens minted with the account's Server-to-Server app are not affected."}
}

func (s availableStore) Get(ctx context.Context, sub string) (store.Connection, error) {
	c, err := s.Store.Get(ctx, sub)
	return c, storeErr(err)
}

func (s availableStore) List(ctx context.Context) ([]store.Connection, error) {
	l, err := s.Store.List(ctx)
	return l, storeErr(err)
}

func (s availableStore) Put(ctx context.Context, c store.Connection) (int64, error) {
	v, err := s.Store.Put(ctx, c)
	return v, storeErr(err)
}

func (s availableStore) Delete(ctx context.Context, sub string) error {
	return storeErr(s.Store.Delete(ctx, sub))
}

func (s availableStore) SwapRefresh(ctx context.Context, sub string, expect int64, sealed store.Sealed, at time.Time) (int64, error) {
	v, err := s.Store.SwapRefresh(ctx, sub, expect, sealed, at)
	return v, storeErr(err)
}

func (s availableStore) Claim(ctx context.Context, sub string, expect int64, until time.Time) (int64, error) {
	v, err := s.Store.Claim(ctx, sub, expect, until)
	return v, storeErr(err)
}

func (s availableStore) Release(ctx context.Context, sub string, claimed int64) error {
	return storeErr(s.Store.Release(ctx, sub, claimed))
}

func (s availableStore) FindByUser(ctx context.Context, key string) (store.Connection, error) {
	c, err := s.Store.FindByUser(ctx, key)
	return c, storeErr(err)
}

func (s availableStore) MarkDisconnected(ctx context.Context, sub string, expect int64, reason string, at time.Time) (int64, error) {
	v, err := s.Store.MarkDisconnected(ctx, sub, expect, reason, at)
	return v, storeErr(err)
}
