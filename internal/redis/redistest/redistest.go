// Package redistest serves the tests of the packages whose state has a
// Redis twin (gate, store, callbacks): it connects to a test's Redis as an
// instance does.
package redistest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Open connects to the Redis at url as an instance does, recording what
// its observer is told of Redis's state; it is closed when t ends.
func Open(t testing.TB, url string) (*redis.Redis, *testinfra.Backends) {
	t.Helper()
	st := &testinfra.Backends{}
	r, err := redis.Open(context.Background(), secret.New(url), slog.New(slog.NewTextHandler(io.Discard, nil)), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, st
}
