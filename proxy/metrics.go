package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Metrics receives per-request measurements of every app route. Set
// Config.Metrics to enable it; with it nil the routes carry no metrics
// handler at all.
type Metrics interface {
	// App returns the recorder for one app's requests. It is called when
	// a configuration is loaded, never per request, so implementations
	// can resolve their per-app series there.
	App(app string) RequestRecorder
}

// RequestRecorder records one app's requests. It is called once per
// request, concurrently, and must be cheap.
type RequestRecorder interface {
	// ObserveRequest records a finished request: the status sent (or the
	// status of the error Caddy turns into a response) and the time from
	// the route matching to the handler returning.
	ObserveRequest(status int, elapsed time.Duration)
}

func init() { caddy.RegisterModule(metricsHandler{}) }

// metricsRoute is the JSON of an app's "xcloud_metrics" handler.
type metricsRoute struct {
	Handler string `json:"handler"`
	tableApp
}

// withMetrics puts the metrics handler first in r, so it measures the
// not-running answer, the proxying and static files alike.
func withMetrics(table string, a appPlan, r appRoute) appRoute {
	r.Handle = append([]any{metricsRoute{Handler: "xcloud_metrics", tableApp: tableApp{Table: table, App: a.App}}}, r.Handle...)
	return r
}

// metricsHandler is the Caddy HTTP handler http.handlers.xcloud_metrics:
// it reports each request of App to the Metrics of the Proxy owning Table.
type metricsHandler struct {
	Table string `json:"table"`
	App   string `json:"app"`

	rec RequestRecorder
}

// CaddyModule returns the Caddy module information.
func (metricsHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xcloud_metrics",
		New: func() caddy.Module { return new(metricsHandler) },
	}
}

// Provision resolves the app's recorder once per configuration load.
func (h *metricsHandler) Provision(caddy.Context) error {
	t, err := lookupTable(h.Table)
	if err != nil {
		return err
	}
	if t.metrics == nil {
		return errors.New("xcloud_metrics: the proxy has no metrics")
	}
	h.rec = t.metrics.App(h.App)
	return nil
}

// ServeHTTP times the rest of the route and records its status. The only
// per-request allocation is the status-capturing writer.
func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	sw := &statusWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := next.ServeHTTP(sw, r)
	status := sw.status
	if err != nil && status == 0 {
		// Nothing was written: Caddy answers with the error's status
		// (e.g. 502 when no upstream answered).
		status = http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			status = he.StatusCode
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	h.rec.ObserveRequest(status, time.Since(start))
	return err
}

// statusWriter remembers the final status written. Unwrap (from
// ResponseWriterWrapper) keeps Flush and Hijack reachable through
// http.ResponseController, as Caddy's reverse_proxy uses them.
type statusWriter struct {
	caddyhttp.ResponseWriterWrapper
	status int
}

// WriteHeader records the first final status (1xx other than 101 are
// informational and followed by another).
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*metricsHandler)(nil)
	_ caddy.Provisioner           = (*metricsHandler)(nil)
)
