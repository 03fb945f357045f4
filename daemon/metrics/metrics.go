// Package metrics exposes the daemon's and the proxy's measurements in the
// Prometheus format. It implements daemon.Observer and proxy.Metrics, and
// serves /metrics from its own registry (no global state), with the Go
// runtime and process collectors.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xcloud-dev/xcloud/proxy"
)

// Metrics holds xcloud's collectors.
type Metrics struct {
	reg *prometheus.Registry

	deploys       *prometheus.CounterVec
	buildDuration *prometheus.HistogramVec
	buildQueue    prometheus.Gauge
	restarts      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	disk          *prometheus.GaugeVec

	mu   sync.Mutex
	apps map[string]*appRecorder // proxy recorders, resolved per config load
}

// Metrics also implements daemon.Observer; the daemon package is not
// imported here to keep this package free of the Podman bindings.
var _ proxy.Metrics = (*Metrics)(nil)

// New registers the collectors on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xcloud_deploys_total",
			Help: "Releases that went live (outcome=succeeded) or failed (outcome=failed), by app.",
		}, []string{"app", "outcome"}),
		buildDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xcloud_build_duration_seconds",
			Help:    "Image build time, waiting for a build slot excluded, by outcome (succeeded, failed, canceled).",
			Buckets: []float64{5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800},
		}, []string{"outcome"}),
		buildQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xcloud_build_queue_length",
			Help: "Builds waiting for a build slot (build.concurrency).",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xcloud_container_restarts_total",
			Help: "Crashed containers the daemon restarted, by app and process type.",
		}, []string{"app", "process"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xcloud_http_requests_total",
			Help: "Requests the proxy served per app, by status class (2xx, 3xx, 4xx, 5xx, 1xx).",
		}, []string{"app", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xcloud_http_request_duration_seconds",
			Help:    "Time the proxy took to answer an app's requests (until the response handler returned).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"app"}),
		disk: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xcloud_disk_bytes",
			Help: "Bytes the daemon keeps on disk, by kind: images (apps' image layers on top of the stack images), build_cache (build layers no release uses, RUN cache mounts), repos, static, logs. Measured every 5 minutes and after each deploy.",
		}, []string{"kind"}),
		apps: map[string]*appRecorder{},
	}
	m.reg.MustRegister(m.deploys, m.buildDuration, m.buildQueue, m.restarts, m.requests, m.latency, m.disk,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the collectors are on (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// DeployFinished implements daemon.Observer.
func (m *Metrics) DeployFinished(app string, succeeded bool) {
	outcome := "failed"
	if succeeded {
		outcome = "succeeded"
	}
	m.deploys.WithLabelValues(app, outcome).Inc()
}

// BuildFinished implements daemon.Observer.
func (m *Metrics) BuildFinished(_, outcome string, elapsed time.Duration) {
	m.buildDuration.WithLabelValues(outcome).Observe(elapsed.Seconds())
}

// BuildQueueChanged implements daemon.Observer.
func (m *Metrics) BuildQueueChanged(waiting int) { m.buildQueue.Set(float64(waiting)) }

// ProcessRestarted implements daemon.Observer.
func (m *Metrics) ProcessRestarted(app, process string) {
	m.restarts.WithLabelValues(app, process).Inc()
}

// DiskUsage implements daemon.Observer.
func (m *Metrics) DiskUsage(kind string, bytes int64) {
	m.disk.WithLabelValues(kind).Set(float64(bytes))
}

// ForgetApp drops a destroyed app's series, so they do not linger.
func (m *Metrics) ForgetApp(app string) {
	m.mu.Lock()
	delete(m.apps, app)
	m.mu.Unlock()
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.deploys, m.restarts, m.requests, m.latency} {
		v.DeletePartialMatch(prometheus.Labels{"app": app})
	}
}

// App implements proxy.Metrics: the app's series are resolved here, once
// per configuration load, so a request costs two atomic updates.
func (m *Metrics) App(app string) proxy.RequestRecorder {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.apps[app]; ok {
		return r
	}
	r := &appRecorder{app: app, requests: m.requests, latency: m.latency.WithLabelValues(app)}
	m.apps[app] = r
	return r
}

// appRecorder is one app's request series. A status class's counter is
// made at its first request: most apps only ever answer one or two
// classes, and each series is about 0.5 KB of heap an app keeps.
type appRecorder struct {
	app      string
	classes  [5]atomic.Pointer[prometheus.Counter] // 1xx … 5xx, nil until counted
	requests *prometheus.CounterVec
	latency  prometheus.Observer
}

// class is the counter of status class i+1 (1xx … 5xx), made if need be.
func (r *appRecorder) class(i int) prometheus.Counter {
	if c := r.classes[i].Load(); c != nil {
		return *c
	}
	// Two requests racing here get the same series from the vector.
	c := r.requests.WithLabelValues(r.app, strconv.Itoa(i+1)+"xx")
	r.classes[i].Store(&c)
	return c
}

// ObserveRequest implements proxy.RequestRecorder.
func (r *appRecorder) ObserveRequest(status int, elapsed time.Duration) {
	if c := status / 100; c >= 1 && c <= 5 {
		r.class(c - 1).Inc()
	} else {
		r.requests.WithLabelValues(r.app, "other").Inc()
	}
	r.latency.Observe(elapsed.Seconds())
}
