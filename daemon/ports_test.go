package daemon

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Captured on x86-64 from a container: python on 0.0.0.0:3000, something on
// 127.0.0.1:8080, an established connection, and in tcp6 [::]:5000, [::1]:9229
// and ::ffff:127.0.0.1:7000.
const (
	procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 936148 1 0000000067463dfd 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 936149 1 0000000067463dfd 100 0 0 10 0
   2: 0200580A:0BB8 0100580A:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 936150 1 0000000067463dfd 100 0 0 10 0
`
	procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:240D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`
)

func littleEndian(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the captured /proc samples are from a little-endian host")
	}
}

func TestParseProcNetTCP(t *testing.T) {
	littleEndian(t)
	v4, err := parseProcNetTCP(strings.NewReader(procTCP))
	if err != nil {
		t.Fatal(err)
	}
	v6, err := parseProcNetTCP(strings.NewReader(procTCP6))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range append(v4, v6...) {
		got = append(got, l.String()+map[bool]string{true: " reachable", false: " loopback"}[l.reachable()])
	}
	want := []string{
		"0.0.0.0:3000 reachable", "127.0.0.1:8080 loopback",
		"[::]:5000 reachable", "[::1]:9229 loopback", "127.0.0.1:7000 loopback",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := parseProcNetTCP(strings.NewReader("hdr\n 0: 0000ZZ00:0BB8 00000000:0000 0A\n")); err == nil {
		t.Error("a bad address parsed")
	}
}

// The test process's own sockets show up, as a container's do from the host.
func TestContainerListenersOwnProcess(t *testing.T) {
	all, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	lo, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	ls, err := containerListeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r := reportPorts(ls, all.Addr().(*net.TCPAddr).Port)
	if !r.onWant {
		t.Errorf("listener on %s not seen in %v", all.Addr(), ls)
	}
	loPort := lo.Addr().(*net.TCPAddr).Port
	if !slices.ContainsFunc(r.loopback, func(l listener) bool { return l.Port == loPort }) {
		t.Errorf("loopback listener on %s not reported as loopback: %+v", lo.Addr(), r)
	}
	if _, err := containerListeners(0); err == nil {
		t.Error("pid 0 read")
	}
}

func TestPortReportWhy(t *testing.T) {
	littleEndian(t)
	ls, err := parseProcNetTCP(strings.NewReader(procTCP))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ls   []listener
		want string
	}{
		{"nothing", nil, ""},
		{"on PORT", append(ls, listener{Addr: ls[0].Addr, Port: 5000}), ""},
		{"one other", ls[:1], "it listens on port 3000 instead; 127.0.0.1:8080 only answers inside the container: listen on $PORT (5000) on all addresses (0.0.0.0)"},
		{"several", append(ls[:1:1], listener{Addr: ls[0].Addr, Port: 9000}, listener{Addr: ls[0].Addr, Port: 3000}),
			"it listens on ports 3000 and 9000 instead, and xcloud cannot tell which one serves HTTP: listen on $PORT (5000) on all addresses (0.0.0.0)"},
		{"loopback PORT", []listener{ls[1], {Addr: ls[1].Addr, Port: 5000}},
			"127.0.0.1:8080, 127.0.0.1:5000 only answers inside the container: listen on $PORT (5000) on all addresses (0.0.0.0)"},
	}
	for _, c := range cases {
		if c.name == "one other" {
			c.ls = ls // 3000 everywhere, 8080 on loopback
		}
		if got := reportPorts(c.ls, webPort).why(webPort); got != c.want {
			t.Errorf("%s: got %q\nwant %q", c.name, got, c.want)
		}
	}
	if got := (portReport{err: errors.New("x")}).why(webPort); got != "" {
		t.Errorf("unreadable sockets: %q", got)
	}
}

func TestPortProbeSettles(t *testing.T) {
	any4 := listener{Addr: netip.MustParseAddr("0.0.0.0")}
	var now []listener
	p := &portProbe{want: webPort, settle: 4 * time.Second, read: func() ([]listener, error) { return now, nil }}
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) (int, bool) { return p.check(t0.Add(d)) }

	if _, ok := at(0); ok {
		t.Fatal("found a port with no socket")
	}
	now = []listener{{Addr: any4.Addr, Port: 9090}}
	at(time.Second)
	now = []listener{{Addr: any4.Addr, Port: 3000}}
	if _, ok := at(2 * time.Second); ok {
		t.Fatal("found before settling")
	}
	if port, ok := at(5 * time.Second); ok {
		t.Fatalf("found %d after 3s on 3000", port)
	}
	if port, ok := at(6 * time.Second); !ok || port != 3000 {
		t.Fatalf("got %d %v, want 3000 after 4s", port, ok)
	}
	// Listening on $PORT too: nothing to move.
	now = append(now, listener{Addr: any4.Addr, Port: webPort})
	if _, ok := at(20 * time.Second); ok {
		t.Fatal("moved a process that listens on $PORT")
	}
	// Two other ports: ambiguous, never picked.
	now = []listener{{Addr: any4.Addr, Port: 3000}, {Addr: any4.Addr, Port: 9229}}
	for s := 21; s < 40; s++ {
		if port, ok := at(time.Duration(s) * time.Second); ok {
			t.Fatalf("picked %d of two ports", port)
		}
	}
	if !strings.Contains(p.last.why(webPort), "3000 and 9229") {
		t.Errorf("why: %q", p.last.why(webPort))
	}
	p.read = func() ([]listener, error) { return nil, errors.New("gone") }
	if _, ok := at(60 * time.Second); ok {
		t.Fatal("found a port without reading any")
	}
}
