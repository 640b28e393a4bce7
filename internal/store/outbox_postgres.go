package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// recordEvent inserts ctx's event, if any, in tx, the transaction of the
// write that causes it, and drops the oldest events past the cap.
func (s *PostgresStore) recordEvent(ctx context.Context, tx pgx.Tx) error {
	e, ok, err := eventOf(ctx, s.now())
	if !ok || err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (id, type, sub, created_at, data, next_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.Type, e.Sub, e.CreatedAt.UnixNano(), string(e.Data), e.NextAt.UnixNano()); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if over := n - s.limit(); over > 0 {
		tag, err := tx.Exec(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT $1)`, over)
		if err != nil {
			return fmt.Errorf("record event: drop the oldest: %w", err)
		}
		s.dropped.Add(tag.RowsAffected())
	}
	return nil
}

// RecordEvent implements Outbox.
func (s *PostgresStore) RecordEvent(ctx context.Context, e Event) error {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record event: %w", pgErr(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM events WHERE id = $1`, e.ID).Scan(&n); err != nil {
		return fmt.Errorf("record event: %w", pgErr(err))
	}
	if n > 0 {
		return fmt.Errorf("record event: %w", ErrEventExists)
	}
	if err := s.recordEvent(WithEvent(ctx, e), tx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation: recorded meanwhile
			return fmt.Errorf("record event: %w", ErrEventExists)
		}
		return err
	}
	return tx.Commit(ctx)
}

// ClaimEvents implements Outbox. One UPDATE chooses and leases; its
// condition on lease_until is checked again on each row it locks, so of two
// instances claiming at once only one gets an event.
func (s *PostgresStore) ClaimEvents(ctx context.Context, now, until time.Time, n int) ([]Event, error) {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `UPDATE events SET lease_until = $1
		WHERE seq IN (
			SELECT seq FROM events
			WHERE seq IN (SELECT min(seq) FROM events GROUP BY sub) AND next_at <= $2 AND lease_until <= $2
			ORDER BY seq LIMIT $3)
		AND lease_until <= $2
		RETURNING seq, id, type, sub, created_at, data, attempts, next_at`, until.UnixNano(), now.UnixNano(), n)
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", pgErr(err))
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e             Event
			created, next int64
			data          string
		)
		if err := rows.Scan(&e.seq, &e.ID, &e.Type, &e.Sub, &created, &data, &e.Attempts, &next); err != nil {
			return nil, fmt.Errorf("claim events: %w", pgErr(err))
		}
		e.CreatedAt, e.NextAt, e.Data = time.Unix(0, created).UTC(), time.Unix(0, next).UTC(), []byte(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim events: %w", pgErr(err))
	}
	sortEvents(out)
	return out, nil
}

// DeleteEvent implements Outbox.
func (s *PostgresStore) DeleteEvent(ctx context.Context, id string) error {
	return s.eventExec(ctx, "delete event", `DELETE FROM events WHERE id = $1`, id)
}

// RetryEvent implements Outbox.
func (s *PostgresStore) RetryEvent(ctx context.Context, id string, attempts int, next time.Time) error {
	return s.eventExec(ctx, "retry event", `UPDATE events SET attempts = $2, next_at = $3, lease_until = 0 WHERE id = $1`,
		id, attempts, next.UnixNano())
}

func (s *PostgresStore) eventExec(ctx context.Context, op, query string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, pgErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, ErrEventNotFound)
	}
	return nil
}

// PendingEvents implements Outbox.
func (s *PostgresStore) PendingEvents(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, pgOpTimeout)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", pgErr(err))
	}
	return n, nil
}
