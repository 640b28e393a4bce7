package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/zoomtoken/tokenserver/internal/metrics"
	"github.com/zoomtoken/tokenserver/internal/redis"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/routes"
	"github.com/zoomtoken/tokenserver/services"
)

// sharedState is what this instance shares with the others of a cluster:
// nothing (one process) without REDIS_URL.
type sharedState struct {
	redis   *redis.Redis // nil: one process
	quota   *redis.Quota
	sockets *redis.Sockets // Socket.IO across the instances
	relay   *redis.Relay   // webhooks' presence events to every instance

	marks    store.Marks // without Redis: the guard state in DATABASE_URL's database (guardstate.go); nil: memory
	marksLog *slog.Logger
}

// newShared connects to REDIS_URL when it is set. Redis not answering is
// no reason to refuse to start: the instance works alone until it does.
func newShared(ctx context.Context, cfg Config, log *slog.Logger, mx *metrics.Metrics) (*sharedState, error) {
	if cfg.RedisURL.Empty() {
		return &sharedState{}, nil
	}
	redis.LibraryLogs(log)
	r, err := redis.Open(ctx, cfg.RedisURL, log, mx.Cluster())
	if err != nil {
		return nil, err
	}
	log.Info("cluster", "cluster_size", cfg.ClusterSize, "zoom_qps_shared", cfg.ZoomQPS,
		"zoom_qps_alone", cfg.ZoomQPS/float64(cfg.ClusterSize))
	return &sharedState{redis: r, quota: redis.NewQuota(r, cfg.ZoomQPS, cfg.ClusterSize, nil),
		sockets: redis.NewSockets(r, log), relay: redis.NewRelay(r, "webhooks", log)}, nil
}

// withQuota gives the Zoom client the cluster's quota, when there is one.
func (s *sharedState) withQuota(zc zoom.Config) zoom.Config {
	if s.quota != nil {
		zc.Quota = s.quota
	}
	return zc
}

// socketCluster is the Socket.IO server's cluster: nil (no interface
// holding a nil pointer) when there is none.
func (s *sharedState) socketCluster() realtime.Cluster {
	if s.sockets == nil {
		return nil
	}
	return s.sockets
}

// close is called after the Socket.IO server is closed.
func (s *sharedState) close() {
	if s.sockets != nil {
		s.sockets.Close()
	}
	if s.relay != nil {
		s.relay.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

// clusterHealth is the "cluster" field of /api/health: redis "ok" or
// "degraded" (REDIS_URL set), database "ok" or "unavailable" (a database
// that can tell: PostgreSQL, as its background ping last found it; a health
// poll never waits on the database). Nil when there is nothing to say.
type clusterHealth struct {
	shared *sharedState
	db     *dbHealth // nil: no database that can tell
}

// State implements routes.ClusterHealth.
func (h clusterHealth) State(ctx context.Context) map[string]string {
	out := map[string]string{}
	if h.shared.redis != nil {
		out["redis"] = h.shared.redis.State()
	}
	if h.db != nil {
		out["database"] = h.db.state()
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// webhookDedupe is d alone, or, in a cluster, d and then a Redis key per
// event (SET NX, for webhooks.DefaultHorizon) that the first instance to
// admit an event sets: Zoom's retry that reaches another instance is a
// duplicate there too. Redis down: d alone. Without Redis, d and then the
// database's marks (dbDedupe), when DATABASE_URL names one.
func (s *sharedState) webhookDedupe(d *webhooks.Dedupe) services.Deduper {
	if s.redis == nil && s.marks != nil {
		return dbDedupe{local: d, m: s.marks, log: s.marksLog, now: time.Now}
	}
	if s.redis == nil {
		return d
	}
	return sharedDedupe{local: d, redis: s.redis}
}

type sharedDedupe struct {
	local *webhooks.Dedupe
	redis *redis.Redis
}

func dedupeKey(key string) string { return "tokenserver:webhook:" + key }

func (d sharedDedupe) Admit(key string, stamp time.Time) webhooks.Verdict {
	if v := d.local.Admit(key, stamp); v != webhooks.Fresh {
		return v
	}
	if first, _ := d.redis.FirstSeen(context.Background(), dedupeKey(key), webhooks.DefaultHorizon); !first {
		return webhooks.Duplicate
	}
	return webhooks.Fresh
}

func (d sharedDedupe) Forget(key string) {
	d.local.Forget(key)
	d.redis.Forget(context.Background(), dedupeKey(key))
}

// webhookRelay is the relay of webhooks' presence events: nil (no
// interface holding a nil pointer) without a cluster.
func (s *sharedState) webhookRelay() services.WebhookRelay {
	if s.relay == nil {
		return nil
	}
	return jsonRelay{s.relay}
}

// jsonRelay carries webhooks.Event as JSON over a cluster.Relay.
type jsonRelay struct{ r *redis.Relay }

func (j jsonRelay) Send(ctx context.Context, ev webhooks.Event) {
	if b, err := json.Marshal(ev); err == nil {
		j.r.Publish(ctx, b)
	}
}

func (j jsonRelay) Receive(handle func(webhooks.Event)) {
	j.r.Handle(func(b []byte) {
		var ev webhooks.Event
		if json.Unmarshal(b, &ev) == nil {
			handle(ev)
		}
	})
}

// callerLimiter is the per-caller limiter: local alone, or in a cluster the
// one shared through Redis, with local as its fallback.
func (s *sharedState) callerLimiter(cfg Config, local *gate.MemoryLimiter) routes.CallerLimiter {
	if s.redis == nil {
		return local
	}
	return gate.NewRedisLimiter(s.redis, cfg.CallerRPS, cfg.CallerBurst, local)
}

// authGuard is the failed-authentication guard: local alone, or in a
// cluster the one shared through Redis, with local as its fallback.
func (s *sharedState) authGuard(cfg Config, local *gate.MemoryGuard) routes.AuthGuard {
	if s.redis == nil {
		return local
	}
	return gate.NewRedisGuard(s.redis, cfg.AuthFailuresPerMinute, local)
}

// batchSlots are the callers' batch slots: shared through Redis in a cluster,
// the process's own otherwise.
func (s *sharedState) batchSlots() services.BatchSlots {
	if s.redis == nil {
		return gate.NewMemorySlots()
	}
	return gate.NewRedisSlots(s.redis, gate.NewMemorySlots(), gate.RedisSlotsConfig{})
}
