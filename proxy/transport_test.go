package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// countingServer is an httptest server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// proxyTo starts a proxy serving app "a" at a.test from srv.
func proxyTo(t *testing.T, srv *httptest.Server) (*Proxy, Config) {
	t.Helper()
	p, cfg := startProxy(t, TLSOff)
	if err := p.Apply(context.Background(), []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(srv)}}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return p, cfg
}

func TestTransportReusesConnections(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/chunked":
			w.Write([]byte("chunk1 "))
			w.(http.Flusher).Flush()
			w.Write([]byte("chunk2"))
		default:
			fmt.Fprint(w, "hello ", r.Method)
		}
	}))
	_, cfg := proxyTo(t, srv)
	c := keepAliveClient(cfg.HTTPListen)
	for i := range 30 {
		path := []string{"/", "/empty", "/chunked"}[i%3]
		want := map[string]string{"/": "hello GET", "/empty": "", "/chunked": "chunk1 chunk2"}[path]
		status, body, _ := get(t, c, "http://a.test"+path)
		if status/100 != 2 || body != want {
			t.Fatalf("GET %s = %d %q, want 2xx %q", path, status, body, want)
		}
		req, _ := http.NewRequest(http.MethodHead, "http://a.test/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("HEAD: %v", err)
		}
		resp.Body.Close()
	}
	// One client connection, sequential requests: the proxy needs one
	// upstream connection (the first request dials it).
	if n := conns.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections for 60 sequential requests, want 1", n)
	}
}

func TestTransportUpstreamClosesIdleConnections(t *testing.T) {
	// An app that closes idle keep-alive connections (Node does after 5s,
	// this one after 150ms): the next request, idempotent or not, must not
	// fail for it.
	var closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok ", r.Method)
	}))
	srv.Config.IdleTimeout = 150 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, cfg := proxyTo(t, srv)
	c := keepAliveClient(cfg.HTTPListen)
	for i, method := range []string{"GET", "DELETE", "POST", "GET"} {
		wantBody(t, c, "http://a.test/", http.StatusOK, "ok GET")
		eventually(t, 5*time.Second, func() error {
			if n := closed.Load(); n < int64(i+1) {
				return fmt.Errorf("the app closed %d idle connections, want %d", n, i+1)
			}
			return nil
		})
		req, _ := http.NewRequest(method, "http://a.test/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s after the app closed its idle connection: %v", method, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok "+method {
			t.Fatalf("%s after the app closed its idle connection = %d %q, want 200 %q", method, resp.StatusCode, body, "ok "+method)
		}
	}
}

func TestTransportBodiesAndUpgrades(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo: " + line)
			brw.Flush()
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(body)
	}))
	_, cfg := proxyTo(t, srv)
	c := keepAliveClient(cfg.HTTPListen)
	c.Timeout = 20 * time.Second

	payload := make([]byte, 8<<20)
	rand.Read(payload)
	resp, err := c.Post("http://a.test/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("POST 8 MB: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("POST 8 MB echoed %d bytes (err %v), want the same 8 MB back", len(got), err)
	}

	conn, err := net.Dial("tcp", cfg.HTTPListen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v, want 101", resp, err)
	}
	fmt.Fprint(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("upgraded connection read %q, %v; want %q", line, err, "echo: ping\n")
	}
}

func TestTransportClientGoesAway(t *testing.T) {
	// A client that disconnects while the app is still answering: the
	// proxy must drop the upstream request, not wait for the answer.
	started, gone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			once.Do(func() { close(gone) })
		case <-time.After(30 * time.Second):
		}
	}))
	_, cfg := proxyTo(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a.test/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := client(cfg.HTTPListen, nil).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the app within 10s")
	}
	cancel()
	<-errc
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the app's request was not cancelled within 10s of the client going away")
	}
}

func TestTransportEarlyHints(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		fmt.Fprint(w, "page")
	}))
	_, cfg := proxyTo(t, srv)
	conn, err := net.Dial("tcp", cfg.HTTPListen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	raw, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	text := string(raw)
	hints, final := strings.Index(text, "HTTP/1.1 103"), strings.Index(text, "HTTP/1.1 200")
	if hints < 0 || final < hints || !strings.Contains(text[hints:final], "rel=preload") || !strings.HasSuffix(text, "page") {
		t.Fatalf("want a 103 with the Link header, then 200 \"page\"; got:\n%s", text)
	}
}

// bareTransport is the xcloud transport outside Caddy, dialing with a
// plain dialer, for tests of its pool.
func bareTransport(t *testing.T) *transport {
	t.Helper()
	tr := &transport{
		HTTP:                &reverseproxy.HTTPTransport{Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext}},
		MaxIdleConnsPerHost: 4,
		IdleTimeout:         caddy.Duration(time.Minute),
		idle:                make(map[string][]*upstreamConn),
	}
	t.Cleanup(func() {
		for _, conns := range tr.idle {
			for _, c := range conns {
				c.Close()
			}
		}
	})
	return tr
}

// bareGet sends GET / to addr through tr and reads the whole answer.
func bareGet(t *testing.T, tr *transport, addr string) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestTransportIdleConnectionsHoldNoBuffers(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	tr := bareTransport(t)
	addr := srv.Listener.Addr().String()
	for range 3 {
		if body, err := bareGet(t, tr, addr); err != nil || body != "hello" {
			t.Fatalf("GET = %q, %v; want hello", body, err)
		}
		tr.mu.Lock()
		idle := tr.idle[addr]
		tr.mu.Unlock()
		if len(idle) != 1 {
			t.Fatalf("%d idle connections after an exchange, want 1", len(idle))
		}
		if idle[0].br != nil || idle[0].bw != nil {
			t.Fatal("an idle connection kept its read or write buffer")
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections for 3 sequential requests, want 1", n)
	}
}

func TestTransportDropsConnectionWithUnaskedBytes(t *testing.T) {
	// An upstream that sends bytes after its answer's end: the connection
	// is out of step, and the next request must not read them as its
	// answer's start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the listener closes, then the server's
	// goroutines are waited for (the transport's cleanup, registered
	// later, has closed its connections by then).
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					// The extra bytes go with the answer, in one write, so
					// they are read with it.
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX"); err != nil {
						return
					}
				}
			})
		}
	})
	tr := bareTransport(t)
	addr := ln.Addr().String()
	for i := range 2 {
		if body, err := bareGet(t, tr, addr); err != nil || body != "ok" {
			t.Fatalf("GET %d = %q, %v; want ok", i+1, body, err)
		}
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("upstream accepted %d connections, want 2 (the first one dropped)", n)
	}
}
