package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFixedRoute: the daemon's own host is served whatever routes Apply
// gets, wins over an app claiming it, and streams (SSE) without buffering.
func TestFixedRoute(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprintf(w, "api xff=%s", r.Header.Get("X-Forwarded-For"))
	}))
	defer api.Close()
	defer close(release)
	app := backend(t, "app", nil)
	fixed := Route{App: "xcloud:api", Hosts: []string{"xcloud.test"}, Upstreams: []string{upstream(api)}}
	p, cfg := startProxy(t, TLSOff, func(c *Config) { c.Fixed = []Route{fixed} })
	c := client(cfg.HTTPListen, nil)

	for _, routes := range [][]Route{
		nil,
		{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{upstream(app)}}},
		// An app claiming the daemon's host keeps its other hosts only.
		{{App: "xcloud", Hosts: []string{"XCLOUD.test.", "a.test"}, Upstreams: []string{upstream(app)}}},
	} {
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatalf("Apply(%v): %v", routes, err)
		}
		status, body, _ := get(t, c, "http://xcloud.test/")
		if status != http.StatusOK || !strings.HasPrefix(body, "api xff=127.0.0.1") {
			t.Fatalf("after Apply(%v): GET the API host = %d %q", routes, status, body)
		}
		if len(routes) > 0 {
			wantBody(t, c, "http://a.test/", http.StatusOK, "app")
		}
	}

	// A client's own X-Forwarded-For is not passed on as its address.
	req, _ := http.NewRequest("GET", "http://xcloud.test/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := new(strings.Builder)
	bufio.NewReader(resp.Body).WriteTo(b)
	resp.Body.Close()
	if xff := strings.TrimPrefix(b.String(), "api xff="); strings.Contains(xff, "203.0.113.9") {
		t.Errorf("forged X-Forwarded-For reached the API: %q", xff)
	}

	// An event stream's first event arrives while the handler still runs.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(sctx, "GET", "http://xcloud.test/stream", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event line %q, %v", line, err)
	}
}
