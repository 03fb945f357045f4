package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Reloads and listening sockets. Left to itself, Caddy binds a new
// SO_REUSEPORT socket for every configuration it loads and closes the old
// one once the new servers run. Meanwhile the kernel spreads new
// connections over both sockets, so some reach the old servers, which are
// about to stop: a connection still queued on the old socket when it
// closes is reset, and one the old server accepted just before stopping
// may be closed unanswered. Both showed up as failed requests whenever a
// new app or host reloaded Caddy under load.
//
// So the proxy binds its TCP ports itself, once, and accepts on them
// itself: each connection is handed to the newest running configuration's
// server. A configuration reaches its socket through the xcloud_handoff
// listener wrapper; the address Caddy binds for it is a placeholder (an
// abstract Unix socket no client knows) that is never accepted on. Once
// a new configuration's server is up, the old servers get no more
// connections; they finish the ones they have and stop. (For the wait
// before a reload, see handoff.)
//
// HTTP/3's UDP socket needs none of this: Caddy shares one QUIC listener
// between configurations while any of them uses it.

func init() { caddy.RegisterModule(handoffWrapper{}) }

// listenAddrs are the addresses a rendered configuration listens on.
type listenAddrs struct {
	HTTP  string // the plain-HTTP server
	HTTPS string // the HTTPS server's TCP listener (HTTP/1.1 and HTTP/2)
	// Handoff, when set, names the table whose handoffs feed the
	// servers' TCP listeners (see handoffWrapper), HTTP and HTTPS are
	// placeholders, and H3 is the HTTPS server's UDP listener (HTTP/3).
	// Without it, Caddy binds HTTPS for HTTP/3 too.
	H3      string
	Handoff string
}

// configuredAddrs are the addresses of cfg as Caddy would bind them itself.
func configuredAddrs(cfg Config) listenAddrs {
	return listenAddrs{HTTP: cfg.HTTPListen, HTTPS: cfg.HTTPSListen}
}

// The names of a Proxy's sockets, in its handoffs and in handoffWrapper.
const (
	socketHTTP  = "http"
	socketHTTPS = "https"
)

// sockets are a Proxy's bound TCP ports and their handoffs.
type sockets struct {
	table    string
	tls      bool
	h3       string // the HTTP/3 listen address
	handoffs map[string]*handoff
	loads    uint64 // configurations rendered, for unique placeholders
}

// bindSockets binds the TCP ports of cfg and starts handing their
// connections over. table names the Proxy in the configuration.
func bindSockets(ctx context.Context, cfg Config, table string) (*sockets, error) {
	s := &sockets{table: table, handoffs: make(map[string]*handoff)}
	if err := s.bind(ctx, socketHTTP, cfg.HTTPListen); err != nil {
		return nil, err
	}
	if cfg.TLS != "" && cfg.TLS != TLSOff {
		if err := s.bind(ctx, socketHTTPS, cfg.HTTPSListen); err != nil {
			s.close()
			return nil, err
		}
		s.tls = true
		s.h3 = "udp/" + cfg.HTTPSListen
	}
	return s, nil
}

// next returns the addresses of the next configuration. Each
// configuration binds placeholders of its own, which close with its
// servers; they are unique per process too, as tests run several daemons,
// and a process several Proxies, at once.
func (s *sockets) next() listenAddrs {
	s.loads++
	placeholder := func(name string) string {
		return fmt.Sprintf("unix/@%s-%d-%s-%d", s.table, os.Getpid(), name, s.loads)
	}
	a := listenAddrs{HTTP: placeholder(socketHTTP), Handoff: s.table}
	if s.tls {
		a.HTTPS, a.H3 = placeholder(socketHTTPS), s.h3
	}
	return a
}

// bind binds addr and starts its handoff under name.
func (s *sockets) bind(ctx context.Context, name, addr string) error {
	if addr == "" {
		return errors.New("listen address is empty")
	}
	// No SO_REUSEPORT (Caddy sets it on the sockets it binds): the
	// proxy binds each port once, and a second process on the same
	// port is an error, not a silent share.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	s.handoffs[name] = startHandoff(ln)
	return nil
}

// pause pauses every handoff before a reload (see handoff).
func (s *sockets) pause(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range s.handoffs {
		wg.Go(func() { h.pause(ctx) })
	}
	wg.Wait()
}

// resume ends pause, whether the reload succeeded or not.
func (s *sockets) resume() {
	for _, h := range s.handoffs {
		h.resume()
	}
}

// close stops accepting on the sockets and closes them. Connections
// already handed over are the servers'.
func (s *sockets) close() error {
	var errs []error
	for _, h := range s.handoffs {
		errs = append(errs, h.close())
	}
	s.handoffs = nil
	return errors.Join(errs...)
}

// handoff accepts the connections of one socket and hands each to the
// newest of the servers' listeners (acceptors) still open.
//
// A server told to stop closes unanswered every connection whose request
// it has not read yet (net/http), so before a reload the proxy pauses the
// handoff: new connections wait for the new configuration's servers, and
// the reload waits until each connection handed over so far has settled
// (its first request reached the handlers, or it closed), or for
// settleWait at most.
type handoff struct {
	ln   net.Listener
	done chan struct{} // closed by close
	wg   sync.WaitGroup

	mu        sync.Mutex
	acceptors []*acceptor   // open ones, oldest first
	changed   chan struct{} // closed (and replaced) when acceptors change
	attached  uint64        // acceptors attached so far
	pausedAt  uint64        // while paused, attached when pause began
	paused    bool
	pending   map[string]*handedConn // unsettled connections by remote address
	settled   chan struct{}          // closed (and replaced) when pending shrinks
}

// settleWait bounds the wait of a reload for connections to settle. A
// browser may open a connection it sends nothing on for seconds; the
// reload does not wait for those.
// A variable for tests.
var settleWait = 250 * time.Millisecond

func startHandoff(ln net.Listener) *handoff {
	h := &handoff{ln: ln, done: make(chan struct{}), changed: make(chan struct{}),
		pending: make(map[string]*handedConn), settled: make(chan struct{})}
	h.wg.Go(h.run)
	return h
}

// run accepts until the socket is closed.
func (h *handoff) run() {
	var delay time.Duration
	for {
		c, err := h.ln.Accept()
		if err != nil {
			select {
			case <-h.done:
				return
			default:
			}
			// Out of file descriptors, say: back off as net/http
			// does, up to a second.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-h.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		h.deliver(&handedConn{TCPConn: c.(*net.TCPConn), h: h, addr: c.RemoteAddr().String()})
	}
}

// deliver hands c to the newest acceptor, waiting for one if there is
// none that may take it (a reload is under way, or a configuration is
// being replaced after a failed start).
func (h *handoff) deliver(c *handedConn) {
	for {
		h.mu.Lock()
		var a *acceptor
		if n := len(h.acceptors); n > 0 && (!h.paused || h.acceptors[n-1].seq > h.pausedAt) {
			a = h.acceptors[n-1]
			c.seq = a.seq
			h.pending[c.addr] = c // before the send: a reload may pause meanwhile
		}
		changed := h.changed
		h.mu.Unlock()
		var conns chan net.Conn // nil: no acceptor, wait for a change
		if a != nil {
			conns = a.conns
		}
		select {
		case conns <- c:
			return
		case <-changed:
			h.unpend(c)
		case <-h.done:
			c.Close()
			return
		}
	}
}

// pause stops handing connections to the acceptors attached so far and
// waits until the connections they were handed have settled, for
// settleWait at most. (Those handed to newer acceptors meanwhile are the
// new servers' and need no wait.)
func (h *handoff) pause(ctx context.Context) {
	h.mu.Lock()
	h.paused, h.pausedAt = true, h.attached
	h.signal()
	h.mu.Unlock()
	deadline := time.NewTimer(settleWait)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		n := 0
		for _, c := range h.pending {
			if c.seq <= h.pausedAt {
				n++
			}
		}
		settled := h.settled
		h.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-settled:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// resume hands connections to the newest acceptor again, whenever it
// was attached.
func (h *handoff) resume() {
	h.mu.Lock()
	h.paused = false
	h.signal()
	h.mu.Unlock()
}

// unpend removes c from the unsettled connections.
func (h *handoff) unpend(c *handedConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending[c.addr] == c {
		delete(h.pending, c.addr)
		close(h.settled)
		h.settled = make(chan struct{})
	}
}

// handedConn is a connection handed to a server. It settles once its
// first request has reached the server's handlers (settleRequest), or
// when it closes.
type handedConn struct {
	*net.TCPConn
	h       *handoff
	addr    string // remote address, its key in h.pending
	seq     uint64 // of the acceptor it was handed to
	settled atomic.Bool
}

func (c *handedConn) Close() error {
	c.settle()
	return c.TCPConn.Close()
}

func (c *handedConn) settle() {
	if !c.settled.Load() && c.settled.CompareAndSwap(false, true) {
		c.h.unpend(c)
	}
}

// attach returns a listener for a server of a configuration being
// started: from now on it gets every new connection. inner is the
// placeholder Caddy bound; it is only closed.
func (h *handoff) attach(inner net.Listener) net.Listener {
	a := &acceptor{h: h, inner: inner, conns: make(chan net.Conn), closed: make(chan struct{})}
	h.mu.Lock()
	h.attached++
	a.seq = h.attached
	h.acceptors = append(h.acceptors, a)
	h.signal()
	h.mu.Unlock()
	return a
}

func (h *handoff) detach(a *acceptor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.acceptors {
		if x == a {
			h.acceptors = append(h.acceptors[:i], h.acceptors[i+1:]...)
			h.signal()
			return
		}
	}
}

// signal wakes deliver; h.mu is held.
func (h *handoff) signal() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// close closes the socket and waits for run to return.
func (h *handoff) close() error {
	close(h.done)
	err := h.ln.Close()
	h.wg.Wait()
	return err
}

// acceptor is the listener a server of one configuration accepts on.
type acceptor struct {
	seq    uint64 // order of attachment
	h      *handoff
	inner  net.Listener
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (a *acceptor) Accept() (net.Conn, error) {
	select {
	case c := <-a.conns:
		return c, nil
	case <-a.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the server's accepting: connections go to the newest
// acceptor still open.
func (a *acceptor) Close() error {
	a.once.Do(func() {
		close(a.closed)
		a.h.detach(a)
	})
	return a.inner.Close()
}

// Addr is the socket's address, not the placeholder's.
func (a *acceptor) Addr() net.Addr { return a.h.ln.Addr() }

// handoffWrapper is the listener wrapper "xcloud_handoff": it replaces the
// listener Caddy bound for a server with connections from the Proxy's own
// socket (see handoff). Table names the Proxy (its upstream table's ID)
// and Socket the socket.
type handoffWrapper struct {
	Table  string `json:"table"`
	Socket string `json:"socket"`

	h *handoff
}

// CaddyModule returns the Caddy module information.
func (handoffWrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.xcloud_handoff",
		New: func() caddy.Module { return new(handoffWrapper) },
	}
}

// Provision finds the socket's handoff, and has the server tell it when a
// connection settles (see handoff).
func (w *handoffWrapper) Provision(ctx caddy.Context) error {
	t, ok := tables.Load(w.Table)
	if !ok {
		return fmt.Errorf("xcloud_handoff: unknown table %q", w.Table)
	}
	h := t.(*upstreamTable).handoff(w.Socket)
	if h == nil {
		return fmt.Errorf("xcloud_handoff: table %q has no socket %q", w.Table, w.Socket)
	}
	w.h = h
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok {
		return errors.New("xcloud_handoff: not in an HTTP server")
	}
	srv.RegisterConnContext(func(ctx context.Context, c net.Conn) context.Context {
		// c is the connection as the server sees it (in TLS, say);
		// its remote address names it among the unsettled ones.
		h.mu.Lock()
		hc := h.pending[c.RemoteAddr().String()]
		h.mu.Unlock()
		if hc == nil {
			return ctx
		}
		return context.WithValue(ctx, handedKey{}, hc)
	})
	return nil
}

// handedKey is the request context key of a connection's *handedConn.
type handedKey struct{}

// settleRequest settles the connection of r, once its first request has
// reached the handlers: past the point where a stopping server would drop
// it. The first handler of every server calls it (fqdnHandler).
func settleRequest(r *http.Request) {
	if hc, ok := r.Context().Value(handedKey{}).(*handedConn); ok {
		hc.settle()
	}
}

// WrapListener is called as the server starts.
func (w *handoffWrapper) WrapListener(ln net.Listener) net.Listener { return w.h.attach(ln) }

// handoffConfig is the listener_wrappers entry of a server on socket.
func handoffConfig(table, socket string) []any {
	// The handoff comes first, so TLS is done on its connections.
	return []any{obj{"wrapper": "xcloud_handoff", "table": table, "socket": socket}, obj{"wrapper": "tls"}}
}

// handoff returns the table's Proxy's handoff of socket, or nil.
func (t *upstreamTable) handoff(socket string) *handoff {
	if hs := t.handoffs.Load(); hs != nil {
		return (*hs)[socket]
	}
	return nil
}
