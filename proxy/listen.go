package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
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
// connections. They serve on for shutdown_delay, so that the requests of
// the connections they were handed last arrive (a server told to stop
// closes unanswered any connection whose request it has not read), then
// finish what they have and stop.
//
// HTTP/3's UDP socket needs none of this: Caddy shares one QUIC listener
// between configurations while any of them uses it.

func init() { caddy.RegisterModule(handoffWrapper{}) }

// listenAddrs are the addresses a rendered configuration listens on.
type listenAddrs struct {
	HTTP  string // the plain-HTTP server
	HTTPS string // the HTTPS server's TCP listener (HTTP/1.1 and HTTP/2)
	H3    string // the HTTPS server's UDP listener (HTTP/3)
	// Handoff, when set, names the table whose handoffs feed the
	// servers' TCP listeners (see handoffWrapper).
	Handoff string
}

// configuredAddrs are the addresses of cfg as Caddy would bind them itself.
func configuredAddrs(cfg Config) listenAddrs {
	return listenAddrs{HTTP: cfg.HTTPListen, HTTPS: cfg.HTTPSListen, H3: cfg.HTTPSListen}
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

// next returns the addresses of the next configuration. Its placeholders
// are new: a placeholder that no newer configuration shares tells Caddy
// that the old servers' listeners are closing, which is when it applies
// the app's shutdown_delay (see render). They are unique per process too,
// as tests run several daemons, and a process several Proxies, at once.
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
type handoff struct {
	ln   net.Listener
	done chan struct{} // closed by close
	wg   sync.WaitGroup

	mu        sync.Mutex
	acceptors []*acceptor   // open ones, oldest first
	changed   chan struct{} // closed (and replaced) when acceptors change
}

func startHandoff(ln net.Listener) *handoff {
	h := &handoff{ln: ln, done: make(chan struct{}), changed: make(chan struct{})}
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
		h.deliver(c)
	}
}

// deliver hands c to the newest acceptor, waiting for one if there is
// none (a configuration is being replaced after a failed start).
func (h *handoff) deliver(c net.Conn) {
	for {
		h.mu.Lock()
		var a *acceptor
		if n := len(h.acceptors); n > 0 {
			a = h.acceptors[n-1]
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
		case <-h.done:
			c.Close()
			return
		}
	}
}

// attach returns a listener for a server of a configuration being
// started: from now on it gets every new connection. inner is the
// placeholder Caddy bound; it is only closed.
func (h *handoff) attach(inner net.Listener) net.Listener {
	a := &acceptor{h: h, inner: inner, conns: make(chan net.Conn), closed: make(chan struct{})}
	h.mu.Lock()
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

// Provision finds the socket's handoff.
func (w *handoffWrapper) Provision(caddy.Context) error {
	t, ok := tables.Load(w.Table)
	if !ok {
		return fmt.Errorf("xcloud_handoff: unknown table %q", w.Table)
	}
	h := t.(*upstreamTable).handoff(w.Socket)
	if h == nil {
		return fmt.Errorf("xcloud_handoff: table %q has no socket %q", w.Table, w.Socket)
	}
	w.h = h
	return nil
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
