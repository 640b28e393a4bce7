package metrics

import "github.com/prometheus/client_golang/prometheus"

// Cluster is the metric of what the instances of a cluster share: whether
// each shared backend is in use (1) or this instance works alone (0).
type Cluster struct{ up *prometheus.GaugeVec }

// Cluster registers the cluster's metric; call it once, when REDIS_URL is set.
func (m *Metrics) Cluster() *Cluster {
	c := &Cluster{up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cluster_backend_up",
		Help: "1 while the shared backend (redis) is in use; 0 while this instance is degraded: local push, ZOOM_QPS / CLUSTER_SIZE."},
		[]string{"backend"})}
	m.reg.MustRegister(c.up)
	return c
}

// Backend implements cluster.Observer.
func (c *Cluster) Backend(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	c.up.WithLabelValues(name).Set(v)
}
