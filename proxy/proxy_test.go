package proxy

// Caddy's running configuration is process-global: the tests in this file
// must not use t.Parallel and each one closes its Proxy when done.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freeAddr returns a currently unused loopback TCP address.
//
// The port comes from below the kernel's ephemeral range, which bind(:0)
// and outgoing connections use: a port from there can be taken again
// before the proxy binds it (seen under load). Each is handed out once.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	for range 1000 {
		port := 10000 + mrand.IntN(22000) // 10000–31999, below 32768
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	tb.Fatal("no free port below 32000")
	return ""
}

// handedOut holds the ports freeAddr returned.
var handedOut sync.Map // int → bool

// startProxy creates a Proxy on free loopback ports with its storage in a
// temporary directory and closes it when the test ends.
func startProxy(tb testing.TB, mode TLSMode, opts ...func(*Config)) (*Proxy, Config) {
	tb.Helper()
	cfg := Config{
		HTTPListen:  freeAddr(tb),
		HTTPSListen: freeAddr(tb),
		TLS:         mode,
		StorageDir:  tb.TempDir(),
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	p := New(cfg)
	tb.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return p, cfg
}

// backend starts an HTTP server answering name and counting requests.
func backend(tb testing.TB, name string, hits *atomic.Int64) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		if r.Header.Get("X-Forwarded-Host") == "" {
			http.Error(w, "missing X-Forwarded-Host", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, name)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func upstream(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// client returns an HTTP client that sends every request to addr,
// whatever the URL's host, and does not follow redirects.
func client(addr string, tlsCfg *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   tlsCfg,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches url with c and returns the status, body and Location header.
func get(tb testing.TB, c *http.Client, url string) (int, string, string) {
	tb.Helper()
	status, body, loc, err := tryGet(c, url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return status, body, loc
}

func tryGet(c *http.Client, url string) (int, string, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location"), err
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantBody fetches url and wants status and body. A connection error is
// retried for a while, a wrong answer is not: under load, a request sent
// just after a Caddy reload can find its connection reset or closed
// unanswered, as the old configuration's listener closes with it queued
// (about 1 run in 100 with the CPUs busy). Deploys do not reload Caddy
// (they swap upstreams; the swap tests count every failed request), so
// this is the reload's cost, not a deploy's.
func wantBody(tb testing.TB, c *http.Client, url string, status int, body string) {
	tb.Helper()
	eventually(tb, 5*time.Second, func() error {
		gotStatus, gotBody, _, err := tryGet(c, url)
		if err != nil {
			return err
		}
		if gotStatus != status || gotBody != body {
			tb.Fatalf("GET %s = %d %q, want %d %q", url, gotStatus, gotBody, status, body)
		}
		return nil
	})
}

func TestApplyEndToEnd(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	var hits1, hits2 atomic.Int64
	b1 := backend(t, "backend1", &hits1)
	b2 := backend(t, "backend2", &hits2)
	c := client(cfg.HTTPListen, nil)

	if err := p.Apply(ctx, nil); err != nil {
		t.Fatalf("Apply(nil): %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusNotFound, "no app is served at a.test\n")

	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply same routes again: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")

	routes[0].Upstreams = []string{upstream(b2)}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply switch to backend2: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend2")
	wantBody(t, c, "http://other.test/x", http.StatusNotFound, "no app is served at other.test\n")

	bad := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{"::::"}}}
	if err := p.Apply(ctx, bad); err == nil {
		t.Fatal("Apply with upstream \"::::\" succeeded, want error")
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend2")

	hits1.Store(0)
	hits2.Store(0)
	routes[0].Upstreams = []string{upstream(b1), upstream(b2)}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply two upstreams: %v", err)
	}
	for range 10 {
		if status, body, _ := get(t, c, "http://a.test/"); status != http.StatusOK {
			t.Fatalf("GET = %d %q", status, body)
		}
	}
	if n1, n2 := hits1.Load(), hits2.Load(); n1 != 5 || n2 != 5 {
		t.Errorf("round robin: backend1 got %d, backend2 got %d requests, want 5 and 5", n1, n2)
	}

	// No upstreams: the app is known but not running.
	routes[0].Upstreams = nil
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply without upstreams: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusServiceUnavailable, "app a is not running\n")
}

func TestApplyDeadUpstreamIsSkipped(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	b1 := backend(t, "backend1", nil)
	dead := freeAddr(t) // nothing listens here
	c := client(cfg.HTTPListen, nil)

	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{dead, upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for range 6 {
		wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
	}
}

func TestApplyPortConflict(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := New(Config{HTTPListen: ln.Addr().String(), TLS: TLSOff, StorageDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer p.Close(context.Background())
	if err := p.Apply(context.Background(), nil); err == nil {
		t.Fatal("Apply on a busy port succeeded, want error")
	}
}

func TestApplyCanceledContext(t *testing.T) {
	p, _ := startProxy(t, TLSOff)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Apply(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with canceled context = %v, want context.Canceled", err)
	}
}

func TestCloseThenApplyRestarts(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	b1 := backend(t, "backend1", nil)
	c := client(cfg.HTTPListen, nil)
	routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Caddy closes the listeners asynchronously, right after Stop.
	eventually(t, 5*time.Second, func() error {
		if _, _, _, err := tryGet(c, "http://a.test/"); err == nil {
			return errors.New("proxy still serving after Close")
		}
		return nil
	})
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply after Close: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
}

func TestTLSInternal(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSInternal)
	b1 := backend(t, "backend1", nil)
	if _, err := p.CACertificate(); err == nil {
		t.Fatal("CACertificate before the first Apply succeeded, want error")
	}
	routes := []Route{{App: "app", Hosts: []string{"app.test"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	roots := proxyRoots(t, p)

	// The certificate is obtained asynchronously: poll until served.
	tc := client(cfg.HTTPSListen, &tls.Config{RootCAs: roots, ServerName: "app.test"})
	eventually(t, 20*time.Second, func() error {
		status, body, _, err := tryGet(tc, "https://app.test/")
		if err != nil {
			return err
		}
		if status != http.StatusOK || body != "backend1" {
			return fmt.Errorf("got %d %q", status, body)
		}
		return nil
	})

	// Plain HTTP redirects known hosts to HTTPS and 404s unknown ones.
	c := client(cfg.HTTPListen, nil)
	_, httpsPort, _ := net.SplitHostPort(cfg.HTTPSListen)
	status, _, loc := get(t, c, "http://app.test/path?q=1")
	if want := "https://app.test:" + httpsPort + "/path?q=1"; status != http.StatusPermanentRedirect || loc != want {
		t.Errorf("GET http://app.test/path?q=1 = %d Location %q, want 308 %q", status, loc, want)
	}
	wantBody(t, c, "http://nope.test/", http.StatusNotFound, "no app is served at nope.test\n")

	// A client that connects by IP (no SNI) still reaches the catch-all.
	ic := client(cfg.HTTPSListen, &tls.Config{InsecureSkipVerify: true})
	wantBody(t, ic, "https://"+cfg.HTTPSListen+"/", http.StatusNotFound, "no app is served at 127.0.0.1\n")
}

// BenchmarkApply500 measures a deploy with 500 apps: one app's upstream
// changes per iteration, which swaps the upstream table without reloading
// Caddy.
func BenchmarkApply500(b *testing.B) {
	ctx := context.Background()
	p, _ := startProxy(b, TLSOff)
	routes := benchRoutes()
	if err := p.Apply(ctx, routes); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		routes[i%500].Upstreams = []string{fmt.Sprintf("127.0.0.1:%d", 30000+i%20000)}
		if err := p.Apply(ctx, routes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildConfig500 measures rendering the configuration alone.
func BenchmarkBuildConfig500(b *testing.B) {
	routes := make([]Route, 500)
	for i := range routes {
		routes[i] = Route{
			App:       fmt.Sprintf("app%03d", i),
			Hosts:     []string{fmt.Sprintf("app%03d.xcloud.localhost", i)},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", 20000+i)},
		}
	}
	cfg := Config{HTTPListen: ":80"}
	for b.Loop() {
		if _, err := BuildConfig(cfg, "bench", routes); err != nil {
			b.Fatal(err)
		}
	}
}

// TestACMEConfigLoads checks that Caddy accepts the ACME-mode configuration.
// Only a *.localhost host is routed, for which Caddy uses its internal CA,
// so no ACME server is contacted.
func TestACMEConfigLoads(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSACME, func(c *Config) {
		c.Email = "ops@example.com"
		c.ACMECA = "https://127.0.0.1:1/directory"
	})
	b1 := backend(t, "backend1", nil)
	routes := []Route{{App: "a", Hosts: []string{"a.xcloud.localhost"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	c := client(cfg.HTTPListen, nil)
	status, _, loc := get(t, c, "http://a.xcloud.localhost/")
	if status != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://a.xcloud.localhost:") {
		t.Fatalf("GET http = %d Location %q, want 308 to https", status, loc)
	}

	// Wait for the internal certificate so that no issuance is still
	// writing to the storage directory when the test removes it.
	var pem []byte
	eventually(t, 10*time.Second, func() (err error) {
		pem, err = p.CACertificate()
		return err
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := client(cfg.HTTPSListen, &tls.Config{RootCAs: roots, ServerName: "a.xcloud.localhost"})
	eventually(t, 20*time.Second, func() error {
		status, body, _, err := tryGet(tc, "https://a.xcloud.localhost/")
		if err == nil && (status != http.StatusOK || body != "backend1") {
			err = fmt.Errorf("got %d %q", status, body)
		}
		return err
	})
}

func TestStaticRoute(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>static</h1>\n"), 0o644)
	os.WriteFile(filepath.Join(root, "assets", "app.123.js"), []byte("x()"), 0o644)
	if err := p.Apply(ctx, []Route{{App: "site", Hosts: []string{"site.test"}, Root: root}}); err != nil {
		t.Fatal(err)
	}
	c := client(cfg.HTTPListen, nil)
	resp, err := c.Get("http://site.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<h1>static</h1>\n" || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
		t.Errorf("index: %d %q headers %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = c.Get("http://site.test/assets/app.123.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("asset: %d headers %v", resp.StatusCode, resp.Header)
	}
	wantBody(t, c, "http://site.test/missing", http.StatusNotFound, "")
	if err := p.Apply(ctx, []Route{{App: "site", Hosts: []string{"site.test"}, Root: "relative"}}); err == nil {
		t.Error("a relative root was accepted")
	}
}

// proxyRoots trusts the root of p's local CA, once p has made it.
func proxyRoots(t *testing.T, p *Proxy) *x509.CertPool {
	t.Helper()
	var pem []byte
	eventually(t, 10*time.Second, func() (err error) {
		pem, err = p.CACertificate()
		return err
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("CACertificate returned no PEM certificate: %q", pem)
	}
	return roots
}
