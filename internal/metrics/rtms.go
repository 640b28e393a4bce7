package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RTMS is the metrics of Zoom's Realtime Media Streams: streams pending and
// assigned, how long a stream waited for its worker's ack, reassignments.
// It implements rtms.RTMSObserver.
type RTMS struct {
	streams    *prometheus.GaugeVec
	latency    prometheus.Histogram
	reassigned *prometheus.CounterVec
}

// RTMS registers the RTMS metrics the first time it is called (when RTMS is
// configured) and answers them.
func (m *Metrics) RTMS() *RTMS {
	m.rtmsOnce.Do(func() {
		m.rtms = &RTMS{
			streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rtms_streams",
				Help: "RTMS streams on this instance by state: pending (no worker holds it yet, or its worker was lost) and assigned."},
				[]string{"state"}),
			latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtms_assignment_seconds",
				Help:    "From a stream's rtms_started (or its return to pending) to its worker's ack of rtms:assign.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
			reassigned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtms_reassignments_total",
				Help: "Streams moved to another worker, by reason: ack_timeout, offer_lost (its worker left before acking), worker_lost (after RTMS_REASSIGN_SECONDS), released."},
				[]string{"reason"}),
		}
		m.reg.MustRegister(m.rtms.streams, m.rtms.latency, m.rtms.reassigned)
	})
	return m.rtms
}

// RTMSStreams sets the gauges.
func (r *RTMS) RTMSStreams(pending, assigned int) {
	r.streams.WithLabelValues("pending").Set(float64(pending))
	r.streams.WithLabelValues("assigned").Set(float64(assigned))
}

// RTMSAssigned observes one assignment's latency.
func (r *RTMS) RTMSAssigned(d time.Duration) { r.latency.Observe(d.Seconds()) }

// RTMSReassigned counts one reassignment; reason is one of a fixed set.
func (r *RTMS) RTMSReassigned(reason string) { r.reassigned.WithLabelValues(reason).Inc() }
