package testinfra

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// pgReady connects to database postgres and runs a trivial query.
func pgReady(ctx context.Context, addr string) error {
	return pgExec(ctx, addr, "postgres", "SELECT 1")
}

// pgExec runs one statement in database db as the superuser.
func pgExec(ctx context.Context, addr, db, sql string) error {
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/"+db+"?sslmode=disable&connect_timeout=5")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
