package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// recordEvent inserts ctx's event, if any, in tx, the transaction of the
// write that causes it, and drops the oldest events past the cap.
func (s *SQLiteStore) recordEvent(ctx context.Context, tx *sql.Tx) error {
	e, ok, err := eventOf(ctx, s.now())
	if !ok || err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, sub, created_at, data, next_at)
		VALUES (?, ?, ?, ?, ?, ?)`, e.ID, e.Type, e.Sub, e.CreatedAt.UnixNano(), string(e.Data), e.NextAt.UnixNano()); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if over := n - s.limit(); over > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)`, over); err != nil {
			return fmt.Errorf("record event: drop the oldest: %w", err)
		}
		s.dropped.Add(over)
	}
	return nil
}

// RecordEvent implements Outbox.
func (s *SQLiteStore) RecordEvent(ctx context.Context, e Event) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE id = ?`, e.ID).Scan(&n); err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("record event: %w", ErrEventExists)
		}
		return s.recordEvent(WithEvent(ctx, e), tx)
	})
	return err
}

// ClaimEvents implements Outbox: the choice and the leases are one
// transaction holding the write lock, so two deliverers never share one.
func (s *SQLiteStore) ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]Event, error) {
	var out []Event
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, id, type, sub, created_at, data, attempts, next_at FROM events
			WHERE seq IN (SELECT min(seq) FROM events GROUP BY sub) AND next_at <= ?1 AND lease_until <= ?1
			ORDER BY seq LIMIT ?2`, now.UnixNano(), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e             Event
				created, next int64
				data          string
			)
			if err := rows.Scan(&e.seq, &e.ID, &e.Type, &e.Sub, &created, &data, &e.Attempts, &next); err != nil {
				return err
			}
			e.CreatedAt, e.NextAt, e.Data = time.Unix(0, created).UTC(), time.Unix(0, next).UTC(), []byte(data)
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE events SET lease_until = ? WHERE seq = ?`, until.UnixNano(), e.seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	return out, nil
}

// DeleteEvent implements Outbox.
func (s *SQLiteStore) DeleteEvent(ctx context.Context, id string) error {
	return s.eventExec(ctx, "delete event", `DELETE FROM events WHERE id = ?`, id)
}

// RetryEvent implements Outbox.
func (s *SQLiteStore) RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error {
	return s.eventExec(ctx, "retry event", `UPDATE events SET attempts = ?, next_at = ?, lease_until = 0 WHERE id = ?`,
		attempts, next.UnixNano(), id)
}

func (s *SQLiteStore) eventExec(ctx context.Context, op, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%s: %w", op, ErrEventNotFound)
	}
	return nil
}

// PendingEvents implements Outbox.
func (s *SQLiteStore) PendingEvents(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}
