// Package metrics counts what the app does, for Prometheus: requests by
// route, calls to Google by API and method, activations and approval
// requests by outcome, IAM etag conflicts, cache hits and notifications.
//
// Every metric lives in a Registry that New creates, never in a global
// one, so that tests and several apps in one process do not share counts.
// Labels take values from small fixed sets (route patterns, Google method
// names, event kinds), never from paths, emails or other input, so that a
// hostile client cannot grow the number of series.
//
// Prometheus rather than OpenTelemetry: the app needs counters and
// histograms on a scrape endpoint that Google Cloud Managed Service for
// Prometheus, a sidecar or any Prometheus can read; client_golang does
// exactly that with one well-kept dependency, where OpenTelemetry needs an
// SDK, an exporter and a bridge for the same result.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "jitaccess"

// Metrics holds the app's metrics. The recording methods do nothing on a
// nil *Metrics, so that components can take one that is optional.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.HistogramVec
	googleCalls   *prometheus.CounterVec
	googleLatency *prometheus.HistogramVec
	events        *prometheus.CounterVec
	roles         *prometheus.CounterVec
	notifications *prometheus.CounterVec
	cache         *prometheus.CounterVec
}

// New creates the metrics in a registry of their own, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Latency of HTTP requests by route pattern, method and status code.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "code"})
	m.googleCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "google_api_calls_total",
		Help: "Calls to Google APIs by API, method and result code (HTTP status or gRPC code).",
	}, []string{"api", "method", "code"})
	m.googleLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "google_api_call_duration_seconds",
		Help:    "Latency of calls to Google APIs by API and method.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"api", "method"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_events_total",
		Help: "Audit events by kind (SelfActivated, Requested, Approved, ..., and their failures) and outcome (ok or failed).",
	}, []string{"event", "outcome"})
	m.roles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "activated_roles_total",
		Help: "Roles granted, by type: JIT (self-approved) or MPA (peer-approved).",
	}, []string{"type"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "notifications_total",
		Help: "Notifications by channel (email, pubsub, chat, webhook) and outcome (sent, failed, dropped).",
	}, []string{"channel", "outcome"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_lookups_total",
		Help: "Cache lookups by cache and result (hit or miss).",
	}, []string{"cache", "result"})
	m.reg.MustRegister(m.requests, m.googleCalls, m.googleLatency, m.events, m.roles, m.notifications, m.cache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics live, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one HTTP request. route is the router's pattern
// ("/api/projects/{projectId}/roles"), or "unmatched" when none matched.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, knownMethod(method), statusCode(status)).Observe(elapsed.Seconds())
}

// knownMethod keeps made-up HTTP methods out of the labels.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// Event records an audit event; failed says whether it records a failure.
func (m *Metrics) Event(kind string, failed bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if failed {
		outcome = "failed"
	}
	m.events.WithLabelValues(kind, outcome).Inc()
}

// RolesActivated records n roles granted; typ is "JIT" or "MPA".
func (m *Metrics) RolesActivated(typ string, n int) {
	if m == nil {
		return
	}
	m.roles.WithLabelValues(typ).Add(float64(n))
}

// Notification records one notification; outcome is "sent", "failed" or
// "dropped" (the queue was full).
func (m *Metrics) Notification(channel, outcome string) {
	if m == nil {
		return
	}
	m.notifications.WithLabelValues(channel, outcome).Inc()
}

// CacheLookup records a cache lookup. It is the hook for caches of reads
// (eligible roles, projects): cache is the cache's name.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cache.WithLabelValues(cache, result).Inc()
}

// CounterFunc registers a counter whose value fn reports, for components
// that count on their own (internal/iam's Stats).
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, fn))
}
