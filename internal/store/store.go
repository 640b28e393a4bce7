package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrNotFound: no connection for that sub.
	ErrNotFound = errors.New("connection not found")
	// ErrConflict: the stored version is not the one expected; someone
	// else changed the connection first. Read it again.
	ErrConflict = errors.New("connection changed concurrently")
	// ErrDisconnected: the connection is disconnected, so it has no refresh
	// token to replace.
	ErrDisconnected = errors.New("connection is disconnected")
	// ErrLeased: another refresher holds the refresh token (Claim) and its
	// lease has not run out. Wait, then read the connection again.
	ErrLeased = errors.New("refresh token claimed by another refresher")
	// ErrUnavailable: the database cannot be used now (unreachable, shutting
	// down, not answering in time); the operation may succeed later.
	ErrUnavailable = errors.New("connections database unavailable")
	// ErrUnsupportedDatabase: DATABASE_URL names a store this build lacks.
	ErrUnsupportedDatabase = errors.New("unsupported DATABASE_URL")
)

// AnyVersion, given to MarkDisconnected as the expected version, matches
// whatever version is stored.
const AnyVersion int64 = -1

// Store keeps connections by sub. Every write gives the connection a new
// Version that no earlier write of this store has used, not even for a sub
// since deleted, so a version read before a change never matches after it.
type Store interface {
	// Get returns the connection of sub, or ErrNotFound.
	Get(ctx context.Context, sub string) (Connection, error)
	// List returns every connection, ordered by sub.
	List(ctx context.Context) ([]Connection, error)
	// Put creates or replaces the connection of c.Sub (on connect or
	// reconnect) and returns its new version.
	Put(ctx context.Context, c Connection) (int64, error)
	// Delete forgets the connection of sub, or answers ErrNotFound.
	Delete(ctx context.Context, sub string) error
	// SwapRefresh stores a new sealed refresh token for sub only if the
	// stored version is expectVersion and the connection is connected, clears
	// any lease, and returns the new version. Otherwise: ErrConflict, ErrDisconnected or
	// ErrNotFound, and nothing changes.
	SwapRefresh(ctx context.Context, sub string, expectVersion int64, sealed Sealed, refreshedAt time.Time) (int64, error)
	// Claim leases the refresh token of sub to the caller until until, so
	// that no other refresher, in this process or another sharing the store,
	// spends it meanwhile. It succeeds only if the stored version is
	// expectVersion, the connection is connected and no unexpired lease is
	// held; it returns the new version, the one to give SwapRefresh or
	// Release. Otherwise: ErrLeased, ErrConflict, ErrDisconnected or
	// ErrNotFound, and nothing changes. A lease that runs out is free to
	// claim again, so the holder must stop trying to spend the token before
	// until.
	Claim(ctx context.Context, sub string, expectVersion int64, until time.Time) (int64, error)
	// Release gives up a lease without replacing the token (the refresh
	// failed before Zoom could have spent it), if the stored version is
	// still claimedVersion; else ErrConflict or ErrNotFound.
	Release(ctx context.Context, sub string, claimedVersion int64) error
	// FindByUser returns the connection whose sub is key, else whose Zoom
	// user id is key, else (when key is an email) whose email equals key in
	// ASCII case-insensitive comparison; among several of one kind, a
	// connected one before a disconnected one, then the latest connected.
	// ErrNotFound when none matches.
	FindByUser(ctx context.Context, key string) (Connection, error)
	// MarkDisconnected records that the grant of sub died, dropping its
	// sealed token, only if the stored version is expectVersion (or
	// expectVersion is AnyVersion); else ErrConflict or ErrNotFound.
	// It returns the new version.
	MarkDisconnected(ctx context.Context, sub string, expectVersion int64, reason string, at time.Time) (int64, error)
	// Close releases the store.
	Close() error
}

// Open returns the store that databaseURL names: "memory"; "sqlite:PATH"
// for an SQLite file at PATH (created with its parent directories when
// missing); or postgres://… (postgresql://…) for a PostgreSQL database that
// several instances share. now stamps times a caller leaves unset.
func Open(ctx context.Context, databaseURL string, now func() time.Time) (Store, error) {
	if now == nil {
		now = time.Now
	}
	u := strings.TrimSpace(databaseURL)
	switch {
	case u == "memory":
		return NewMemoryStore(now), nil
	case strings.HasPrefix(u, "sqlite://"):
		return nil, fmt.Errorf("%w: write sqlite:PATH (for example sqlite:data/connections.db or sqlite:/var/lib/tokenserver/connections.db), not sqlite://", ErrUnsupportedDatabase)
	case strings.HasPrefix(u, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(u, "sqlite:"), now)
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return OpenPostgres(ctx, u, now)
	case u == "":
		return nil, fmt.Errorf("%w: empty; use memory, sqlite:PATH or postgres://…", ErrUnsupportedDatabase)
	default:
		// Only the scheme is echoed: the rest may hold a password.
		scheme, _, ok := strings.Cut(u, ":")
		if !ok || len(scheme) > 20 {
			return nil, fmt.Errorf("%w: use memory, sqlite:PATH or postgres://…", ErrUnsupportedDatabase)
		}
		return nil, fmt.Errorf("%w: scheme %q; use memory, sqlite:PATH or postgres://…", ErrUnsupportedDatabase, scheme)
	}
}

func checkSub(op, sub string) error {
	if sub == "" {
		return fmt.Errorf("%s: %w: empty sub", op, ErrInvalid)
	}
	return nil
}

func checkSealed(op string, s Sealed) error {
	if s.KeyID == "" || len(s.Ciphertext) == 0 {
		return fmt.Errorf("%s: %w: nothing sealed", op, ErrInvalid)
	}
	return nil
}

// matchRank is how c matches a FindByUser key: 0 by sub, 1 by Zoom user
// id, 2 by email (ASCII letters folded only, as Zoom compares emails, so no
// Unicode look-alike matches); -1 not at all.
func matchRank(c Connection, key string) int {
	switch {
	case c.Sub == key:
		return 0
	case c.ZoomUserID != "" && c.ZoomUserID == key:
		return 1
	case strings.Contains(key, "@") && asciiLower(c.Email) == asciiLower(key):
		return 2
	}
	return -1
}

// better orders FindByUser's matches: by rank, then connected first, then
// the latest connected, then by sub (so the answer does not depend on order).
func better(a Connection, ra int, b Connection, rb int) bool {
	if ra != rb {
		return ra < rb
	}
	if ac, bc := a.Status == StatusConnected, b.Status == StatusConnected; ac != bc {
		return ac
	}
	if !a.ConnectedAt.Equal(b.ConnectedAt) {
		return a.ConnectedAt.After(b.ConnectedAt)
	}
	return a.Sub < b.Sub
}

// asciiLower folds A-Z only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
