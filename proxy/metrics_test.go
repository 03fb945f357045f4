package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// fakeMetrics records requests per app and status.
type fakeMetrics struct {
	mu       sync.Mutex
	resolved map[string]int // App calls per app
	counts   map[string]int // "app status" → requests
}

func (m *fakeMetrics) App(app string) RequestRecorder {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resolved[app]++
	return fakeRecorder{m: m, app: app}
}

type fakeRecorder struct {
	m   *fakeMetrics
	app string
}

func (r fakeRecorder) ObserveRequest(status int, elapsed time.Duration) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if elapsed <= 0 {
		r.m.counts["bad elapsed"]++
	}
	r.m.counts[r.app+" "+http.StatusText(status)]++
}

func (m *fakeMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[key]
}

func TestMetricsPerApp(t *testing.T) {
	m := &fakeMetrics{resolved: map[string]int{}, counts: map[string]int{}}
	p, cfg := startProxy(t, TLSOff, func(c *Config) { c.Metrics = m })
	web := backend(t, "web", nil)
	routes := []Route{
		{App: "web", Hosts: []string{"web.test"}, Upstreams: []string{upstream(web)}},
		{App: "idle", Hosts: []string{"idle.test"}},
		{App: "site", Hosts: []string{"site.test"}, Root: t.TempDir()},
	}
	if err := p.Apply(context.Background(), routes); err != nil {
		t.Fatal(err)
	}
	c := client(cfg.HTTPListen, nil)
	base := "http://" + cfg.HTTPListen
	for range 3 {
		get(t, c, strings.Replace(base, "127.0.0.1", "web.test", 1)+"/")
	}
	if code, _, _ := get(t, c, strings.Replace(base, "127.0.0.1", "idle.test", 1)+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("idle app answered %d", code)
	}
	get(t, c, strings.Replace(base, "127.0.0.1", "site.test", 1)+"/missing")
	get(t, c, strings.Replace(base, "127.0.0.1", "nobody.test", 1)+"/")

	if n := m.count("web OK"); n != 3 {
		t.Errorf("web 200s = %d, want 3 (counts %v)", n, m.counts)
	}
	if n := m.count("idle Service Unavailable"); n != 1 {
		t.Errorf("idle 503s = %d, want 1 (counts %v)", n, m.counts)
	}
	if n := m.count("site Not Found"); n != 1 {
		t.Errorf("static 404s = %d, want 1 (counts %v)", n, m.counts)
	}
	if n := m.count("bad elapsed"); n != 0 {
		t.Errorf("%d requests reported no elapsed time", n)
	}

	// An upstream-only change does not reload Caddy, so recorders are
	// not resolved again; the unknown host was counted for no app.
	before := m.resolved["web"]
	routes[0].Upstreams = []string{upstream(backend(t, "web2", nil))}
	if err := p.Apply(context.Background(), routes); err != nil {
		t.Fatal(err)
	}
	if m.resolved["web"] != before {
		t.Errorf("recorder resolved again on an upstream swap")
	}
	if len(m.resolved) != 3 {
		t.Errorf("recorders resolved for %v, want the 3 apps", m.resolved)
	}
}

func TestNoMetricsNoHandler(t *testing.T) {
	cfgJSON, err := BuildConfig(Config{HTTPListen: ":80", TLS: TLSOff}, "t", []Route{{App: "a", Hosts: []string{"a.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfgJSON), "xcloud_metrics") {
		t.Error("metrics handler configured without Config.Metrics")
	}
}

type nopRecorder struct{}

func (nopRecorder) ObserveRequest(int, time.Duration) {}

// BenchmarkMetricsHandler is the handler's own per-request cost.
func BenchmarkMetricsHandler(b *testing.B) {
	h := &metricsHandler{rec: nopRecorder{}}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
