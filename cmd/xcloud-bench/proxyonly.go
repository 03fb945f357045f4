package main

// The memory baseline for the daemon with 50 apps: xcloud's proxy package
// alone (Caddy with the same modules and the same kind of configuration)
// serving 50 apps, in a process of its own. The difference to the daemon is
// what everything else costs: SSH, git, Podman bindings, SQLite, the
// supervisor.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/proxy"
)

// proxyOnlyArg, as the first argument, makes this program the proxy-only
// process: proxyOnlyArg LISTEN N UPSTREAM.
const proxyOnlyArg = "proxy-only"

// proxyOnlyMain serves apps app00…app(N-1) at APP.<baseDomain> on listen,
// all from upstream, prints "ready" and runs until stdin closes.
func proxyOnlyMain(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: xcloud-bench proxy-only LISTEN N UPSTREAM")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy-only: N:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "xcloud-bench-proxy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy-only:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	p := proxy.New(proxy.Config{HTTPListen: args[0], TLS: proxy.TLSOff, StorageDir: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	routes := make([]proxy.Route, n)
	for i := range routes {
		app := fmt.Sprintf("app%02d", i)
		routes[i] = proxy.Route{App: app, Hosts: []string{app + "." + baseDomain}, Upstreams: []string{args[2]}}
	}
	ctx := context.Background()
	if err := p.Apply(ctx, routes); err != nil {
		fmt.Fprintln(os.Stderr, "proxy-only:", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := p.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "proxy-only:", err)
		return 1
	}
	return 0
}

// proxyOnlyMemory runs the proxy-only process with n apps, sends one
// request to each and returns its settled memory.
func proxyOnlyMemory(ctx context.Context, n int) (memory, error) {
	self, err := os.Executable()
	if err != nil {
		return memory{}, err
	}
	// Installed like the daemon, so that both map their binaries alike.
	self, removeSelf, err := installedCopy(self)
	if err != nil {
		return memory{}, err
	}
	defer removeSelf()
	l, err := listenLoopback()
	if err != nil {
		return memory{}, err
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "many") })}
	go app.Serve(l)
	defer app.Close()
	port, err := freePort()
	if err != nil {
		return memory{}, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, self, proxyOnlyArg, listen, strconv.Itoa(n), l.Addr().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return memory{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return memory{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return memory{}, err
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "xcloud-bench: proxy-only process: %v %s\n", err, stderr.String())
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		return memory{}, fmt.Errorf("proxy-only process did not start: %q %v %s", line, err, stderr.String())
	}
	for i := range n {
		host := fmt.Sprintf("app%02d.%s", i, baseDomain)
		if err := waitBody(ctx, "http://"+listen+"/", host, "many", 10*time.Second); err != nil {
			return memory{}, fmt.Errorf("proxy-only process, %s: %w", host, err)
		}
	}
	return settledMemory(ctx, cmd.Process.Pid)
}
