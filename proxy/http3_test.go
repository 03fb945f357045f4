package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// TestHTTP3: with TLS on, the HTTPS listener also serves HTTP/3 (QUIC on
// the same port, over UDP) and HTTPS answers advertise it in Alt-Svc.
func TestHTTP3(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSInternal)
	b1 := backend(t, "backend1", nil)
	routes := []Route{{App: "app", Hosts: []string{"app.test"}, Upstreams: []string{upstream(b1)}}}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	roots := proxyRoots(t, p)
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "app.test"}

	// HTTP/2 over TCP first: the certificate is obtained asynchronously.
	var altSvc string
	tc := client(cfg.HTTPSListen, tlsCfg)
	eventually(t, 20*time.Second, func() error {
		resp, err := tc.Get("https://app.test/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		altSvc = resp.Header.Get("Alt-Svc")
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if !strings.Contains(altSvc, "h3=") {
		t.Errorf("Alt-Svc = %q, want h3 advertised", altSvc)
	}

	tr := &http3.Transport{
		TLSClientConfig: tlsCfg,
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 2 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qcfg *quic.Config) (*quic.Conn, error) {
			return quic.DialAddrEarly(ctx, cfg.HTTPSListen, tlsCfg, qcfg)
		},
	}
	defer tr.Close()
	h3 := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	eventually(t, 10*time.Second, func() error {
		resp, err := h3.Get("https://app.test/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || string(body) != "backend1" || resp.Proto != "HTTP/3.0" {
			return fmt.Errorf("got %s %d %q", resp.Proto, resp.StatusCode, body)
		}
		return nil
	})
}
