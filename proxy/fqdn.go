package proxy

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() { caddy.RegisterModule(fqdnHandler{}) }

// fqdnHandler is the Caddy HTTP handler http.handlers.xcloud_fqdn: it
// removes the trailing dot of a fully qualified host name
// ("app.example.com." or "app.example.com.:8080"), which is the same name
// to DNS but which Caddy's host matcher compares as written. Placed first,
// it makes the routes after it, the upstream (Host, X-Forwarded-Host) and
// the proxy's own answers see the name without the dot.
type fqdnHandler struct{}

// CaddyModule returns the Caddy module information.
func (fqdnHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xcloud_fqdn",
		New: func() caddy.Module { return new(fqdnHandler) },
	}
}

func (fqdnHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// First on every server, so also where a connection's first request
	// is known to be served (see handoff).
	settleRequest(r)
	r.Host = trimFQDN(r.Host)
	return next.ServeHTTP(w, r)
}

// trimFQDN removes the dot ending the name of host, a Host header with or
// without a port.
func trimFQDN(host string) string {
	if strings.HasSuffix(host, ".") {
		return host[:len(host)-1]
	}
	// "name.:port"; an IPv6 literal ("[::1]:80") has "]" before the colon.
	if i := strings.LastIndexByte(host, ':'); i > 0 && host[i-1] == '.' {
		return host[:i-1] + host[i:]
	}
	return host
}

var _ caddyhttp.MiddlewareHandler = fqdnHandler{}
