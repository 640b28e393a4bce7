// Package metrics exposes the server's Prometheus metrics. It implements the
// observer interfaces of services (Zoom calls), realtime (sockets, pushes)
// and routes (HTTP requests). Labels are fixed words and route patterns:
// never a token, a secret or a user id.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors, registered on a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	zoomCalls     *prometheus.CounterVec
	zoomLatency   *prometheus.HistogramVec
	mintLatency   *prometheus.HistogramVec
	cache         *prometheus.CounterVec
	limiterWait   prometheus.Histogram
	throttled     *prometheus.CounterVec
	sockets       prometheus.Gauge
	pushes        *prometheus.CounterVec
	dropped       prometheus.Counter
	httpRequests  *prometheus.CounterVec
	httpDurations *prometheus.HistogramVec

	webhooks  *prometheus.CounterVec // Zoom's webhooks, by event and outcome
	awaits    *prometheus.CounterVec // meeting:await and POST /api/meetings/await, by outcome
	awaitWake prometheus.Histogram   // from a participant_joined's arrival to its OBF's push

	clusterOnce sync.Once
	cluster     *Cluster // cluster_backend_up, registered by the first Cluster()

	rtmsOnce   sync.Once
	rtms       *RTMS // rtms_*, registered by the first RTMS() (rtms.go)
	eventsOnce sync.Once
	events     *Events // events_*, registered by the first Events()
}

// New registers every metric, with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg,
		zoomCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoom_calls_total",
			Help: "HTTP exchanges with Zoom, by endpoint (oauth_token, token_zak, token_onbehalf, meeting, jointoken_local_recording, …) and outcome (ok, zoom_<code>, http_<status>, oauth_<error>, network, timeout)."},
			[]string{"endpoint", "outcome"}),
		zoomLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zoom_call_duration_seconds",
			Help: "Duration of one HTTP exchange with Zoom.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)},
			[]string{"endpoint"}),
		mintLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "token_mint_duration_seconds",
			Help:    "Duration of minting one ZAK or OBF token, limiter waits and retries included, by type and outcome (ok or error code).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"type", "outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoom_s2s_token_cache_total",
			Help: "S2S access-token cache events: hit, miss, refresh, stale_used, invalidated."}, []string{"event"}),
		limiterWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zoom_limiter_wait_seconds",
			Help:    "Time calls waited for the process-wide Zoom limiter (ZOOM_QPS); waits under 1 ms are not observed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoom_rate_limited_total",
			Help: "Zoom 429 answers, by kind (qps, daily)."}, []string{"kind"}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "socketio_connected_sockets",
			Help: "Socket.IO sockets connected now."}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "socketio_token_pushes_total",
			Help: "Tokens pushed to their user's room, by event and result (delivered, offline)."}, []string{"event", "result"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "socketio_malformed_packets_total",
			Help: "Malformed Socket.IO packets dropped (their connection closed)."}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "HTTP requests by route pattern and status."}, []string{"route", "status"}),
		httpDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "HTTP request duration by route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"route"}),
	}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoom_webhooks_total",
		Help: "Zoom webhook requests by event (the names read, else other; unverified before the signature is checked) and outcome (validated, accepted, duplicate, ignored, stale, invalid_signature, malformed, busy, failed)."},
		[]string{"event", "outcome"})
	m.awaits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presence_awaits_total",
		Help: "Awaits by outcome: the presence first answered (present, waiting, unknown), then delivered, timeout, failed, cancelled, user_left."},
		[]string{"outcome"})
	m.awaitWake = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "presence_await_delivery_seconds",
		Help:    "From the arrival of the webhook saying the user joined to the OBF handed to the awaiting client (the mint included).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	f(m.webhooks)
	f(m.awaits)
	f(m.awaitWake)
	for _, c := range []prometheus.Collector{m.zoomCalls, m.zoomLatency, m.mintLatency, m.cache, m.limiterWait, m.throttled,
		m.sockets, m.pushes, m.dropped, m.httpRequests, m.httpDurations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ZoomCall implements zoom.Observer.
func (m *Metrics) ZoomCall(endpoint, outcome string, d time.Duration) {
	m.zoomCalls.WithLabelValues(endpoint, outcome).Inc()
	m.zoomLatency.WithLabelValues(endpoint).Observe(d.Seconds())
}

// TokenCache implements zoom.Observer.
func (m *Metrics) TokenCache(event string) { m.cache.WithLabelValues(event).Inc() }

// LimiterWait implements zoom.Observer.
func (m *Metrics) LimiterWait(d time.Duration) { m.limiterWait.Observe(d.Seconds()) }

// Throttled implements zoom.Observer.
func (m *Metrics) Throttled(kind string) { m.throttled.WithLabelValues(kind).Inc() }

// Mint implements zoom.Observer.
func (m *Metrics) Mint(typ, outcome string, d time.Duration) {
	m.mintLatency.WithLabelValues(typ, outcome).Observe(d.Seconds())
}

// SocketConnected implements realtime.Observer.
func (m *Metrics) SocketConnected(delta int) { m.sockets.Add(float64(delta)) }

// Pushed implements realtime.Observer.
func (m *Metrics) Pushed(event string, delivered bool) {
	result := "offline"
	if delivered {
		result = "delivered"
	}
	m.pushes.WithLabelValues(event, result).Inc()
}

// PacketDropped implements realtime.Observer.
func (m *Metrics) PacketDropped() { m.dropped.Inc() }

// HTTPRequest records one request; route is the matched pattern, never the raw path.
func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDurations.WithLabelValues(route).Observe(d.Seconds())
}

// Webhook implements services.WebhookObserver.
func (m *Metrics) Webhook(event, outcome string) { m.webhooks.WithLabelValues(event, outcome).Inc() }

// Await implements awaits.AwaitObserver.
func (m *Metrics) Await(outcome string) { m.awaits.WithLabelValues(outcome).Inc() }

// AwaitDelivered implements awaits.AwaitObserver.
func (m *Metrics) AwaitDelivered(d time.Duration) { m.awaitWake.Observe(d.Seconds()) }
