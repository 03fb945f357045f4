package proxy

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Upstreams are not part of the Caddy configuration. Every app's route
// runs the not-running handler, which names the app in a request variable,
// then invokes the one shared reverse_proxy, whose "xcloud" dynamic
// upstream source reads that app's current upstreams from the *Proxy's
// table on every request. Apply swaps the
// whole table atomically, so a deploy (which only changes upstreams) never
// reloads Caddy and never replaces its HTTP servers.
//
// Retries across a swap: Caddy's reverse_proxy calls GetUpstreams at the
// start of every iteration of its load-balancing loop (Handler.
// proxyLoopIteration in caddy v2.11.9 modules/caddyhttp/reverseproxy/
// reverseproxy.go), not once per request. A GET whose upstream died during
// a deploy (dial error, or a connection error for a GET) is counted as a
// failure for that address (passive health), and after lb_try_interval the
// next iteration sees the new table and is retried on a new upstream, for
// up to lb_try_duration.
//
// Passive health: Caddy provisions every upstream returned by a dynamic
// source itself (Handler.provisionUpstream with dynamic=true): it sets the
// health-check policy and fills Upstream.Host from a process-global map
// keyed by the dial address (fillDynamicHost), so the failure count of an
// address survives across requests, table swaps and reloads, exactly as
// for static upstreams.

func init() {
	caddy.RegisterModule(upstreamSource{})
	caddy.RegisterModule(notRunningHandler{})
}

// tables maps a table ID to its *upstreamTable. It is the package's only
// global state, and it exists because Caddy instantiates modules from
// JSON: a module can reach the *Proxy whose upstreams it serves only
// through a name written into the configuration. Each Proxy has a unique
// table ID (tableSeq), so several Proxies in one process (tests) never
// share upstreams. Modules resolve their table once, when provisioned, and
// keep the pointer, so removing an entry (Proxy.Close) does not disturb
// requests still in flight on a stopping server.
var tables sync.Map

// tableSeq numbers the tables of the process.
var tableSeq atomic.Uint64

// upstreamTable is the set of upstreams of every app of one Proxy.
type upstreamTable struct {
	id   string
	apps atomic.Pointer[map[string][]string] // app → validated dial addresses
	// addrs holds every dial address in apps: a connection to any other
	// is to a retired container, and is not kept.
	addrs atomic.Pointer[map[string]struct{}]
	// metrics is Config.Metrics, for the xcloud_metrics handlers.
	metrics Metrics
	// handoffs are the Proxy's sockets, for xcloud_handoff (listen.go).
	handoffs atomic.Pointer[map[string]*handoff]

	mu    sync.Mutex
	pools map[*transport]struct{} // transports of the loaded configurations
}

func newUpstreamTable() *upstreamTable {
	t := &upstreamTable{id: "xcloud-" + strconv.FormatUint(tableSeq.Add(1), 10)}
	t.set(&map[string][]string{})
	t.pools = make(map[*transport]struct{})
	return t
}

// set makes upstreams the table's and returns the previous ones.
func (t *upstreamTable) set(upstreams *map[string][]string) *map[string][]string {
	addrs := make(map[string]struct{}, len(*upstreams))
	for _, dials := range *upstreams {
		for _, d := range dials {
			addrs[d] = struct{}{}
		}
	}
	t.addrs.Store(&addrs)
	return t.apps.Swap(upstreams)
}

// live reports whether addr is an upstream of some app.
func (t *upstreamTable) live(addr string) bool {
	_, ok := (*t.addrs.Load())[addr]
	return ok
}

// retire closes the pooled idle connections to the addresses in prev that
// are no longer upstreams; connections in use close when their exchange
// ends (transport.release checks live). Without it a retired container's
// connections would wait for the idle timeout, in CLOSE_WAIT once the
// container is gone.
func (t *upstreamTable) retire(prev *map[string]struct{}) {
	now := *t.addrs.Load()
	var gone []string
	for addr := range *prev {
		if _, ok := now[addr]; !ok {
			gone = append(gone, addr)
		}
	}
	if len(gone) == 0 {
		return
	}
	t.mu.Lock()
	pools := make([]*transport, 0, len(t.pools))
	for tr := range t.pools {
		pools = append(pools, tr)
	}
	t.mu.Unlock()
	for _, tr := range pools {
		tr.closeIdle(gone)
	}
}

// addPool and removePool register the transports whose connections retire
// closes.
func (t *upstreamTable) addPool(tr *transport) {
	t.mu.Lock()
	t.pools[tr] = struct{}{}
	t.mu.Unlock()
}

func (t *upstreamTable) removePool(tr *transport) {
	t.mu.Lock()
	delete(t.pools, tr)
	t.mu.Unlock()
}

// lookupTable returns the registered table id.
func lookupTable(id string) (*upstreamTable, error) {
	t, ok := tables.Load(id)
	if !ok {
		return nil, fmt.Errorf("unknown xcloud upstream table %q", id)
	}
	return t.(*upstreamTable), nil
}

// retryAfter is the Retry-After, in seconds, of a known app that has no
// upstream.
const retryAfter = "2"

// appVar is the request variable holding the name of the request's app,
// set by notRunningHandler for the shared upstreamSource.
const appVar = "xcloud.app"

// upstreamSource is the Caddy module http.reverse_proxy.upstreams.xcloud:
// a reverse_proxy's upstreams are the current upstreams in Table of App,
// or, when App is empty, of the app named by the request's appVar.
type upstreamSource struct {
	Table string `json:"table"`
	App   string `json:"app"`

	table *upstreamTable
}

// CaddyModule returns the Caddy module information.
func (upstreamSource) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.xcloud",
		New: func() caddy.Module { return new(upstreamSource) },
	}
}

// Provision resolves the table.
func (s *upstreamSource) Provision(caddy.Context) (err error) {
	s.table, err = lookupTable(s.Table)
	return err
}

// GetUpstreams returns fresh Upstream values for the app's current dial
// addresses (nil when it has none; the not-running route answers those
// requests). The values cannot be shared between requests: Caddy writes
// to every upstream a source returns (provisionUpstream sets Host, the
// health-check policy and the circuit breaker), and the built-in sources
// allocate them per call too. The call makes two allocations, whatever the
// number of upstreams.
func (s *upstreamSource) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	app := s.App
	if app == "" {
		app, _ = caddyhttp.GetVar(r.Context(), appVar).(string)
	}
	dials := (*s.table.apps.Load())[app]
	if len(dials) == 0 {
		return nil, nil
	}
	ups := make([]reverseproxy.Upstream, len(dials))
	out := make([]*reverseproxy.Upstream, len(dials))
	for i, d := range dials {
		ups[i].Dial = d
		out[i] = &ups[i]
	}
	return out, nil
}

// notRunningHandler is the Caddy HTTP handler
// http.handlers.xcloud_not_running, placed before the app's reverse_proxy:
// while App has no upstreams in Table it answers 503 "app NAME is not
// running" with Retry-After, else it passes the request on. reverse_proxy cannot answer that
// case itself: with no upstream it keeps retrying for lb_try_duration (5s)
// before failing, and an error from GetUpstreams only makes it fall back to
// static upstreams. (A handler rather than a matcher plus static_response
// in a subroute: that costs three more modules per app on every reload.)
type notRunningHandler struct {
	Table string `json:"table"`
	App   string `json:"app"`

	table *upstreamTable
	body  []byte
	app   any // App, boxed once so that setting appVar does not allocate
}

// CaddyModule returns the Caddy module information.
func (notRunningHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xcloud_not_running",
		New: func() caddy.Module { return new(notRunningHandler) },
	}
}

// Provision resolves the table.
func (h *notRunningHandler) Provision(caddy.Context) (err error) {
	h.body = []byte("app " + h.App + " is not running\n")
	h.app = h.App
	h.table, err = lookupTable(h.Table)
	return err
}

// ServeHTTP answers 503 while the app has no upstreams, else names the
// app for the shared reverse_proxy.
func (h *notRunningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if len((*h.table.apps.Load())[h.App]) > 0 {
		caddyhttp.SetVar(r.Context(), appVar, h.app)
		return next.ServeHTTP(w, r)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(h.body)))
	// The app is known: its containers are starting (the daemon routes
	// every known app at start-up) or being replaced. Clients and
	// monitors should come back soon rather than give up, as on a 404.
	hdr.Set("Retry-After", retryAfter)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, err := w.Write(h.body)
	return err
}

// Interface guards.
var (
	_ reverseproxy.UpstreamSource = (*upstreamSource)(nil)
	_ caddy.Provisioner           = (*upstreamSource)(nil)
	_ caddyhttp.MiddlewareHandler = (*notRunningHandler)(nil)
	_ caddy.Provisioner           = (*notRunningHandler)(nil)
)
