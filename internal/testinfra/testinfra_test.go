package testinfra

import (
	"context"
	"testing"
)

func TestRedisStartsStopsRestarts(t *testing.T) {
	r := StartRedis(t)
	ctx := context.Background()
	if err := pingTCP(ctx, r.Addr(), "PING", "+PONG"); err != nil {
		t.Fatal(err)
	}
	// Sharded pub/sub (Redis 7) is there.
	if err := pingTCP(ctx, r.Addr(), "SPUBLISH ch x", ":0"); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := pingTCP(ctx, r.Addr(), "PING", "+PONG"); err == nil {
		t.Fatal("stopped redis still answers")
	}
	r.Restart()
	if err := pingTCP(ctx, r.Addr(), "PING", "+PONG"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresStartsStopsRestarts(t *testing.T) {
	pg := StartPostgres(t)
	ctx := context.Background()
	url := pg.NewDatabase(t)
	if url == pg.NewDatabase(t) {
		t.Fatal("two tests got one database")
	}
	if err := pgExec(ctx, pg.Addr(), "test_1", "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := pgReady(ctx, pg.Addr()); err == nil {
		t.Fatal("stopped postgres still answers")
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := pgExec(ctx, pg.Addr(), "test_1", "SELECT x FROM kept"); err != nil {
		t.Fatalf("data lost across a restart: %v", err)
	}
}
