package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgOpTimeout bounds one store operation against PostgreSQL, so that a
// database that stops answering fails a request instead of holding it.
const pgOpTimeout = 10 * time.Second

// pgConnectTimeout bounds one connection attempt when DATABASE_URL sets none.
const pgConnectTimeout = 5 * time.Second

// pgIdleInTx is the server's idle_in_transaction_session_timeout for this
// store's sessions (unless DATABASE_URL sets one): a session of an instance
// that froze or lost the network between BEGIN and COMMIT is ended by the
// server, releasing its row lock, instead of holding it until TCP keepalive
// gives up (hours). Shorter than pgOpTimeout, so a write queued behind such
// a lock is still served within its own time limit.
const pgIdleInTx = 5 * time.Second

// pgClaimLockTimeout is the lock_timeout of a Claim's row lock: a row locked
// longer than this by another session is reported as leased (the caller
// waits and reads again), not as a database that is down.
const pgClaimLockTimeout = 2 * time.Second

// pgMigrationLock is the advisory lock key that serialises migrations of
// instances starting together (any constant unique to this schema).
const pgMigrationLock = 0x7a6f6f6d636f6e6e // "zoomconn"

// pgMigrations, in order; migration i (from 0) brings the schema to version
// i+1. Append only: a shipped migration never changes.
//
// Times are unix nanoseconds (NULL: none), so they read back exactly as
// written and order correctly; a sequence gives versions that are never
// reused, not even for a sub deleted and made again. email_key is the email
// with ASCII letters folded only (as Zoom compares emails, so a Unicode
// look-alike never matches), kept beside it for FindByUser's index.
var pgMigrations = [][]string{
	{
		`CREATE SEQUENCE connections_version_seq`,
		`CREATE TABLE connections (
			sub             TEXT    NOT NULL PRIMARY KEY,
			zoom_user_id    TEXT    NOT NULL,
			email           TEXT    NOT NULL,
			email_key       TEXT    NOT NULL,
			account_id      TEXT    NOT NULL,
			status          TEXT    NOT NULL CHECK (status IN ('connected', 'disconnected')),
			reason          TEXT    NOT NULL,
			connected_at    BIGINT  NOT NULL,
			refreshed_at    BIGINT,
			disconnected_at BIGINT,
			scopes          TEXT    NOT NULL,
			refresh_key_id  TEXT    NOT NULL,
			refresh_sealed  BYTEA   NOT NULL,
			version         BIGINT  NOT NULL,
			lease_until     BIGINT  NOT NULL DEFAULT 0,
			updated_at      BIGINT  NOT NULL
		)`,
		`CREATE INDEX connections_zoom_user_id ON connections (zoom_user_id)`,
		`CREATE INDEX connections_email_key ON connections (email_key)`,
	},
	{
		// Marks (marks.go): revoked and spent callback URLs by id, webhook
		// events seen by key; until is unix nanoseconds.
		`CREATE TABLE guard_marks (
			kind  TEXT   NOT NULL,
			key   TEXT   NOT NULL,
			until BIGINT NOT NULL,
			PRIMARY KEY (kind, key)
		)`,
		`CREATE INDEX guard_marks_until ON guard_marks (until)`,
	},
	{
		// The outbox (outbox.go): events for EVENTS_URL, recorded in the
		// transaction of the change; times are unix nanoseconds.
		`CREATE TABLE events (
			seq         BIGSERIAL PRIMARY KEY,
			id          TEXT   NOT NULL UNIQUE,
			type        TEXT   NOT NULL,
			sub         TEXT   NOT NULL,
			created_at  BIGINT NOT NULL,
			data        TEXT   NOT NULL,
			attempts    INTEGER NOT NULL DEFAULT 0,
			next_at     BIGINT NOT NULL,
			lease_until BIGINT NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX events_sub ON events (sub, seq)`,
	},
}

// PostgresStore keeps connections in PostgreSQL, which every instance of a
// cluster shares. Each compare-and-swap write locks the row (SELECT … FOR
// UPDATE) for its transaction, so two instances claiming one refresh token
// at once are served one after the other and the second sees the first's
// lease: a refresh token is never sent to Zoom twice.
type PostgresStore struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	prune pruneGate // of the marks
	outboxBounds
}

// OpenPostgres connects to the PostgreSQL database that url names
// (postgres://… or postgresql://…, as libpq reads it) and brings its schema
// up to date. Errors never echo the URL, which may hold a password.
func OpenPostgres(ctx context.Context, url string, now func() time.Time) (*PostgresStore, error) {
	if now == nil {
		now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors quote the URL: say only that it is malformed.
		return nil, fmt.Errorf("%w: the postgres URL is malformed (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…)", ErrUnsupportedDatabase)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(pgIdleInTx.Milliseconds())
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", pgErr(err))
	}
	s := &PostgresStore{pool: pool, now: now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, pgErr(err))
	}
	return s, nil
}

// migrate applies, in one transaction holding an advisory lock (so that
// instances starting together take turns), the migrations the database
// lacks. An up-to-date database is left unchanged.
func (s *PostgresStore) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*pgOpTimeout)
	defer cancel()
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrationLock)); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS connections_schema (
			id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
			version INTEGER NOT NULL
		)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO connections_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT version FROM connections_schema WHERE id = 1`).Scan(&have); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if have > len(pgMigrations) {
			return fmt.Errorf("migrate: the database is at schema version %d; this build knows up to %d", have, len(pgMigrations))
		}
		for i := have; i < len(pgMigrations); i++ {
			for _, stmt := range pgMigrations[i] {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("migrate to schema version %d: %w", i+1, err)
				}
			}
		}
		if have < len(pgMigrations) {
			if _, err := tx.Exec(ctx, `UPDATE connections_schema SET version = $1 WHERE id = 1`, len(pgMigrations)); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
}

// SchemaVersion reports the schema version recorded in the database.
func (s *PostgresStore) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT version FROM connections_schema WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", pgErr(err))
	}
	return v, nil
}

const pgColumns = `sub, zoom_user_id, email, account_id, status, reason, connected_at, refreshed_at,
	disconnected_at, scopes, refresh_key_id, refresh_sealed, version, lease_until`

func pgScan(r pgx.Row) (Connection, error) {
	var (
		c                       Connection
		status, scopes, keyID   string
		connected               int64
		refreshed, disconnected *int64
		sealed                  []byte
		lease                   int64
	)
	if err := r.Scan(&c.Sub, &c.ZoomUserID, &c.Email, &c.AccountID, &status, &c.Reason,
		&connected, &refreshed, &disconnected, &scopes, &keyID, &sealed, &c.Version, &lease); err != nil {
		return Connection{}, err
	}
	c.Status = Status(status)
	c.ConnectedAt, c.RefreshedAt, c.DisconnectedAt = fromNanos(&connected), fromNanos(refreshed), fromNanos(disconnected)
	if lease != 0 {
		c.LeaseUntil = time.Unix(0, lease).UTC()
	}
	c.Scopes = strings.Fields(scopes)
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	if keyID != "" || len(sealed) > 0 {
		c.Refresh = Sealed{KeyID: keyID, Ciphertext: sealed}
	}
	return c, nil
}

func nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNanos(n *int64) time.Time {
	if n == nil || *n == 0 {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// Get implements Store.
func (s *PostgresStore) Get(ctx context.Context, sub string) (Connection, error) {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	c, err := pgScan(s.pool.QueryRow(ctx, `SELECT `+pgColumns+` FROM connections WHERE sub = $1`, sub))
	if errors.Is(err, pgx.ErrNoRows) {
		return Connection{}, fmt.Errorf("get connection: %w", ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("get connection: %w", pgErr(err))
	}
	return c, nil
}

// List implements Store; subs are ordered bytewise, as the other stores do.
func (s *PostgresStore) List(ctx context.Context) ([]Connection, error) {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+pgColumns+` FROM connections ORDER BY sub COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", pgErr(err))
	}
	defer rows.Close()
	out := []Connection{}
	for rows.Next() {
		c, err := pgScan(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", pgErr(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", pgErr(err))
	}
	return out, nil
}

// Put implements Store.
func (s *PostgresStore) Put(ctx context.Context, c Connection) (int64, error) {
	const op = "put connection"
	now := s.now()
	c, err := c.prepare(now)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	var v int64
	err = s.tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO connections (
			sub, zoom_user_id, email, email_key, account_id, status, reason, connected_at, refreshed_at,
			disconnected_at, scopes, refresh_key_id, refresh_sealed, version, lease_until, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nextval('connections_version_seq'), 0, $14)
		ON CONFLICT (sub) DO UPDATE SET
			zoom_user_id = excluded.zoom_user_id, email = excluded.email, email_key = excluded.email_key,
			account_id = excluded.account_id, status = excluded.status, reason = excluded.reason,
			connected_at = excluded.connected_at, refreshed_at = excluded.refreshed_at,
			disconnected_at = excluded.disconnected_at, scopes = excluded.scopes,
			refresh_key_id = excluded.refresh_key_id, refresh_sealed = excluded.refresh_sealed,
			version = excluded.version, lease_until = 0, updated_at = excluded.updated_at
		RETURNING version`,
			c.Sub, c.ZoomUserID, c.Email, asciiLower(c.Email), c.AccountID, string(c.Status), c.Reason,
			*nanos(c.ConnectedAt), nanos(c.RefreshedAt), nanos(c.DisconnectedAt),
			strings.Join(c.Scopes, " "), c.Refresh.KeyID, blob(c.Refresh.Ciphertext), now.UnixNano()).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, pgErr(err))
	}
	return v, nil
}

// Delete implements Store.
func (s *PostgresStore) Delete(ctx context.Context, sub string) error {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM connections WHERE sub = $1`, sub)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete connection: %w", pgErr(err))
	}
	return nil
}

// pgCAS is one compare-and-swap write: what the locked row must be, and
// what to set when it is.
type pgCAS struct {
	op            string
	sub           string
	expect        int64 // AnyVersion: any
	needConnected bool
	leasedAt      int64 // not 0: refuse while a lease lasts past this (unix nanos)
	set           string
	args          []any // $3… of set; $1 is the new version's sub, $2 updated_at
}

// versioned runs w: in one transaction it locks the row of w.sub, checks
// the version, the status and the lease (in that order, as the other stores
// do), and applies w.set with the next version. It returns the new version.
func (s *PostgresStore) versioned(ctx context.Context, w pgCAS) (int64, error) {
	if err := checkSub(w.op, w.sub); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	var v int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var (
			version, lease int64
			status         string
		)
		if w.leasedAt != 0 {
			// A claim waits briefly for the row: a lock held longer is
			// another refresher's, or a session the server will end
			// (pgIdleInTx); either way the caller waits and reads again.
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, pgClaimLockTimeout.Milliseconds())); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `SELECT version, status, lease_until FROM connections WHERE sub = $1 FOR UPDATE`, w.sub).
			Scan(&version, &status, &lease)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case w.leasedAt != 0 && isLockNotAvailable(err):
			return fmt.Errorf("%w: the row is locked by another session", ErrLeased)
		case err != nil:
			return err
		case w.expect != AnyVersion && version != w.expect:
			return ErrConflict
		case w.needConnected && status != string(StatusConnected):
			return ErrDisconnected
		case w.leasedAt != 0 && lease > w.leasedAt:
			return ErrLeased
		}
		args := append([]any{w.sub, s.now().UnixNano()}, w.args...)
		return tx.QueryRow(ctx, `UPDATE connections SET `+w.set+`,
				version = nextval('connections_version_seq'), updated_at = $2
			WHERE sub = $1 RETURNING version`, args...).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", w.op, pgErr(err))
	}
	return v, nil
}

// SwapRefresh implements Store.
func (s *PostgresStore) SwapRefresh(ctx context.Context, sub string, expectVersion int64, sealed Sealed, refreshedAt time.Time) (int64, error) {
	const op = "swap refresh token"
	if err := checkSealed(op, sealed); err != nil {
		return 0, err
	}
	if refreshedAt.IsZero() {
		refreshedAt = s.now()
	}
	return s.versioned(ctx, pgCAS{op: op, sub: sub, expect: expectVersion, needConnected: true,
		set:  `refresh_key_id = $3, refresh_sealed = $4, refreshed_at = $5, lease_until = 0`,
		args: []any{sealed.KeyID, blob(sealed.Ciphertext), utc(refreshedAt).UnixNano()}})
}

// MarkDisconnected implements Store.
func (s *PostgresStore) MarkDisconnected(ctx context.Context, sub string, expectVersion int64, reason string, at time.Time) (int64, error) {
	const op = "mark connection disconnected"
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if reason == "" {
		return 0, fmt.Errorf("%s: %w: empty reason", op, ErrInvalid)
	}
	if at.IsZero() {
		at = s.now()
	}
	return s.versioned(ctx, pgCAS{op: op, sub: sub, expect: expectVersion,
		set: `status = 'disconnected', reason = $3, disconnected_at = $4,
			refresh_key_id = '', refresh_sealed = '\x', lease_until = 0`,
		args: []any{reason, utc(at).UnixNano()}})
}

// Claim implements Store: the row is locked while its version, status and
// lease are checked and the lease written.
func (s *PostgresStore) Claim(ctx context.Context, sub string, expectVersion int64, until time.Time) (int64, error) {
	const op = "claim refresh token"
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if until.IsZero() {
		return 0, fmt.Errorf("%s: %w: no lease end", op, ErrInvalid)
	}
	return s.versioned(ctx, pgCAS{op: op, sub: sub, expect: expectVersion, needConnected: true,
		leasedAt: s.now().UnixNano(), set: `lease_until = $3`, args: []any{until.UnixNano()}})
}

// Release implements Store.
func (s *PostgresStore) Release(ctx context.Context, sub string, claimedVersion int64) error {
	_, err := s.versioned(ctx, pgCAS{op: "release refresh token", sub: sub, expect: claimedVersion,
		set: `lease_until = 0`})
	return err
}

// FindByUser implements Store. The order is that of matchRank and better.
func (s *PostgresStore) FindByUser(ctx context.Context, key string) (Connection, error) {
	if key == "" {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	email := ""
	if strings.Contains(key, "@") {
		email = asciiLower(key)
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	c, err := pgScan(s.pool.QueryRow(ctx, `SELECT `+pgColumns+` FROM connections
		WHERE sub = $1 OR (zoom_user_id <> '' AND zoom_user_id = $1) OR ($2 <> '' AND email_key = $2)
		ORDER BY CASE WHEN sub = $1 THEN 0 WHEN zoom_user_id = $1 THEN 1 ELSE 2 END,
			status = 'connected' DESC, connected_at DESC, sub COLLATE "C"
		LIMIT 1`, key, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("find connection: %w", pgErr(err))
	}
	return c, nil
}

// Ping reports whether the database answers (readiness).
func (s *PostgresStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", pgErr(err))
	}
	return nil
}

// Close implements Store.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

// tx runs fn in a transaction, committing only when fn succeeds.
func (s *PostgresStore) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	err = fn(tx)
	if err == nil {
		err = s.recordEvent(ctx, tx) // the event a write carries, in its transaction
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = tx.Rollback(rctx)
		cancel()
		return err
	}
	return tx.Commit(ctx)
}

// pgErr marks the failures that mean the database cannot be used now (it
// cannot be reached, is shutting down or starting, or did not answer in
// time) with ErrUnavailable, keeping the cause; the store's own sentinels
// and SQL errors pass as they are.
func pgErr(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	for _, sentinel := range []error{ErrNotFound, ErrConflict, ErrDisconnected, ErrLeased, ErrInvalid} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources (too many connections, …)
			strings.HasPrefix(pe.Code, "57"): // operator intervention: shutting down, starting up
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "closed pool") ||
		errors.Is(err, net.ErrClosed) || isConnLost(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isLockNotAvailable: SQLSTATE 55P03, lock_not_available (lock_timeout).
func isLockNotAvailable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// isConnLost: the server went away mid-statement (pgx reports an unexpected
// EOF or a reset connection as a plain error).
func isConnLost(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "conn closed")
}
