package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/zoomtoken/tokenserver/cluster"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/services"
	"github.com/zoomtoken/tokenserver/services/metrics"
	"github.com/zoomtoken/tokenserver/zoom"
)

// sharedState is what this instance shares with the others of a cluster:
// nothing (one process) without REDIS_URL.
type sharedState struct {
	redis   *cluster.Redis // nil: one process
	quota   *cluster.Quota
	sockets *cluster.Sockets // Socket.IO across the instances
}

// newShared connects to REDIS_URL when it is set. Redis not answering is
// no reason to refuse to start: the instance works alone until it does.
func newShared(ctx context.Context, cfg Config, log *slog.Logger, mx *metrics.Metrics) (*sharedState, error) {
	if cfg.RedisURL.Empty() {
		return &sharedState{}, nil
	}
	r, err := cluster.Open(ctx, cfg.RedisURL, log, mx.Cluster())
	if err != nil {
		return nil, err
	}
	log.Info("cluster", "cluster_size", cfg.ClusterSize, "zoom_qps_shared", cfg.ZoomQPS,
		"zoom_qps_alone", cfg.ZoomQPS/float64(cfg.ClusterSize))
	return &sharedState{redis: r, quota: cluster.NewQuota(r, cfg.ZoomQPS, cfg.ClusterSize, nil),
		sockets: cluster.NewSockets(r, log)}, nil
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
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

// clusterHealth is the "cluster" field of /api/health: redis "ok" or
// "degraded" (REDIS_URL set), database "ok" or "unavailable" (a database
// that can tell: PostgreSQL). Nil when there is nothing to say.
type clusterHealth struct {
	shared *sharedState
	conns  *services.Connections
}

// State implements routes.ClusterHealth.
func (h clusterHealth) State(ctx context.Context) map[string]string {
	out := map[string]string{}
	if h.shared.redis != nil {
		out["redis"] = h.shared.redis.State()
	}
	if h.conns != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if known, err := h.conns.StoreHealth(ctx); known {
			out["database"] = "ok"
			if err != nil {
				out["database"] = "unavailable"
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
