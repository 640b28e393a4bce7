package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/metrics"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// How the connections' PostgreSQL is watched: a database not reached at
// start is tried again every dbRetryEvery; once open it is pinged every
// dbPingEvery, each ping given dbPingTimeout, and the result kept for
// /api/health and cluster_backend_up{backend="postgres"}.
const (
	dbRetryEvery  = 3 * time.Second
	dbPingEvery   = 3 * time.Second
	dbPingTimeout = time.Second
)

// backendObserver is told whether a shared backend answers
// (metrics.Cluster's Backend).
type backendObserver interface {
	Backend(name string, up bool)
}

// dbHealth is the connections database's last known state, kept by a
// background ping so a health poll costs nothing. Nil: a store that cannot
// tell (memory, SQLite).
type dbHealth struct{ up atomic.Bool }

// state is /api/health's cluster.database.
func (h *dbHealth) state() string {
	if h.up.Load() {
		return "ok"
	}
	return "unavailable"
}

// openDatabase opens DATABASE_URL's store when something keeps state in
// it: users' connections, or, without REDIS_URL, callback URLs' and
// webhooks' guard state (guardstate.go). Else it answers a nil store (an
// S2S-only server creates no database file). db is a PostgreSQL's health,
// nil for the other stores; close closes the store.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger, mx *metrics.Metrics) (store.Store, *dbHealth, func(), error) {
	if !connectionsConfigured(cfg) && !(guardConfigured(cfg) && cfg.RedisURL.Empty()) {
		return nil, nil, func() {}, nil
	}
	s, db, closeStore, err := openStore(ctx, cfg.DatabaseURL, log, mx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return s, db, closeStore, nil
}

// openStore opens the connections' store that DATABASE_URL names. A
// PostgreSQL that cannot be reached at start (connections.ErrUnavailable)
// does not stop the instance: it starts with the store unavailable (every
// connections operation answers 503 store_unavailable, S2S works), and a
// background loop opens and migrates it as soon as it answers. A malformed
// URL or a database that answers and refuses (authentication, a missing
// database) still fails start. For PostgreSQL it also answers the health
// the loop keeps; close stops the loop and closes the store.
func openStore(ctx context.Context, url string, log *slog.Logger, mx *metrics.Metrics) (store.Store, *dbHealth, func(), error) {
	u := strings.TrimSpace(url)
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		s, err := store.Open(ctx, u, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		return s, nil, func() { _ = s.Close() }, nil
	}
	obs := mx.Cluster()
	d := store.NewDeferred()
	h := &dbHealth{}
	s, err := store.OpenPostgres(ctx, u, nil)
	switch {
	case err == nil:
		d.Set(s)
		h.up.Store(true)
	case errors.Is(err, store.ErrUnavailable):
		// The error names host and database, never the password.
		log.Warn("connections: PostgreSQL cannot be reached; starting without it (minting through users' connections answers 503 store_unavailable, S2S works) and trying again every few seconds",
			"err", err, "retry_every", dbRetryEvery.String())
	default:
		return nil, nil, nil, err
	}
	obs.Backend("postgres", h.up.Load())
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watchDatabase(wctx, d, u, h, log, obs) })
	closeFn := func() {
		cancel()
		wg.Wait()
		_ = d.Close()
	}
	return d, h, closeFn, nil
}

// watchDatabase opens the database while d has none, then pings it, until
// ctx ends, keeping h and the metric up to date.
func watchDatabase(ctx context.Context, d *store.Deferred, url string, h *dbHealth, log *slog.Logger, obs backendObserver) {
	lastRefusal := ""
	every := dbPingEvery
	if !d.Ready() {
		every = dbRetryEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !d.Ready() {
			s, err := store.OpenPostgres(ctx, url, nil)
			switch {
			case err == nil:
				if !d.Set(s) {
					_ = s.Close()
					return
				}
				log.Info("connections: PostgreSQL reached and its schema up to date; users' connections are served")
				t.Reset(dbPingEvery)
			case ctx.Err() != nil:
				return
			case !errors.Is(err, store.ErrUnavailable):
				// It answers but refuses (authentication, a missing
				// database): the operator must act; said once per cause.
				if msg := err.Error(); msg != lastRefusal {
					lastRefusal = msg
					log.Error("connections: PostgreSQL refuses this server; still trying", "err", err)
				}
			}
		}
		up := false
		if d.Ready() {
			pctx, cancel := context.WithTimeout(ctx, dbPingTimeout)
			up = d.Ping(pctx) == nil
			cancel()
		}
		if was := h.up.Swap(up); was != up {
			if up {
				log.Info("connections: PostgreSQL answers again")
			} else {
				log.Warn("connections: PostgreSQL does not answer; minting through users' connections answers 503 store_unavailable")
			}
		}
		obs.Backend("postgres", up)
	}
}
