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
	if r.ProtoMajor >= 2 {
		growStack() // a goroutine per request (see growStack)
	}
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

// stackReserve is the room growStack makes on the stack: with it, the
// rest of a proxied request (routes, reverse_proxy, the transport) runs
// without the stack growing again.
const stackReserve = 16 << 10

// growStack grows the stack of the calling goroutine once, to what
// serving the rest of the request takes.
//
// HTTP/2 and HTTP/3 run every request in a goroutine of its own, which
// starts with a small stack, and the handler chain grew it on its way
// down, each time copying every frame below (13% of the CPU of HTTP/2
// requests in a profile). HTTP/1.1 serves a connection's
// requests on one goroutine, whose stack stays grown. Growing it here,
// in one step, copies the frames once.
//
//go:noinline
func growStack() {
	var b [stackReserve]byte
	touchStack(b[:])
}

// touchStack keeps growStack's array, and with it its frame.
//
//go:noinline
func touchStack(b []byte) { b[0] = 1 }
