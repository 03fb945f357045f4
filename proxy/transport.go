package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// transport is the Caddy module http.reverse_proxy.transport.xcloud: plain
// HTTP/1.1 to the apps' containers, with one goroutine per request.
//
// Go's http.Transport hands every request to a per-connection write
// goroutine and every response back from a read goroutine. With apps
// answering in microseconds those hand-offs (a channel send and a wake-up
// each way) are a measurable part of the proxy's cost. Here the request's
// own goroutine writes the request and reads the response on a pooled
// keep-alive connection. That is only safe when the request has no body: a
// server may answer while it still reads a body, and writing all of it
// first could then deadlock. So requests with a body, and protocol upgrades
// (WebSocket), go to Caddy's standard HTTP transport, HTTP.
//
// A connection idle for a while is checked before reuse with a
// non-blocking peek, so one the app has closed (Node closes idle ones after
// 5s) is not used;
// should an app close one in the instant after, an idempotent request is
// sent once more on a new connection, as http.Transport does.
//
// Containers come and go with deploys, so connections to an upstream that
// left the table are closed (see upstreamTable.retire), and a sweeper
// closes those idle longer than IdleTimeout.
//
// An idle connection holds no buffers: its reader and writer (4 KB each)
// go back to a pool between exchanges, so connections kept to many apps,
// or many to a busy one, cost a socket each and not 8 KB more.
type transport struct {
	// HTTP carries requests with a body and upgrades.
	HTTP *reverseproxy.HTTPTransport `json:"http,omitempty"`
	// MaxIdleConnsPerHost bounds the idle connections kept per upstream.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`
	// IdleTimeout closes connections idle this long (default 2m, Caddy's).
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// Table names the upstream table (see upstreams.go) whose retired
	// upstreams' connections are closed; none when empty.
	Table string `json:"table,omitempty"`

	table   *upstreamTable
	stop    chan struct{} // closed by Cleanup to end the sweeper
	sweeper sync.WaitGroup

	mu     sync.Mutex
	idle   map[string][]*upstreamConn // by dial address; the newest last
	closed bool

	readers, writers sync.Pool // the buffers of connections in use
}

// upstreamConn is a connection to an upstream; its buffers are there while
// it carries an exchange (see transport.attach).
type upstreamConn struct {
	net.Conn
	addr   string // the dial address, its key in the pool
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// bufSize is the size of a connection's read and write buffers.
const bufSize = 4096

// attach gives c its buffers for an exchange.
func (t *transport) attach(c *upstreamConn) {
	if br, ok := t.readers.Get().(*bufio.Reader); ok {
		br.Reset(c.Conn)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(c.Conn, bufSize)
	}
	if bw, ok := t.writers.Get().(*bufio.Writer); ok {
		bw.Reset(c.Conn)
		c.bw = bw
	} else {
		c.bw = bufio.NewWriterSize(c.Conn, bufSize)
	}
}

// detach puts c's buffers back in the pools once its exchange is over.
func (t *transport) detach(c *upstreamConn) {
	if c.br != nil {
		c.br.Reset(nil)
		t.readers.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		t.writers.Put(c.bw)
		c.bw = nil
	}
}

func init() { caddy.RegisterModule(new(transport)) }

// CaddyModule returns the Caddy module information.
func (*transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.xcloud",
		New: func() caddy.Module { return new(transport) },
	}
}

// Provision sets defaults and provisions the standard transport.
func (t *transport) Provision(ctx caddy.Context) error {
	if t.HTTP == nil {
		t.HTTP = new(reverseproxy.HTTPTransport)
	}
	if err := t.HTTP.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning the http transport: %w", err)
	}
	if t.MaxIdleConnsPerHost == 0 {
		t.MaxIdleConnsPerHost = 32
	}
	if t.IdleTimeout == 0 {
		t.IdleTimeout = caddy.Duration(2 * time.Minute)
	}
	t.idle = make(map[string][]*upstreamConn)
	if t.Table != "" {
		table, err := lookupTable(t.Table)
		if err != nil {
			return err
		}
		t.table = table
		table.addPool(t)
	}
	stop := make(chan struct{})
	t.stop = stop
	t.sweeper.Go(func() { t.sweep(stop) })
	return nil
}

// Cleanup closes the idle connections; connections in use are closed when
// their response ends.
func (t *transport) Cleanup() error {
	if t.table != nil {
		t.table.removePool(t)
	}
	t.mu.Lock()
	t.closed = true
	idle := t.idle
	t.idle = nil
	stop := t.stop
	t.stop = nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		t.sweeper.Wait()
	}
	for _, conns := range idle {
		for _, c := range conns {
			c.Close()
		}
	}
	if t.HTTP == nil {
		return nil
	}
	return t.HTTP.Cleanup()
}

// sweep closes the connections idle past IdleTimeout, every half of it,
// until stop is closed. Without it a pool nobody uses any more (the
// upstream left, the traffic stopped) would keep its connections.
func (t *transport) sweep(stop <-chan struct{}) {
	tick := time.NewTicker(max(time.Duration(t.IdleTimeout)/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			t.mu.Lock()
			expired := t.sweepLocked(now)
			t.mu.Unlock()
			for _, c := range expired {
				c.Close()
			}
		}
	}
}

// closeIdle closes the idle connections to addrs, upstreams that left the
// table, in both pools. Caddy's http.Transport can only close all its idle
// connections: requests with a body are few enough to dial again.
func (t *transport) closeIdle(addrs []string) {
	var doomed []*upstreamConn
	t.mu.Lock()
	for _, addr := range addrs {
		doomed = append(doomed, t.idle[addr]...)
		delete(t.idle, addr)
	}
	t.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
	if t.HTTP != nil && t.HTTP.Transport != nil {
		t.HTTP.Transport.CloseIdleConnections()
	}
}

// RoundTrip sends req to the upstream in req.URL.Host.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Body != nil && req.Body != http.NoBody) || req.Header.Get("Upgrade") != "" ||
		(req.URL.Scheme != "" && req.URL.Scheme != "http") {
		return t.HTTP.RoundTrip(req)
	}
	req.URL.Scheme = "http"
	addr := req.URL.Host
	if di, ok := reverseproxy.GetDialInfo(req.Context()); ok {
		addr = di.Address
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := t.conn(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(req, c)
		if err == nil {
			return resp, nil
		}
		c.Close()
		t.detach(c)
		// A reused connection the app closed before answering: send the
		// request once more on a new one, if sending it twice is harmless.
		var fresh errNoResponse
		if !reused || attempt > 0 || !errors.As(err, &fresh) || !idempotent(req.Method) {
			return nil, err
		}
	}
}

// errNoResponse is a failure before the upstream sent a byte of response.
type errNoResponse struct{ error }

func (e errNoResponse) Unwrap() error { return e.error }

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes req on c and reads the response head. The response body
// returns c to the pool when read to its end.
func (t *transport) exchange(req *http.Request, c *upstreamConn) (*http.Response, error) {
	// A client that goes away cancels the context; the deadline unblocks
	// any read or write on c at once. AfterFunc starts no goroutine unless
	// it fires.
	stop := context.AfterFunc(req.Context(), func() { c.SetDeadline(aLongTimeAgo) })
	resp, err := roundTrip(req, c)
	if err != nil {
		stop()
		return nil, err
	}
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		t.release(c, stop, keep)
		return resp, nil
	}
	resp.Body = &upstreamBody{ReadCloser: resp.Body, t: t, c: c, stop: stop, keep: keep}
	return resp, nil
}

// roundTrip writes req on c and reads the head of the final response,
// handing 1xx informational responses (103 Early Hints) to reverse_proxy,
// which forwards them. A failure before the first byte of the response is
// an errNoResponse.
func roundTrip(req *http.Request, c *upstreamConn) (*http.Response, error) {
	if err := req.Write(c.bw); err != nil {
		return nil, errNoResponse{fmt.Errorf("writing the request: %w", err)}
	}
	if err := c.bw.Flush(); err != nil {
		return nil, errNoResponse{fmt.Errorf("writing the request: %w", err)}
	}
	ctx := req.Context()
	if _, err := c.br.Peek(1); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errNoResponse{fmt.Errorf("reading the response: %w", err)}
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, fmt.Errorf("reading the response: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("upstream switched protocols without an Upgrade request")
		case resp.StatusCode >= 200:
			return resp, nil
		}
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// upstreamBody is a response body that gives its connection back to the
// pool once read to the end, and closes it when abandoned before.
type upstreamBody struct {
	io.ReadCloser
	t    *transport
	c    *upstreamConn
	stop func() bool
	keep bool
	done bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true
		b.t.release(b.c, b.stop, b.keep && err == io.EOF)
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if !b.done {
		b.done = true
		b.t.release(b.c, b.stop, false)
	}
	return nil
}

// release ends an exchange on c: back to the pool when keep, else closed.
func (t *transport) release(c *upstreamConn, stop func() bool, keep bool) {
	// stop reports false when the context's deadline fired: c is unusable.
	// Bytes read past the response's end were sent unasked: the
	// connection is out of step with the upstream.
	if !stop() || !keep || c.br.Buffered() > 0 {
		c.Close()
		t.detach(c)
		return
	}
	t.detach(c)
	c.idleAt = time.Now()
	t.mu.Lock()
	// The liveness check is under t.mu, as closeIdle's removal: a
	// connection to an upstream retired meanwhile is either seen here or
	// removed there.
	if t.closed || len(t.idle[c.addr]) >= t.MaxIdleConnsPerHost ||
		(t.table != nil && !t.table.live(c.addr)) {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	t.mu.Unlock()
}

// sweepLocked removes the connections idle past IdleTimeout; t.mu is held.
func (t *transport) sweepLocked(now time.Time) []*upstreamConn {
	var expired []*upstreamConn
	for addr, conns := range t.idle {
		i := 0
		for i < len(conns) && now.Sub(conns[i].idleAt) > time.Duration(t.IdleTimeout) {
			i++
		}
		if i == 0 {
			continue
		}
		expired = append(expired, conns[:i]...)
		if i == len(conns) {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = append(conns[:0], conns[i:]...)
		}
	}
	return expired
}

// conn returns an idle connection to addr that is still open, or dials one.
func (t *transport) conn(ctx context.Context, addr string) (c *upstreamConn, reused bool, err error) {
	now := time.Now()
	for {
		t.mu.Lock()
		conns := t.idle[addr]
		if len(conns) == 0 {
			t.mu.Unlock()
			break
		}
		c = conns[len(conns)-1]
		t.idle[addr] = conns[:len(conns)-1]
		t.mu.Unlock()
		idle := now.Sub(c.idleAt)
		if idle <= time.Duration(t.IdleTimeout) && (idle < checkAfter || stillOpen(c.Conn)) {
			t.attach(c)
			return c, true, nil
		}
		c.Close()
	}
	// Caddy's dialer: its timeout and TCP keep-alive probes, and its errors
	// are reverseproxy.DialError, which reverse_proxy retries for any method.
	nc, err := t.HTTP.Transport.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c = &upstreamConn{Conn: nc, addr: addr}
	t.attach(c)
	return c, false, nil
}

// checkAfter is how long a connection idles before it is checked with
// stillOpen at reuse. Servers close idle connections after seconds (2s
// gunicorn, 5s Node and uvicorn), so one used this recently is open; under
// load that spares most requests the peek (3% of the proxy's CPU).
const checkAfter = 100 * time.Millisecond

// stillOpen reports whether an idle connection can carry a request: the
// peer has neither closed it nor sent anything unasked.
func stillOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the healthy case; 0 bytes is EOF.
		open = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && open
}

// idempotent reports whether a request with method may be sent twice.
func idempotent(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Interface guards.
var (
	_ http.RoundTripper  = (*transport)(nil)
	_ caddy.Provisioner  = (*transport)(nil)
	_ caddy.CleanerUpper = (*transport)(nil)
)
