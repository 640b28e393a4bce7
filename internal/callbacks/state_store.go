package callbacks

import (
	"context"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// Marks is what StoreState needs of a database: expiring marks, as
// store.Marks keeps them beside users' connections (SQLite, PostgreSQL).
type Marks interface {
	PutMark(ctx context.Context, kind store.MarkKind, key string, until time.Time) error
	AddMark(ctx context.Context, kind store.MarkKind, key string, until time.Time) (bool, error)
	HasMark(ctx context.Context, kind store.MarkKind, key string) (bool, error)
	DropMark(ctx context.Context, kind store.MarkKind, key string) error
}

var _ Marks = store.Marks(nil)

// StoreState is State in the database of DATABASE_URL, for a server
// without Redis: a revocation is a store.MarkRevoked mark and a spent
// single use a store.MarkSpent one, keyed by the URL's id only and kept
// until the URL expires, so that a restart (or another instance on the
// same database) honours them. A single use is AddMark, which one caller
// only wins. A database that fails fails closed (503 store_unavailable),
// as Redis down does: a revocation that cannot be checked is not ignored.
type StoreState struct{ marks Marks }

var _ State = (*StoreState)(nil)

// NewStoreState keeps callback URLs' state in m's marks.
func NewStoreState(m Marks) *StoreState { return &StoreState{marks: m} }

func storeUnavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return &apperr.Error{Kind: apperr.ErrStoreUnavailable, Op: op, Err: err, RetryAfter: unavailableRetry,
		Message: "The database (DATABASE_URL) that keeps callback URLs' revocations and single uses cannot be used now, so callback URLs cannot be checked or revoked; try again in a few seconds."}
}

// Revoke implements State.
func (s *StoreState) Revoke(ctx context.Context, id string, until time.Time) error {
	return storeUnavailable("revoke callback URL", s.marks.PutMark(ctx, store.MarkRevoked, id, until))
}

// Use implements State.
func (s *StoreState) Use(ctx context.Context, id string, once bool, until time.Time) (Use, error) {
	const op = "answer callback URL"
	revoked, err := s.marks.HasMark(ctx, store.MarkRevoked, id)
	switch {
	case err != nil:
		return UseOK, storeUnavailable(op, err)
	case revoked:
		return UseRevoked, nil
	case !once:
		return UseOK, nil
	}
	added, err := s.marks.AddMark(ctx, store.MarkSpent, id, until)
	switch {
	case err != nil:
		return UseOK, storeUnavailable(op, err)
	case !added:
		return UseSpent, nil
	}
	return UseOK, nil
}

// Unspend implements State. A revocation stays.
func (s *StoreState) Unspend(ctx context.Context, id string) error {
	return storeUnavailable("give back callback URL", s.marks.DropMark(ctx, store.MarkSpent, id))
}
