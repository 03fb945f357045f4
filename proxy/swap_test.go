package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keepAliveClient is client with connection reuse, as browsers and most
// HTTP clients do.
func keepAliveClient(addr string) *http.Client {
	c := client(addr, nil)
	tr := c.Transport.(*http.Transport)
	tr.DisableKeepAlives = false
	tr.MaxIdleConnsPerHost = 4
	return c
}

// countLoads makes p count its Caddy reloads.
func countLoads(p *Proxy) *atomic.Int64 {
	var n atomic.Int64
	load := p.load
	p.load = func(cfgJSON []byte) error {
		n.Add(1)
		return load(cfgJSON)
	}
	return &n
}

func TestApplyUpstreamsOnlyDoesNotReload(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	loads := countLoads(p)
	b1 := backend(t, "backend1", nil)
	b2 := backend(t, "backend2", nil)
	c := client(cfg.HTTPListen, nil)

	apply := func(routes []Route, wantLoads int64) {
		t.Helper()
		before := loads.Load()
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := loads.Load() - before; got != wantLoads {
			t.Fatalf("Apply reloaded Caddy %d times, want %d", got, wantLoads)
		}
	}

	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}
	apply(routes, 1)
	loaded := string(p.loaded)
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")

	routes[0].Upstreams = []string{upstream(b2)}
	apply(routes, 0)
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend2")

	// Scaling to zero and back is an upstream change too.
	routes[0].Upstreams = nil
	apply(routes, 0)
	wantBody(t, c, "http://a.test/", http.StatusServiceUnavailable, "app a is not running\n")
	routes[0].Upstreams = []string{upstream(b1)}
	apply(routes, 0)
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
	if string(p.loaded) != loaded {
		t.Fatal("configuration changed by upstream-only Applies")
	}
	if strings.Contains(loaded, upstream(b1)) || strings.Contains(loaded, upstream(b2)) {
		t.Fatalf("configuration contains an upstream address:\n%s", loaded)
	}

	// Hosts are structure: a new one needs a reload.
	routes[0].Hosts = append(routes[0].Hosts, "b.test")
	apply(routes, 1)
	wantBody(t, c, "http://b.test/", http.StatusOK, "backend1")

	// A rejected configuration leaves the upstreams alone as well.
	p.load = func([]byte) error { return errors.New("rejected") }
	bad := []Route{{App: "a", Hosts: []string{"a.test", "c.test"}, Upstreams: []string{upstream(b2)}}}
	if err := p.Apply(ctx, bad); err == nil {
		t.Fatal("Apply with a failing loader succeeded")
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
}

func TestProxiesHaveTheirOwnTables(t *testing.T) {
	ctx := context.Background()
	b1 := backend(t, "backend1", nil)
	b2 := backend(t, "backend2", nil)
	p1, _ := startProxy(t, TLSOff)
	p2, cfg2 := startProxy(t, TLSOff)
	if p1.table.id == p2.table.id {
		t.Fatalf("two proxies share table %q", p1.table.id)
	}
	if err := p1.Apply(ctx, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p2.Apply(ctx, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b2)}}}); err != nil {
		t.Fatal(err)
	}
	wantBody(t, client(cfg2.HTTPListen, nil), "http://a.test/", http.StatusOK, "backend2")
	if got := (*p1.table.apps.Load())["a"]; len(got) != 1 || got[0] != upstream(b1) {
		t.Fatalf("p1's table changed to %q", got)
	}
}

// loadResult summarises the requests of runLoad.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
}

func (r *loadResult) fail(msg string) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, msg)
	}
	r.mu.Unlock()
}

// runLoad sends GETs to url from 16 goroutines, noKeepAlive of them
// opening a connection per request and the others reusing keep-alive
// connections, until stop is closed, 10s passed or each sent 20000
// requests. A request fails unless it gets 200 with one of the bodies in
// ok. wait waits for the goroutines.
func runLoad(addr, url string, tlsCfg *tls.Config, noKeepAlive int, stop <-chan struct{}, ok ...string) (res *loadResult, wait func()) {
	res = new(loadResult)
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for g := range 16 {
		c := client(addr, tlsCfg)
		c.Transport.(*http.Transport).DisableKeepAlives = false
		c.Transport.(*http.Transport).MaxIdleConnsPerHost = 4
		kind := "keep-alive"
		if g < noKeepAlive {
			c = client(addr, tlsCfg)
			kind = "no keep-alive"
		}
		wg.Go(func() {
			defer c.CloseIdleConnections()
			for range 20000 {
				select {
				case <-stop:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				status, body, _, err := tryGet(c, url)
				switch {
				case err != nil:
					res.fail(fmt.Sprintf("%s: %v", kind, err))
				case status != http.StatusOK || !contains(ok, body):
					res.fail(fmt.Sprintf("%s: %d %q", kind, status, body))
				default:
					res.ok.Add(1)
				}
			}
		})
	}
	return res, wg.Wait
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *loadResult) check(t *testing.T) {
	t.Helper()
	t.Logf("%d requests succeeded, %d failed", r.ok.Load(), r.failed.Load())
	if r.failed.Load() > 0 {
		t.Errorf("%d of %d requests failed, e.g.:\n%s", r.failed.Load(),
			r.failed.Load()+r.ok.Load(), strings.Join(r.errs, "\n"))
	}
	if r.ok.Load() < 100 {
		t.Errorf("only %d requests succeeded: too little load", r.ok.Load())
	}
}

// TestSwapUpstreamsUnderLoad swaps the upstreams of an app 20 times while
// 16 clients keep requesting it: no request may fail.
func TestSwapUpstreamsUnderLoad(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	loads := countLoads(p)
	b1 := backend(t, "backend1", nil)
	b2 := backend(t, "backend2", nil)
	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	res, wait := runLoad(cfg.HTTPListen, "http://a.test/", nil, 4, stop, "backend1", "backend2")
	time.Sleep(100 * time.Millisecond)
	for i := range 20 {
		routes[0].Upstreams = []string{upstream(b2)}
		if i%2 == 1 {
			routes[0].Upstreams = []string{upstream(b1)}
		}
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wait()
	res.check(t)
	if n := loads.Load(); n != 1 {
		t.Errorf("Caddy was loaded %d times, want 1", n)
	}
}

// TestRedeployUnderLoad redeploys an app 20 times under load the way the
// daemon does: start the new container, Apply, stop the old one. Requests
// that raced with the swap are retried on the new upstream.
func TestRedeployUnderLoad(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	names := []string{"backend1", "backend2"}
	old := backend(t, names[0], nil)
	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(old)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	res, wait := runLoad(cfg.HTTPListen, "http://a.test/", nil, 4, stop, names...)
	time.Sleep(100 * time.Millisecond)
	for i := range 20 {
		next := backend(t, names[(i+1)%2], nil)
		routes[0].Upstreams = []string{upstream(next)}
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatal(err)
		}
		old.Close() // waits for the requests it is serving
		old = next
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wait()
	res.check(t)
}

// TestReloadUnderLoad changes the hosts of another app under load from
// keep-alive clients, which reloads Caddy and replaces its HTTP server: no
// request may fail.
func TestReloadUnderLoad(t *testing.T) { testReloadUnderLoad(t, TLSOff, 0) }

// TestReloadUnderLoadNoKeepAlive is TestReloadUnderLoad with 4 of the 16
// clients opening a connection per request. Before the proxy accepted on
// its own sockets (listen.go) a few of those requests failed on every
// reload: reset at connect when Caddy closed the old SO_REUSEPORT socket
// with connections queued on it, or EOF when a stopping server closed a
// connection it had accepted but not read yet.
func TestReloadUnderLoadNoKeepAlive(t *testing.T) { testReloadUnderLoad(t, TLSOff, 4) }

// TestReloadUnderLoadHTTPS is TestReloadUnderLoadNoKeepAlive over HTTPS,
// where a connection's request comes only after the TLS handshake.
func TestReloadUnderLoadHTTPS(t *testing.T) { testReloadUnderLoad(t, TLSInternal, 4) }

func testReloadUnderLoad(t *testing.T, mode TLSMode, noKeepAlive int) {
	ctx := context.Background()
	p, cfg := startProxy(t, mode)
	loads := countLoads(p)
	b1 := backend(t, "backend1", nil)
	routes := []Route{
		{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}},
		{App: "b", Hosts: []string{"b.test"}, Upstreams: []string{upstream(b1)}},
	}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatal(err)
	}
	addr, url := cfg.HTTPListen, "http://a.test/"
	var tlsCfg *tls.Config
	if mode != TLSOff {
		addr, url = cfg.HTTPSListen, "https://a.test/"
		roots := proxyRoots(t, p)
		tlsCfg = &tls.Config{RootCAs: roots}
		// The certificate is obtained in the background.
		eventually(t, 20*time.Second, func() error {
			_, _, _, err := tryGet(client(addr, tlsCfg), url)
			return err
		})
	}

	stop := make(chan struct{})
	res, wait := runLoad(addr, url, tlsCfg, noKeepAlive, stop, "backend1")
	time.Sleep(100 * time.Millisecond)
	for i := range 5 {
		routes[1].Hosts = []string{fmt.Sprintf("b%d.test", i)}
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wait()
	if n := loads.Load(); n != 6 {
		t.Errorf("Caddy was loaded %d times, want 6", n)
	}
	res.check(t)
}

// BenchmarkApply500Reload measures a structural change with 500 apps: one
// host changes per iteration, so every Apply reloads Caddy.
func BenchmarkApply500Reload(b *testing.B) {
	ctx := context.Background()
	p, _ := startProxy(b, TLSOff)
	routes := benchRoutes()
	if err := p.Apply(ctx, routes); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		routes[i%500].Hosts = []string{routes[i%500].Hosts[0], fmt.Sprintf("x%d.example.com", i)}
		if err := p.Apply(ctx, routes); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRoutes are 500 apps with two hosts and one upstream each.
func benchRoutes() []Route {
	routes := make([]Route, 500)
	for i := range routes {
		routes[i] = Route{
			App:       fmt.Sprintf("app%03d", i),
			Hosts:     []string{fmt.Sprintf("app%03d.xcloud.localhost", i), fmt.Sprintf("www.app%03d.example.com", i)},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", 20000+i)},
		}
	}
	return routes
}

// BenchmarkGetUpstreams measures the per-request cost of the upstream
// source.
func BenchmarkGetUpstreams(b *testing.B) {
	t := newUpstreamTable()
	t.apps.Store(&map[string][]string{"a": {"127.0.0.1:1", "127.0.0.1:2"}})
	s := &upstreamSource{App: "a", table: t}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		if ups, _ := s.GetUpstreams(r); len(ups) != 2 {
			b.Fatal(len(ups))
		}
	}
}
