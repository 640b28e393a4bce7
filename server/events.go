package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"sync"

	"github.com/zoomtoken/tokenserver/internal/events"
	"github.com/zoomtoken/tokenserver/internal/metrics"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// startEvents starts delivering the connections store's outbox to
// EVENTS_URL when it is set: it answers the deliverer's Kick (nil when off)
// and a stop that ends delivery and waits for it.
func startEvents(ctx context.Context, cfg Config, connStore store.Store, log *slog.Logger, mx *metrics.Metrics) (func(), func(), error) {
	if cfg.App.EventsURL == "" {
		return nil, func() {}, nil
	}
	outbox, ok := connStore.(store.Outbox)
	if connStore == nil || !ok {
		return nil, nil, errors.New("EVENTS_URL: events are about users' connections, which are off: configure the General app (ZOOM_OAUTH_*), or run in sandbox mode")
	}
	d, err := events.New(events.Config{URL: cfg.App.EventsURL, Secret: cfg.App.EventsSecret, Outbox: outbox,
		Observer: mx.Events(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	host := ""
	if u, err := url.Parse(cfg.App.EventsURL); err == nil {
		host = u.Host // never the path or query, which may hold a token of the receiver's
	}
	log.Info("events: on", "host", host, "outbox_cap", store.DefaultMaxEvents, "retry_for", "24h")
	if cfg.DatabaseURL == "memory" {
		log.Warn("events: DATABASE_URL=memory keeps the outbox in this process: events not yet delivered are lost on restart; use sqlite:PATH or postgres:// to keep them")
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.Run(rctx)
	}()
	return d.Kick, func() { cancel(); wg.Wait() }, nil
}

// connectionsWithEvents is newConnections with, when EVENTS_URL is set, the
// delivery of its events started (startEvents); stop ends it.
func connectionsWithEvents(ctx context.Context, cfg Config, sb *sandboxRun, zc *zoom.Client, bus services.Publisher, addr net.Addr,
	states services.PendingStates, connStore store.Store, log *slog.Logger, mx *metrics.Metrics) (*services.Connections, func(), error) {
	kick, stop, err := startEvents(ctx, cfg, connStore, log, mx)
	if err != nil {
		return nil, nil, err
	}
	conns, err := newConnections(cfg, sb, zc, bus, addr, states, connStore, log, kick)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return conns, stop, nil
}
