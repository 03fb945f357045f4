package proxy

// Known apps never answer 404, FQDN hosts, dial timeouts, and connections
// to retired upstreams. Like every test using a Proxy: no t.Parallel.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNotRunningAnswers503WithRetryAfter(t *testing.T) {
	p, cfg := startProxy(t, TLSOff)
	// The daemon installs every known app's route at start-up, before its
	// containers are up.
	if err := p.Apply(context.Background(), []Route{{App: "a", Hosts: []string{"a.test"}}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	resp, err := client(cfg.HTTPListen, nil).Get("http://a.test/some/path")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "app a is not running\n" {
		t.Fatalf("GET = %d %q, want 503 %q", resp.StatusCode, body, "app a is not running\n")
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want %q", got, "2")
	}
}

func TestTrailingDotHost(t *testing.T) {
	p, cfg := startProxy(t, TLSOff)
	b1 := backend(t, "backend1", nil)
	if err := p.Apply(context.Background(), []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(b1)}}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	c := client(cfg.HTTPListen, nil)
	wantBody(t, c, "http://a.test./", http.StatusOK, "backend1")
	wantBody(t, c, "http://A.Test.:8080/", http.StatusOK, "backend1")
	wantBody(t, c, "http://other.test./", http.StatusNotFound, "no app is served at other.test\n")
}

// blackhole returns a loopback address whose SYNs go unanswered, like an
// upstream on a machine too loaded to accept: a listener with a backlog of
// 0 whose accept queue is full and is never accepted from.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr // the queue is full: this dial timed out
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("cannot fill a listen queue on this kernel")
	return ""
}

func TestDialFailureRetriesOtherUpstream(t *testing.T) {
	for name, bad := range map[string]func(*testing.T) string{
		"refused":    func(t *testing.T) string { return freeAddr(t) },
		"unanswered": blackhole,
	} {
		t.Run(name, func(t *testing.T) {
			p, cfg := startProxy(t, TLSOff)
			b1 := backend(t, "backend1", nil)
			routes := []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{bad(t), upstream(b1)}}}
			if err := p.Apply(context.Background(), routes); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			c := keepAliveClient(cfg.HTTPListen)
			for i := range 20 {
				start := time.Now()
				wantBody(t, c, "http://a.test/", http.StatusOK, "backend1")
				// The dial timeout bounds the cost of an upstream that
				// does not answer: 1s, then the retry 250ms later
				// (Caddy's default timeout of 3s took 3.25s).
				if d := time.Since(start); d > 2750*time.Millisecond {
					t.Fatalf("request %d took %v", i, d)
				}
			}
		})
	}
}

// connTracker counts a server's open connections.
type connTracker struct{ open atomic.Int64 }

func (ct *connTracker) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		ct.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		ct.open.Add(-1)
	}
}

// waitOpen waits until the server has want open connections.
func (ct *connTracker) waitOpen(t *testing.T, want int64, what string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if n := ct.open.Load(); n != want {
			return fmt.Errorf("%s: the upstream has %d open connections, want %d", what, n, want)
		}
		return nil
	})
}

func TestRetiredUpstreamConnectionsClose(t *testing.T) {
	const parallel = 4
	var (
		ct      connTracker
		arrived = make(chan struct{}, parallel)
		gate    = make(chan struct{}) // closed when parallel requests are in
		held    = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/together": // answers once parallel requests are in flight
			arrived <- struct{}{}
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
		case "/hold":
			held <- struct{}{}
			<-release
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "old")
	}))
	old.Config.ConnState = ct.hook
	old.Start()
	t.Cleanup(old.Close)
	// Close waits for the held handler, should the test fail before.
	unhold := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unhold)
	next := backend(t, "new", nil)

	p, cfg := startProxy(t, TLSOff)
	ctx := context.Background()
	if err := p.Apply(ctx, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(old)}}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	c := keepAliveClient(cfg.HTTPListen)

	// parallel keep-alive connections through xcloud's transport, one of
	// them then held in flight, and one through Caddy's (a request with a
	// body).
	var wg sync.WaitGroup
	errs := make(chan error, parallel+1)
	for range parallel {
		wg.Go(func() {
			if status, body, _, err := tryGet(c, "http://a.test/together"); err != nil || status != 200 || body != "old" {
				errs <- fmt.Errorf("GET /together = %d %q %v", status, body, err)
			}
		})
	}
	for range parallel {
		<-arrived
	}
	close(gate)
	wg.Wait()
	resp, err := c.Post("http://a.test/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	wg.Go(func() {
		if status, body, _, err := tryGet(c, "http://a.test/hold"); err != nil || status != 200 || body != "old" {
			errs <- fmt.Errorf("GET /hold = %d %q %v", status, body, err)
		}
	})
	<-held
	ct.waitOpen(t, parallel+1, "before the swap")

	// The swap retires the old upstream: its idle connections close now,
	// the one in flight once its response is done.
	if err := p.Apply(ctx, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(next)}}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantBody(t, c, "http://a.test/", http.StatusOK, "new")
	ct.waitOpen(t, 1, "after the swap, one request in flight")
	unhold()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ct.waitOpen(t, 0, "after the request in flight ended")
}

func TestIdleUpstreamConnectionsExpire(t *testing.T) {
	defer func(d time.Duration) { upstreamIdleTimeout = d }(upstreamIdleTimeout)
	upstreamIdleTimeout = 300 * time.Millisecond

	var ct connTracker
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = ct.hook
	srv.Start()
	t.Cleanup(srv.Close)
	_, cfg := proxyTo(t, srv)
	c := keepAliveClient(cfg.HTTPListen)
	wantBody(t, c, "http://a.test/", http.StatusOK, "ok")
	resp, err := c.Post("http://a.test/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ct.waitOpen(t, 0, "no requests since")
}

func TestTrimFQDN(t *testing.T) {
	for in, want := range map[string]string{
		"a.test.":      "a.test",
		"a.test.:8080": "a.test:8080",
		"a.test":       "a.test",
		"a.test:8080":  "a.test:8080",
		"[::1]:80":     "[::1]:80",
		"[::1]":        "[::1]",
		"":             "",
		".":            "",
	} {
		if got := trimFQDN(in); got != want {
			t.Errorf("trimFQDN(%q) = %q, want %q", in, got, want)
		}
	}
}

// While routes change, the table keeps the upstreams of apps that are going
// (a destroyed or renamed app's old route still serves until the new
// configuration is in place), and the new entries win.
func TestWithLeaving(t *testing.T) {
	got := *withLeaving(map[string][]string{"new": {"a:1"}, "kept": {"b:2"}},
		map[string][]string{"old": {"a:1"}, "kept": {"c:3"}})
	want := map[string][]string{"new": {"a:1"}, "kept": {"b:2"}, "old": {"a:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withLeaving = %v, want %v", got, want)
	}
}
