// Package proxy runs xcloud's embedded Caddy: it routes HTTP(S) requests
// by Host header to the containers of each app.
//
// Caddy is used as a library in the daemon's process. Its configuration is
// process-global, so a process must run at most one Proxy at a time.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	// Caddy modules referenced by the generated configuration.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/gzip"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/zstd"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	_ "github.com/caddyserver/caddy/v2/modules/caddypki"
	_ "github.com/caddyserver/caddy/v2/modules/caddytls"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// TLSMode selects how the proxy terminates TLS.
type TLSMode string

// The supported TLS modes.
const (
	// TLSOff serves plain HTTP on Config.HTTPListen only.
	TLSOff TLSMode = "off"
	// TLSInternal serves HTTPS with certificates from Caddy's local CA
	// (see Proxy.CACertificate) and redirects HTTP to HTTPS.
	TLSInternal TLSMode = "internal"
	// TLSACME serves HTTPS with certificates from an ACME CA (Let's
	// Encrypt unless Config.ACMECA says otherwise) and redirects HTTP
	// to HTTPS.
	TLSACME TLSMode = "acme"
)

// Config is the static configuration of the proxy.
type Config struct {
	HTTPListen  string  // e.g. ":80" or "127.0.0.1:18080"
	HTTPSListen string  // e.g. ":443"; unused when TLS is off
	TLS         TLSMode // "" means TLSOff
	Email       string  // ACME account e-mail
	ACMECA      string  // optional ACME directory URL; "" = Caddy's default
	StorageDir  string  // Caddy storage root (certificates, local CA)
	Logger      *slog.Logger
	Metrics     Metrics // optional: per-app request metrics (see metrics.go)
	// Fixed routes are served whatever Apply is given, such as the
	// daemon's own API host; their App must not be an app's name. An
	// app's route loses a host a fixed route has.
	Fixed []Route
}

// Route is the desired routing of one app.
type Route struct {
	App       string
	Hosts     []string // e.g. "hello.xcloud.localhost", custom domains
	Upstreams []string // "127.0.0.1:43123"; several are balanced round robin
	// Root, when set, serves the app as static files from this directory
	// instead of proxying. Point it at a stable path (a symlink swapped per
	// release) so a redeploy needs no reload.
	Root string
	// Site, with Root, is how the site wants its files served (routes,
	// redirects, headers, error page); nil serves plain files.
	Site *Site
}

// Proxy drives the process's embedded Caddy instance.
type Proxy struct {
	cfg   Config
	log   *slog.Logger
	table *upstreamTable // the apps' upstreams, read by Caddy per request
	load  func(cfgJSON []byte) error

	mu     sync.Mutex
	loaded []byte    // configuration Caddy is running; nil when stopped
	apps   []appPlan // routing of loaded (hosts and apps; upstreams ignored)
	socks  *sockets  // bound by the first Apply, closed by Close
}

// New returns a Proxy for cfg. It has no side effects; the first Apply
// starts the listeners.
func New(cfg Config) *Proxy {
	log := cfg.Logger
	if log == nil {
		log = slog.Default().With("system", "proxy")
	}
	table := newUpstreamTable()
	table.metrics = cfg.Metrics
	return &Proxy{
		cfg:   cfg,
		log:   log,
		table: table,
		load:  loadCaddy,
	}
}

// Apply makes routes, the complete desired state, the served
// configuration. It is a no-op when nothing changed. The upstreams of all
// apps are swapped at once, atomically, without touching Caddy; Caddy
// reloads its configuration only when the set of apps or their hosts
// changed (or on the first call), which replaces its HTTP servers. If the
// routes are invalid or Caddy rejects the configuration, Apply returns the
// error and the previous routes, upstreams included, keep serving. The
// first call binds the listeners, so calling Apply(ctx, nil) at start-up
// surfaces port conflicts. Calls are serialised.
func (p *Proxy) Apply(ctx context.Context, routes []Route) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	apps, allHosts, upstreams, err := plan(p.withFixed(routes))
	if err != nil {
		p.log.Error("proxy config rejected", "err", err)
		return fmt.Errorf("proxy: %w", err)
	}
	prevAddrs := p.table.addrs.Load()
	if p.loaded != nil && sameStructure(apps, p.apps) {
		// Only upstreams changed (or nothing): requests pick the new
		// ones up immediately, including retries of requests in flight.
		p.table.set(&upstreams)
		p.table.retire(prevAddrs)
		p.apps = apps
		return nil
	}
	if p.socks == nil {
		socks, err := bindSockets(ctx, p.cfg, p.table.id)
		if err != nil {
			p.log.Error("proxy cannot listen", "err", err)
			return fmt.Errorf("proxy: %w", err)
		}
		p.socks = socks
		p.table.handoffs.Store(&socks.handoffs)
	}
	cfgJSON, err := render(p.cfg, p.socks.next(), p.table.id, apps, allHosts)
	if err != nil {
		p.log.Error("proxy config rejected", "err", err)
		p.closeUnused()
		return fmt.Errorf("proxy: %w", err)
	}
	// The new routes find their upstreams in the table while Caddy
	// provisions them; the old ones keep serving meanwhile, from the same
	// table: it keeps the upstreams of apps that are going (or renamed)
	// until the new routes are in place.
	tables.Store(p.table.id, p.table)
	prev := p.table.set(withLeaving(upstreams, *p.table.apps.Load()))
	// New connections wait for the new servers meanwhile (listen.go).
	p.socks.pause(ctx)
	err = p.load(cfgJSON)
	p.socks.resume()
	if err != nil {
		p.table.set(prev)
		p.log.Error("proxy config load failed", "err", err, "routes", len(routes),
			"duration", time.Since(start))
		p.closeUnused()
		return fmt.Errorf("proxy: %w", err)
	}
	p.table.set(&upstreams)
	p.table.retire(prevAddrs)
	p.loaded = cfgJSON
	p.apps = apps
	p.log.Info("proxy config applied", "routes", len(routes), "bytes", len(cfgJSON),
		"duration", time.Since(start))
	return nil
}

// withLeaving returns next plus the entries of apps in prev that next has
// not: the table while routes change.
func withLeaving(next, prev map[string][]string) *map[string][]string {
	both := make(map[string][]string, len(next)+len(prev))
	for app, ups := range prev {
		both[app] = ups
	}
	for app, ups := range next {
		both[app] = ups
	}
	return &both
}

// closeUnused releases the sockets when no configuration serves on them
// (the first load failed), so that the ports are free again.
func (p *Proxy) closeUnused() {
	if p.loaded == nil && p.socks != nil {
		if err := p.socks.close(); err != nil {
			p.log.Warn("closing the proxy's sockets", "err", err)
		}
		p.socks = nil
	}
}

// loadCaddy hands cfgJSON to Caddy, turning a provisioning panic into an
// error.
func loadCaddy(cfgJSON []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("caddy panicked loading config: %v", r)
		}
	}()
	return caddy.Load(cfgJSON, false)
}

// Close stops Caddy; its servers finish in-flight requests (within the
// grace period) and close their listeners asynchronously, right after
// Close returns. A later Apply starts Caddy again.
func (p *Proxy) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded == nil {
		return nil
	}
	p.loaded = nil
	p.apps = nil
	tables.Delete(p.table.id)
	err := caddy.Stop()
	if cerr := p.socks.close(); cerr != nil {
		p.log.Warn("closing the proxy's sockets", "err", cerr)
	}
	p.socks = nil
	if err != nil {
		return fmt.Errorf("proxy: stopping caddy: %w", err)
	}
	return nil
}

// CACertificate returns the PEM-encoded root certificate of Caddy's local
// CA, which signs the certificates of TLSInternal mode; clients trust it to
// verify the proxy. The root exists once a TLS-enabled configuration has
// been applied.
func (p *Proxy) CACertificate() ([]byte, error) {
	dir := p.cfg.StorageDir
	if dir == "" {
		dir = caddy.AppDataDir()
	}
	pem, err := os.ReadFile(filepath.Join(dir, "pki", "authorities", "local", "root.crt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("proxy: local CA not created yet (TLS mode %q): %w", p.cfg.TLS, err)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: reading local CA root: %w", err)
	}
	return pem, nil
}
