package main

import (
	"log/slog"
	"time"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/zoomtoken/tokenserver/internal/metrics"
	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/routes"
	"github.com/zoomtoken/tokenserver/services"
)

// rtmsRun is RTMS (Zoom's Realtime Media Streams handed to workers); svc
// is nil when no app signs streams (zoom mode without ZOOM_RTMS_CLIENT_ID
// or a General app).
type rtmsRun struct{ svc *rtms.RTMS }

// newRTMS signs with ZOOM_RTMS_CLIENT_ID/SECRET, else the General app's;
// in sandbox mode, when neither is set, with the sandbox's General app.
//
// In a cluster (REDIS_URL) every instance hears every RTMS event (the
// webhooks' relay) and the instance that claims a stream in Redis assigns
// it to its workers; a claim lives max(3 s, RTMS_REASSIGN_SECONDS) unless
// renewed, so the streams of an instance that died go to another.
func newRTMS(cfg Config, sb *sandboxRun, mx *metrics.Metrics, log *slog.Logger, shared *sharedState, unassigned func(rtms.RTMSUnassigned)) *rtmsRun {
	id, sec := cfg.RTMSClientID, cfg.RTMSClientSecret
	if id == "" && sb.sb != nil {
		sid, ssec := sb.sb.GeneralApp()
		id, sec = sid, secret.New(ssec)
	}
	if id == "" || sec.Empty() {
		log.Info("rtms: off (set ZOOM_RTMS_CLIENT_ID and ZOOM_RTMS_CLIENT_SECRET, or a General app)")
		return &rtmsRun{}
	}
	var claims rtms.RTMSClaims
	if shared.redis != nil {
		claims = redis.NewRTMSClaims(shared.redis, max(3*time.Second, cfg.RTMSReassign))
	}
	log.Info("rtms: handing streams to workers", "client_id", id, "reassign_after", cfg.RTMSReassign.String(), "cluster", claims != nil)
	return &rtmsRun{svc: rtms.NewRTMS(rtms.RTMSConfig{ClientID: id, ClientSecret: sec,
		ReassignAfter: cfg.RTMSReassign, Observer: mx.RTMS(), Logger: log, Claims: claims,
		Unassigned: unassigned, UnassignedAfter: cfg.RTMSUnassigned})}
}

func (r *rtmsRun) close() {
	if r.svc != nil {
		r.svc.Close()
	}
}

// The service as each side sees it; nil interfaces when off.

func (r *rtmsRun) webhooks() services.RTMSHandler {
	if r.svc == nil {
		return nil
	}
	return r.svc
}

func (r *rtmsRun) realtime() realtime.RTMS {
	if r.svc == nil {
		return nil
	}
	return r.svc
}

func (r *rtmsRun) routes() routes.RTMS {
	if r.svc == nil {
		return nil
	}
	return r.svc
}

// rtmsUnassigned records rtms.unassigned in the connections store's outbox
// when events are on (EVENTS_URL); nil otherwise.
func rtmsUnassigned(cfg Config, connStore store.Store, conns *services.Connections, log *slog.Logger) func(rtms.RTMSUnassigned) {
	outbox, ok := connStore.(store.Outbox)
	if cfg.App.EventsURL == "" || !ok || conns == nil {
		return nil
	}
	return rtms.RecordRTMSUnassigned(outbox, conns.KickEvents, log, nil)
}
