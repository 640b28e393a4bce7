package metrics

import "github.com/prometheus/client_golang/prometheus"

// Events are the metrics of the events sent to the app's back-end
// (EVENTS_URL): none holds an event's id, data or the URL.
type Events struct {
	pending   prometheus.Gauge
	delivered prometheus.Counter
	retried   prometheus.Counter
	failed    prometheus.Counter
	dropped   prometheus.Counter
}

// Events registers the events' metrics the first time it is called (when
// EVENTS_URL is set) and answers them.
func (m *Metrics) Events() *Events {
	m.eventsOnce.Do(func() {
		m.events = &Events{
			pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "events_pending",
				Help: "Events in the outbox not yet delivered to EVENTS_URL (all instances sharing the database)."}),
			delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "events_delivered_total",
				Help: "Events EVENTS_URL answered with a 2xx."}),
			retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "events_retried_total",
				Help: "Failed deliveries (error, timeout, non-2xx, redirect) that will be tried again."}),
			failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "events_failed_total",
				Help: "Events given up after failing for 24 hours."}),
			dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "events_dropped_total",
				Help: "Undelivered events dropped, oldest first, because the outbox was full."}),
		}
		m.reg.MustRegister(m.events.pending, m.events.delivered, m.events.retried, m.events.failed, m.events.dropped)
	})
	return m.events
}

// Pending implements events.Observer.
func (e *Events) Pending(n int) { e.pending.Set(float64(n)) }

// Delivered implements events.Observer.
func (e *Events) Delivered() { e.delivered.Inc() }

// Retried implements events.Observer.
func (e *Events) Retried() { e.retried.Inc() }

// Failed implements events.Observer.
func (e *Events) Failed() { e.failed.Inc() }

// Dropped implements events.Observer.
func (e *Events) Dropped(n int64) { e.dropped.Add(float64(n)) }
