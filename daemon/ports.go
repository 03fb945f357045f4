package daemon

// A web process that ignores $PORT and listens on a fixed port of its own
// (a hapi or Express starter on 3000) is found by the container's listening
// sockets and routed there, with a warning; Podman cannot add a port
// mapping to a running container, so a replacement publishes the found port.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// portSettle is how long a web process must listen on one other port, and
// not on $PORT, before it is taken for the port the app listens on: an app
// may open a side port (metrics, admin) a moment before its main one.
const portSettle = 4 * time.Second

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// listener is one TCP socket in LISTEN state.
type listener struct {
	Addr netip.Addr
	Port int
}

// reachable reports whether a port mapping can reach the socket: one bound
// to a loopback address answers only inside the container.
func (l listener) reachable() bool { return !l.Addr.Unmap().IsLoopback() }

func (l listener) String() string {
	return netip.AddrPortFrom(l.Addr.Unmap(), uint16(l.Port)).String()
}

// parseProcNetTCP reads /proc/net/tcp or tcp6 and returns the sockets in
// LISTEN state. Addresses are hex words in the kernel's byte order.
func parseProcNetTCP(r io.Reader) ([]listener, error) {
	var out []listener
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != tcpListen {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("bad local address %q", f[1])
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port in %q: %w", f[1], err)
		}
		addr, err := procAddr(hexAddr)
		if err != nil {
			return nil, err
		}
		out = append(out, listener{Addr: addr, Port: int(port)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// procAddr decodes an address of /proc/net/tcp{,6}: 8 or 32 hex digits,
// each group of 8 a 32-bit word printed in host byte order.
func procAddr(s string) (netip.Addr, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, nil
}

// containerListeners returns the listening TCP sockets of the network
// namespace of the process pid (a container's first process). The files
// are world-readable, so a rootless daemon reads its containers' too.
func containerListeners(pid int) ([]listener, error) {
	if pid <= 0 {
		return nil, errors.New("container is not running")
	}
	var all []listener
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if errors.Is(err, os.ErrNotExist) && name == "tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return nil, err
		}
		ls, err := parseProcNetTCP(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/net/%s: %w", pid, name, err)
		}
		all = append(all, ls...)
	}
	return all, nil
}

// portReport sums up where a web process listens, relative to want.
type portReport struct {
	onWant   bool       // listens on want where the mapping reaches it
	others   []int      // other reachable ports, sorted
	loopback []listener // sockets only the container itself can reach
	err      error      // the sockets could not be read
}

func reportPorts(ls []listener, want int) portReport {
	var r portReport
	for _, l := range ls {
		switch {
		case !l.reachable():
			r.loopback = append(r.loopback, l)
		case l.Port == want:
			r.onWant = true
		case !slices.Contains(r.others, l.Port):
			r.others = append(r.others, l.Port)
		}
	}
	slices.Sort(r.others)
	// A port also bound on a reachable address is not loopback-only.
	r.loopback = slices.DeleteFunc(r.loopback, func(l listener) bool {
		return l.Port == want && r.onWant || slices.Contains(r.others, l.Port)
	})
	return r
}

// why says, for a web process that never answered on want, where it
// listens instead and what to change; "" when nothing tells.
func (r portReport) why(want int) string {
	if r.err != nil || r.onWant {
		return ""
	}
	var parts []string
	switch len(r.others) {
	case 0:
	case 1:
		parts = append(parts, fmt.Sprintf("it listens on port %d instead", r.others[0]))
	default:
		parts = append(parts, fmt.Sprintf("it listens on ports %s instead, and xcloud cannot tell which one serves HTTP", joinInts(r.others)))
	}
	if len(r.loopback) > 0 {
		names := make([]string, len(r.loopback))
		for i, l := range r.loopback {
			names[i] = l.String()
		}
		parts = append(parts, fmt.Sprintf("%s only answers inside the container", strings.Join(names, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + fmt.Sprintf(": listen on $PORT (%d) on all addresses (0.0.0.0)", want)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return quoteAnd(s)
}

func quoteAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// portProbe watches a starting web container's sockets: once it has
// listened on exactly one reachable port other than want, and not on want,
// for portSettle, that port is the one the app serves on.
type portProbe struct {
	want   int
	settle time.Duration
	read   func() ([]listener, error)

	last  portReport
	port  int       // the single other port of the current stretch
	since time.Time // when that stretch began
}

// check reads the sockets and returns the port to route to, if found.
func (p *portProbe) check(now time.Time) (int, bool) {
	ls, err := p.read()
	if err != nil {
		p.last = portReport{err: err}
		p.port = 0
		return 0, false
	}
	p.last = reportPorts(ls, p.want)
	if p.last.onWant || len(p.last.others) != 1 {
		p.port = 0
		return 0, false
	}
	if p.port != p.last.others[0] {
		p.port, p.since = p.last.others[0], now
	}
	return p.port, now.Sub(p.since) >= p.settle
}

// otherPortError is checkHealth's answer for a web process that does not
// listen on $PORT but on Port.
type otherPortError struct{ Port int }

func (e *otherPortError) Error() string {
	return fmt.Sprintf("web process listens on port %d, not on $PORT (%d)", e.Port, webPort)
}

// otherPort reports whether err says the web process listens elsewhere.
func otherPort(err error) (int, bool) {
	var e *otherPortError
	if errors.As(err, &e) {
		return e.Port, true
	}
	return 0, false
}

// republish replaces a web container that listens on port instead of
// $PORT with one that publishes port, records the port with the release so
// every later container publishes it at once, and waits for it to answer.
// The old container is removed. A returned container with an empty ID was
// never started.
func (d *Daemon) republish(ctx context.Context, rel store.Release, spec releaseSpec, cs podman.ContainerSpec, old podman.Container, port int, w io.Writer) (podman.Container, error) {
	d.removeContainer(context.WithoutCancel(ctx), old.ID)
	fmt.Fprintf(w, "-----> Warning: the web process does not listen on $PORT (%d) but on port %d; routing to port %d\n", webPort, port, port)
	fmt.Fprintf(w, "       Fix: make the app listen on $PORT (the PORT environment variable), as the proxy expects\n")
	d.log.Warn("web process ignores $PORT; routing to the port it listens on", "app", rel.App, "release", rel.Version, "port", port)
	if err := d.recordWebPort(ctx, rel, port); err != nil {
		// Not fatal: the next container finds the port again.
		d.log.Error("record the web port", "app", rel.App, "release", rel.Version, "err", err)
	}
	cs.Port = port
	cs.Name = fmt.Sprintf("xcloud-%s-web-v%d-%s", rel.App, rel.Version, randomSuffix())
	c, err := d.rt.Run(ctx, cs)
	if err != nil {
		return podman.Container{}, err
	}
	d.collect(c)
	return c, d.checkHealth(ctx, c, spec.Healthchecks["web"], w)
}

// recordWebPort stores port in the release's spec.
func (d *Daemon) recordWebPort(ctx context.Context, rel store.Release, port int) error {
	cur, err := d.store.GetRelease(ctx, rel.App, rel.Version)
	if err != nil {
		return err
	}
	spec, err := parseSpec(cur.Spec)
	if err != nil {
		return err
	}
	if spec.WebPort == port {
		return nil
	}
	spec.WebPort = port
	b, err := specJSON(spec)
	if err != nil {
		return err
	}
	return d.store.SetReleaseSpec(context.WithoutCancel(ctx), rel.App, rel.Version, b)
}

// webPortOf is the port rel's web containers listen on inside: $PORT, or
// the one found when an earlier container of rel ignored $PORT (which the
// stored release may know better than spec, read before it was found).
func (d *Daemon) webPortOf(ctx context.Context, rel store.Release, spec releaseSpec) int {
	if spec.WebPort != 0 {
		return spec.WebPort
	}
	if cur, err := d.store.GetRelease(ctx, rel.App, rel.Version); err == nil {
		if s, err := parseSpec(cur.Spec); err == nil && s.WebPort != 0 {
			return s.WebPort
		}
	}
	return webPort
}
