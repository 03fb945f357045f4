package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTP2: HTTPS clients that speak HTTP/2 get the app's answers over
// it, for requests without a body (xcloud's transport) and with one
// (Caddy's), each request on a goroutine of its own (see growStack).
func TestHTTP2(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSInternal)
	echo := backend(t, "backend1", nil)
	routes := []Route{{App: "app", Hosts: []string{"app.test"}, Upstreams: []string{upstream(echo)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, cfg.HTTPSListen)
		},
		TLSClientConfig:   &tls.Config{RootCAs: proxyRoots(t, p), ServerName: "app.test"},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(method string, body io.Reader) error {
		req, err := http.NewRequestWithContext(ctx, method, "https://app.test/", body)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || string(b) != "backend1" || resp.Proto != "HTTP/2.0" {
			return fmt.Errorf("%s: got %s %d %q", method, resp.Proto, resp.StatusCode, b)
		}
		return nil
	}
	// The certificate is obtained asynchronously.
	eventually(t, 20*time.Second, func() error { return get(http.MethodGet, nil) })
	for range 20 {
		if err := get(http.MethodGet, nil); err != nil {
			t.Fatal(err)
		}
		if err := get(http.MethodPost, strings.NewReader("a body")); err != nil {
			t.Fatal(err)
		}
	}
}
