package metrics

import "github.com/prometheus/client_golang/prometheus"

// Cluster is the metric of what the instances of a cluster share: whether
// each shared backend is in use (1) or this instance works alone (0).
type Cluster struct{ up *prometheus.GaugeVec }

// Cluster registers the cluster's metric the first time it is called (when
// REDIS_URL is set, or DATABASE_URL names PostgreSQL) and answers it.
func (m *Metrics) Cluster() *Cluster {
	m.clusterOnce.Do(func() {
		m.cluster = &Cluster{up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cluster_backend_up",
			Help: "1 while the shared backend is in use: redis (else this instance is degraded: local push, ZOOM_QPS / CLUSTER_SIZE); postgres, the connections' database, answering its pings (else minting through connections answers 503 store_unavailable)."},
			[]string{"backend"})}
		m.reg.MustRegister(m.cluster.up)
	})
	return m.cluster
}

// Backend implements cluster.Observer.
func (c *Cluster) Backend(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	c.up.WithLabelValues(name).Set(v)
}
