package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRetiredContainerConnectionsClose redeploys an app under keep-alive
// load and checks that the daemon's proxy closes its connections to the
// old container: before, every redeploy left them open for good (in
// CLOSE_WAIT once the container was gone), one per client.
func TestRetiredContainerConnectionsClose(t *testing.T) {
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	app := "conns"
	host := app + "." + baseDomain
	r.write("Dockerfile", containerfile)
	helloBinary(t, filepath.Join(r.dir, "app"), "v1")
	r.commit("v1")
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	h.waitBody(host, "v1", 10*time.Second)
	cs := h.appContainers(app)
	if len(cs) != 1 {
		t.Fatalf("want 1 container of v1, have %v", cs)
	}
	oldPort := publishedPort(t, cs[0])
	pid := h.cmd.Process.Pid

	stop := make(chan struct{})
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}
	t.Cleanup(stopLoad)
	loaded := h.load(host, 4, stop)
	waitFor(t, 30*time.Second, "the proxy's connections to v1", func() bool {
		n, _ := connsTo(t, pid, oldPort)
		return n > 0
	})

	helloBinary(t, filepath.Join(r.dir, "app"), "v2")
	r.commit("v2")
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("second push: %v\n%s", err, out)
	}
	h.waitBody(host, "v2", 10*time.Second)
	stopLoad()
	res := <-loaded
	if res.failed > 0 || res.ok == 0 {
		t.Errorf("load across the redeploy: %d ok, %d failed: %v", res.ok, res.failed, res.errs)
	}

	// Well within the proxy's idle timeout (30s): the redeploy itself
	// closes them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, states := connsTo(t, pid, oldPort)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still has %d connections to the retired container's port %d 10s after the redeploy (states %v)", n, oldPort, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publishedPort is the 127.0.0.1 port a container's web port is published on.
func publishedPort(t *testing.T, container string) int {
	t.Helper()
	// "5000/tcp -> 127.0.0.1:41234"
	out := podmanOut(t, "port", container)
	fields := strings.Fields(out)
	if len(fields) == 0 {
		t.Fatalf("podman port %s: no published port", container)
	}
	last := fields[len(fields)-1]
	port, err := strconv.Atoi(last[strings.LastIndexByte(last, ':')+1:])
	if err != nil {
		t.Fatalf("podman port %s = %q: %v", container, out, err)
	}
	return port
}

// tcpStates names the states of /proc/net/tcp.
var tcpStates = map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}

// connsTo counts the TCP sockets of process pid (those among its file
// descriptors) connected to 127.0.0.1:port, with their states.
func connsTo(t *testing.T, pid, port int) (int, []string) {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("the daemon's file descriptors: %v", err)
	}
	inodes := make(map[string]bool)
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	// Remote address: hex IPv4 in host byte order, or the IPv4-mapped
	// IPv6 form ending in it; hex port.
	wantPort := fmt.Sprintf(":%04X", port)
	var states []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			if strings.HasSuffix(f[2], "0100007F"+wantPort) {
				states = append(states, tcpStates[f[3]])
			}
		}
	}
	return len(states), states
}
