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
