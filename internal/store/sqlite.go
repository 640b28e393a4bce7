package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// busyTimeout is how long a statement waits for another connection or
// process holding the write lock before it fails.
const busyTimeout = 10 * time.Second

// migrations, in order; migration i (from 0) brings the schema to version
// i+1. Append only: a shipped migration never changes.
var migrations = [][]string{
	{
		`CREATE TABLE connections (
			sub             TEXT    NOT NULL PRIMARY KEY,
			zoom_user_id    TEXT    NOT NULL,
			email           TEXT    NOT NULL,
			account_id      TEXT    NOT NULL,
			status          TEXT    NOT NULL CHECK (status IN ('connected', 'disconnected')),
			reason          TEXT    NOT NULL,
			connected_at    TEXT    NOT NULL,
			refreshed_at    TEXT,
			disconnected_at TEXT,
			scopes          TEXT    NOT NULL,
			refresh_key_id  TEXT    NOT NULL,
			refresh_sealed  BLOB    NOT NULL,
			version         INTEGER NOT NULL,
			updated_at      TEXT    NOT NULL
		) STRICT`,
		// One counter for the whole table, so a version is never reused,
		// not even after a connection is deleted and made again.
		`CREATE TABLE version_seq (
			id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
			n  INTEGER NOT NULL
		) STRICT`,
		`INSERT INTO version_seq (id, n) VALUES (1, 0)`,
	},
	{
		// Claim's lease: unix nanoseconds until which a refresher holds the
		// refresh token; 0: none.
		`ALTER TABLE connections ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0`,
		// FindByUser looks connections up by Zoom user id and by email.
		// SQLite's lower() folds ASCII letters only, as Zoom compares emails.
		`CREATE INDEX connections_zoom_user_id ON connections (zoom_user_id)`,
		`CREATE INDEX connections_email ON connections (lower(email))`,
	},
	{
		// Marks (marks.go): revoked and spent callback URLs by id, webhook
		// events seen by key; until is unix nanoseconds.
		`CREATE TABLE guard_marks (
			kind  TEXT    NOT NULL,
			key   TEXT    NOT NULL,
			until INTEGER NOT NULL,
			PRIMARY KEY (kind, key)
		) STRICT`,
		`CREATE INDEX guard_marks_until ON guard_marks (until)`,
	},
	{
		// The outbox (outbox.go): events for EVENTS_URL, recorded in the
		// transaction of the change; times are unix nanoseconds.
		`CREATE TABLE events (
			seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
			id          TEXT    NOT NULL UNIQUE,
			type        TEXT    NOT NULL,
			sub         TEXT    NOT NULL,
			created_at  INTEGER NOT NULL,
			data        TEXT    NOT NULL,
			attempts    INTEGER NOT NULL DEFAULT 0,
			next_at     INTEGER NOT NULL,
			lease_until INTEGER NOT NULL DEFAULT 0
		) STRICT`,
		`CREATE INDEX events_sub ON events (sub, seq)`,
	},
}

// SQLiteStore keeps connections in an SQLite file. Several stores, in one
// process or several, may share the file: writes take the database's write
// lock for their whole transaction, and waiters retry for busyTimeout.
type SQLiteStore struct {
	db    *sql.DB
	now   func() time.Time
	prune pruneGate // of the marks
	outboxBounds
}

// OpenSQLite opens (creating when missing) the SQLite database at path,
// in WAL mode, and brings its schema up to date.
func OpenSQLite(ctx context.Context, path string, now func() time.Time) (*SQLiteStore, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: sqlite: needs a path, as in sqlite:data/connections.db", ErrUnsupportedDatabase)
	}
	if strings.ContainsAny(path, "?#\x00") {
		return nil, fmt.Errorf("%w: sqlite path may not contain '?', '#' or NUL", ErrUnsupportedDatabase)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Create the file ourselves so that it, and the -wal and -shm files
	// SQLite derives from it, are readable by the owner only.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	f.Close()

	q := url.Values{}
	q.Set("_txlock", "immediate") // take the write lock at BEGIN, never mid-transaction
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // a rotated refresh token must survive a crash
	q.Set("_foreign_keys", "1")
	db, err := sql.Open("sqlite", abs+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	s := &SQLiteStore{db: db, now: now}
	if err := s.migrateWhenFree(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	return s, nil
}

// migrateWhenFree is migrate, tried again while the file is busy.
// Processes opening a new file together can meet SQLITE_BUSY at once,
// without busy_timeout's wait (about 4 runs in 100 of
// TestSQLiteConcurrentFirstOpen did): SQLite does not wait where waiting
// could deadlock, as when connections race to turn a new file to WAL. The
// loser tries again, a little later, within busyTimeout.
func (s *SQLiteStore) migrateWhenFree(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := s.migrate(ctx)
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (of any extended kind).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == 5
}

// migrate applies, in one transaction, the migrations the file lacks.
// Opening an up-to-date file changes nothing.
func (s *SQLiteStore) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: the database is at schema version %d; this build knows up to %d", have, len(migrations))
	}
	if have == len(migrations) {
		return nil
	}
	for i := have; i < len(migrations); i++ {
		for _, stmt := range migrations[i] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", i+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ? WHERE id = 1`, len(migrations)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the schema version recorded in the file.
func (s *SQLiteStore) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

const selectColumns = `sub, zoom_user_id, email, account_id, status, reason, connected_at, refreshed_at,
	disconnected_at, scopes, refresh_key_id, refresh_sealed, version, lease_until`

type scanner interface{ Scan(dest ...any) error }

func scanConnection(r scanner) (Connection, error) {
	var (
		c                                        Connection
		status, scopes                           string
		connectedAt, refreshedAt, disconnectedAt sql.NullString
		keyID                                    string
		sealed                                   []byte
		lease                                    int64
	)
	if err := r.Scan(&c.Sub, &c.ZoomUserID, &c.Email, &c.AccountID, &status, &c.Reason,
		&connectedAt, &refreshedAt, &disconnectedAt, &scopes, &keyID, &sealed, &c.Version, &lease); err != nil {
		return Connection{}, err
	}
	if lease != 0 {
		c.LeaseUntil = time.Unix(0, lease).UTC()
	}
	c.Status = Status(status)
	c.Scopes = strings.Fields(scopes)
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	if keyID != "" || len(sealed) > 0 {
		c.Refresh = Sealed{KeyID: keyID, Ciphertext: sealed}
	}
	var err error
	if c.ConnectedAt, err = parseTime(connectedAt); err != nil {
		return Connection{}, err
	}
	if c.RefreshedAt, err = parseTime(refreshedAt); err != nil {
		return Connection{}, err
	}
	if c.DisconnectedAt, err = parseTime(disconnectedAt); err != nil {
		return Connection{}, err
	}
	return c, nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, sub string) (Connection, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+selectColumns+` FROM connections WHERE sub = ?`, sub)
	c, err := scanConnection(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("get connection: %w", ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("get connection: %w", err)
	}
	return c, nil
}

// List implements Store.
func (s *SQLiteStore) List(ctx context.Context) ([]Connection, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+selectColumns+` FROM connections ORDER BY sub`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	out := []Connection{}
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// Put implements Store.
func (s *SQLiteStore) Put(ctx context.Context, c Connection) (int64, error) {
	const op = "put connection"
	now := s.now()
	c, err := c.prepare(now)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var v int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		if v, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO connections (
				sub, zoom_user_id, email, account_id, status, reason, connected_at, refreshed_at,
				disconnected_at, scopes, refresh_key_id, refresh_sealed, version, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (sub) DO UPDATE SET
				zoom_user_id = excluded.zoom_user_id, email = excluded.email,
				account_id = excluded.account_id, status = excluded.status, reason = excluded.reason,
				connected_at = excluded.connected_at, refreshed_at = excluded.refreshed_at,
				disconnected_at = excluded.disconnected_at, scopes = excluded.scopes,
				refresh_key_id = excluded.refresh_key_id, refresh_sealed = excluded.refresh_sealed,
				version = excluded.version, updated_at = excluded.updated_at, lease_until = 0`,
			c.Sub, c.ZoomUserID, c.Email, c.AccountID, string(c.Status), c.Reason,
			formatTime(c.ConnectedAt), formatTime(c.RefreshedAt), formatTime(c.DisconnectedAt),
			strings.Join(c.Scopes, " "), c.Refresh.KeyID, blob(c.Refresh.Ciphertext), v, formatTime(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// Delete implements Store.
func (s *SQLiteStore) Delete(ctx context.Context, sub string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE sub = ?`, sub)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	return nil
}

// SwapRefresh implements Store. The compare and the swap are one UPDATE
// whose WHERE clause names the expected version.
func (s *SQLiteStore) SwapRefresh(ctx context.Context, sub string, expectVersion int64, sealed Sealed, refreshedAt time.Time) (int64, error) {
	const op = "swap refresh token"
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if err := checkSealed(op, sealed); err != nil {
		return 0, err
	}
	now := s.now()
	if refreshedAt.IsZero() {
		refreshedAt = now
	}
	v, err := s.versioned(ctx, sub, expectVersion, true, 0, func(tx *sql.Tx, v int64) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE connections
			SET refresh_key_id = ?, refresh_sealed = ?, refreshed_at = ?, version = ?, updated_at = ?, lease_until = 0
			WHERE sub = ? AND version = ? AND status = 'connected'`,
			sealed.KeyID, blob(sealed.Ciphertext), formatTime(utc(refreshedAt)), v, formatTime(now),
			sub, expectVersion)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// MarkDisconnected implements Store.
func (s *SQLiteStore) MarkDisconnected(ctx context.Context, sub string, expectVersion int64, reason string, at time.Time) (int64, error) {
	const op = "mark connection disconnected"
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if reason == "" {
		return 0, fmt.Errorf("%s: %w: empty reason", op, ErrInvalid)
	}
	now := s.now()
	if at.IsZero() {
		at = now
	}
	v, err := s.versioned(ctx, sub, expectVersion, false, 0, func(tx *sql.Tx, v int64) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE connections
			SET status = 'disconnected', reason = ?, disconnected_at = ?,
				refresh_key_id = '', refresh_sealed = X'', version = ?, updated_at = ?, lease_until = 0
			WHERE sub = ? AND (? OR version = ?)`,
			reason, formatTime(utc(at)), v, formatTime(now),
			sub, expectVersion == AnyVersion, expectVersion)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// Claim implements Store. The checks and the lease are one UPDATE, inside
// a transaction that holds the database's write lock.
func (s *SQLiteStore) Claim(ctx context.Context, sub string, expectVersion int64, until time.Time) (int64, error) {
	const op = "claim refresh token"
	if err := checkSub(op, sub); err != nil {
		return 0, err
	}
	if until.IsZero() {
		return 0, fmt.Errorf("%s: %w: no lease end", op, ErrInvalid)
	}
	now := s.now()
	v, err := s.versioned(ctx, sub, expectVersion, true, now.UnixNano(), func(tx *sql.Tx, v int64) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE connections
			SET lease_until = ?, version = ?, updated_at = ?
			WHERE sub = ? AND version = ? AND status = 'connected' AND lease_until <= ?`,
			until.UnixNano(), v, formatTime(now), sub, expectVersion, now.UnixNano())
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// Release implements Store.
func (s *SQLiteStore) Release(ctx context.Context, sub string, claimedVersion int64) error {
	const op = "release refresh token"
	_, err := s.versioned(ctx, sub, claimedVersion, false, 0, func(tx *sql.Tx, v int64) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE connections SET lease_until = 0, version = ?, updated_at = ?
			WHERE sub = ? AND version = ?`, v, formatTime(s.now()), sub, claimedVersion)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// versioned runs one compare-and-swap write in a transaction: it takes the
// next version, runs update with it, and, when no row changed, says why
// (diagnose). It returns the new version.
func (s *SQLiteStore) versioned(ctx context.Context, sub string, expect int64, needConnected bool, now int64,
	update func(tx *sql.Tx, v int64) (sql.Result, error)) (int64, error) {
	var v int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		res, err := update(tx, v)
		if err != nil {
			return err
		}
		return s.diagnose(ctx, tx, res, sub, expect, needConnected, now)
	})
	return v, err
}

// FindByUser implements Store. The order is that of matchRank and better.
func (s *SQLiteStore) FindByUser(ctx context.Context, key string) (Connection, error) {
	if key == "" {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	email := ""
	if strings.Contains(key, "@") {
		email = asciiLower(key)
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+selectColumns+` FROM connections
		WHERE sub = ?1 OR (zoom_user_id <> '' AND zoom_user_id = ?1) OR (?2 <> '' AND lower(email) = ?2)
		ORDER BY CASE WHEN sub = ?1 THEN 0 WHEN zoom_user_id = ?1 THEN 1 ELSE 2 END,
			status = 'connected' DESC, connected_at DESC, sub
		LIMIT 1`, key, email)
	c, err := scanConnection(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("find connection: %w", ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("find connection: %w", err)
	}
	return c, nil
}

// diagnose turns a conditional UPDATE that changed no row into the reason:
// ErrNotFound, ErrConflict, (when needConnected) ErrDisconnected, or (when
// now is not 0) ErrLeased for a lease that lasts past now.
func (s *SQLiteStore) diagnose(ctx context.Context, tx *sql.Tx, res sql.Result, sub string, expectVersion int64, needConnected bool, now int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var (
		version int64
		status  string
		lease   int64
	)
	err = tx.QueryRowContext(ctx, `SELECT version, status, lease_until FROM connections WHERE sub = ?`, sub).Scan(&version, &status, &lease)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case version != expectVersion:
		return ErrConflict
	case needConnected && status != string(StatusConnected):
		return ErrDisconnected
	case now != 0 && lease > now:
		return ErrLeased
	default:
		return fmt.Errorf("no row changed for an unknown reason")
	}
}

// write runs fn in a transaction that holds the write lock from its start
// (the DSN asks for BEGIN IMMEDIATE), committing only when fn succeeds.
func (s *SQLiteStore) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := s.recordEvent(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// nextVersion takes the next version from the store-wide counter.
func nextVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `UPDATE version_seq SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&v)
	return v, err
}

// Close implements Store.
func (s *SQLiteStore) Close() error { return s.db.Close() }

const timeLayout = time.RFC3339Nano

func formatTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(ns sql.NullString) (time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, ns.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time: %w", err)
	}
	return t.UTC(), nil
}

// blob keeps an empty byte slice from being stored as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
