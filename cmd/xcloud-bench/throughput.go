package main

// Proxy throughput and added latency: xcloud's proxy against the same
// container hit directly, a bare Go httputil.ReverseProxy and Debian's
// nginx, all loaded by wrk on loopback, side by side in the same run.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	wrkConns    = 32              // keep-alive connections of a throughput point
	wrkDuration = 5 * time.Second // length of one point
	rounds      = 3               // every point is measured this often; the median counts
	tinyPath    = "/"
	workPath    = "/work?ms=1&kb=4"
)

// wrkResult is one wrk run.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int // non-2xx answers and socket errors
}

var (
	rpsRE      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	pctRE      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	non2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	sockErrsRE = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk loads url (with Host header host, if any) from conns keep-alive
// connections on one wrk thread for d.
func runWrk(ctx context.Context, url, host string, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", "--timeout", "5s"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, url)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := rpsRE.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range pctRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := non2xxRE.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.errors += n
	}
	if m := sockErrsRE.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.errors += n
		}
	}
	return r, nil
}

// target is one thing wrk loads.
type target struct {
	name string
	url  string // without path
	host string
}

// proxyThroughput deploys the test app and loads it through xcloud, directly,
// through a bare Go reverse proxy and through nginx.
func (b *bench) proxyThroughput(ctx context.Context) ([]figure, error) {
	const app, msg = "benchtput", "tput"
	host := app + "." + baseDomain
	repo, err := b.helloApp(ctx, app, msg)
	if err != nil {
		return nil, err
	}
	if _, err := b.git(ctx, repo, "push", "-q", b.remote(app), "main"); err != nil {
		return nil, err
	}
	if err := waitBody(ctx, b.proxyURL(), host, msg, 30*time.Second); err != nil {
		return nil, err
	}
	direct, err := b.containerAddr(ctx, app)
	if err != nil {
		return nil, err
	}
	if err := waitBody(ctx, "http://"+direct+"/", "", msg, 10*time.Second); err != nil {
		return nil, fmt.Errorf("the app's container does not answer directly: %w", err)
	}
	bare, stopBare, err := bareProxy(direct, nil)
	if err != nil {
		return nil, err
	}
	defer stopBare()
	ngx, stopNginx, err := b.nginx(ctx, direct)
	if err != nil {
		return nil, err
	}
	defer stopNginx()

	targets := []target{
		{"direct", "http://" + direct, ""},
		{"xcloud", strings.TrimSuffix(b.proxyURL(), "/"), host},
		{"bare Go proxy", "http://" + bare, ""},
		{"nginx", "http://" + ngx, ""},
	}
	// all[path][target] holds every round; rounds interleave the targets so
	// that load from elsewhere on the box spreads over all of them, and the
	// median of the rounds is reported (one round on this shared machine
	// can swing by 20%).
	all := map[string]map[string][]wrkResult{tinyPath: {}, workPath: {}, "latency": {}}
	for range rounds {
		for _, t := range targets {
			for _, path := range []string{tinyPath, workPath} {
				if path == workPath && t.name == "bare Go proxy" {
					continue
				}
				r, err := runWrk(ctx, t.url+path, t.host, wrkConns, wrkDuration)
				if err != nil {
					return nil, err
				}
				if r.errors > 0 {
					return nil, fmt.Errorf("%s %s: %d failed requests", t.name, path, r.errors)
				}
				all[path][t.name] = append(all[path][t.name], r)
			}
			// Added latency: one connection, tiny answers. The bare Go
			// proxy shows how much of it is the language's floor.
			r, err := runWrk(ctx, t.url+tinyPath, t.host, 1, wrkDuration)
			if err != nil {
				return nil, err
			}
			all["latency"][t.name] = append(all["latency"][t.name], r)
		}
	}
	tiny, work, lat := medianRuns(all[tinyPath], byRPS), medianRuns(all[workPath], byRPS), medianRuns(all["latency"], byP50)
	ratio := func(a, b wrkResult) float64 { return a.rps / b.rps }
	note := fmt.Sprintf("wrk 1 thread, %d connections, %s per point, median of %d interleaved rounds; xcloud %s, bare Go proxy %s, per-round ratio %s; direct %.0f, nginx %.0f (%.2f× direct), bare Go proxy %.0f (%.2f× direct)",
		wrkConns, wrkDuration, rounds, spread(all[tinyPath]["xcloud"]), spread(all[tinyPath]["bare Go proxy"]),
		roundRatios(all[tinyPath]["xcloud"], all[tinyPath]["bare Go proxy"]),
		tiny["direct"].rps, tiny["nginx"].rps, ratio(tiny["nginx"], tiny["direct"]), tiny["bare Go proxy"].rps, ratio(tiny["bare Go proxy"], tiny["direct"]))
	workNote := fmt.Sprintf("GET %s (1 ms of CPU work, 4 KB body), median of %d rounds; xcloud %s, nginx %s, direct %s", workPath, rounds,
		spread(all[workPath]["xcloud"]), spread(all[workPath]["nginx"]), spread(all[workPath]["direct"]))
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	latNote := fmt.Sprintf("wrk 1 connection, %s, GET /, median p50 of %d rounds; bare Go proxy p50 %.3f ms, p99 %.3f ms; nginx p50 %.3f ms, p99 %.3f ms",
		wrkDuration, rounds, ms(lat["bare Go proxy"].p50), ms(lat["bare Go proxy"].p99), ms(lat["nginx"].p50), ms(lat["nginx"].p99))
	return []figure{
		compare("proxy req/s, tiny app, vs bare Go proxy", "count", tiny["xcloud"].rps, tiny["bare Go proxy"].rps, "≥0.95×", note),
		compare("proxy req/s, tiny app, vs direct", "count", tiny["xcloud"].rps, tiny["direct"].rps, "", ""),
		compare("proxy req/s, tiny app, vs nginx", "count", tiny["xcloud"].rps, tiny["nginx"].rps, "", ""),
		compare("proxy req/s, 1 ms + 4 KB app, vs direct", "count", work["xcloud"].rps, work["direct"].rps, "≥0.9×", workNote),
		compare("proxy req/s, 1 ms + 4 KB app, vs nginx", "count", work["xcloud"].rps, work["nginx"].rps, "≥0.9×", ""),
		compare("latency p50, 1 connection, vs direct", "ms", ms(lat["xcloud"].p50), ms(lat["direct"].p50), "≤+0.25ms", latNote),
		compare("latency p99, 1 connection, vs direct", "ms", ms(lat["xcloud"].p99), ms(lat["direct"].p99), "", ""),
		compare("latency p50, 1 connection, vs bare Go proxy", "ms", ms(lat["xcloud"].p50), ms(lat["bare Go proxy"].p50), "", "the bare httputil.ReverseProxy is the floor for a Go proxy"),
	}, nil
}

func byRPS(a, b wrkResult) int { return cmp.Compare(a.rps, b.rps) }
func byP50(a, b wrkResult) int { return cmp.Compare(a.p50, b.p50) }

// medianRuns picks, for every target, the median of its rounds by order.
func medianRuns(runs map[string][]wrkResult, order func(a, b wrkResult) int) map[string]wrkResult {
	out := make(map[string]wrkResult, len(runs))
	for name, rs := range runs {
		out[name] = medianRun(rs, order)
	}
	return out
}

// medianRun is the middle result by order (the upper one of an even count).
func medianRun(rs []wrkResult, order func(a, b wrkResult) int) wrkResult {
	if len(rs) == 0 {
		return wrkResult{}
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, order)
	return sorted[len(sorted)/2]
}

// spread words the req/s of the rounds as "median (min–max)".
func spread(rs []wrkResult) string {
	if len(rs) == 0 {
		return "—"
	}
	lo, hi := rs[0].rps, rs[0].rps
	for _, r := range rs {
		lo, hi = min(lo, r.rps), max(hi, r.rps)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", medianRun(rs, byRPS).rps, lo, hi)
}

// roundRatios words a/b of each round, the pairs measured side by side.
func roundRatios(a, b []wrkResult) string {
	var parts []string
	for i := range min(len(a), len(b)) {
		parts = append(parts, fmt.Sprintf("%.2f×", a[i].rps/b[i].rps))
	}
	return strings.Join(parts, " ")
}

// containerAddr is the 127.0.0.1:port the app's web container is published on.
func (b *bench) containerAddr(ctx context.Context, app string) (string, error) {
	out, err := podman(ctx, "ps", "--filter", "label=xcloud.instance="+b.instance, "--filter", "label=xcloud.app="+app,
		"--filter", "label=xcloud.process=web", "--format", "{{.ID}}")
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return "", fmt.Errorf("no running web container of %s", app)
	}
	port, err := podman(ctx, "port", ids[0], "5000/tcp")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.Split(port, "\n")[0]), nil
}

// listenLoopback opens a listener on a free loopback port.
func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// bareProxy serves a plain httputil.ReverseProxy to upstream from this
// process: the Go standard library's limit for a reverse proxy. With a
// certificate it serves HTTPS, HTTP/2 offered as net/http does by default.
func bareProxy(upstream string, cert *tls.Certificate) (addr string, stop func(), err error) {
	l, err := listenLoopback()
	if err != nil {
		return "", nil, err
	}
	u := &url.URL{Scheme: "http", Host: upstream}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true},
		// wrk stops mid-request at the end of a point; that is no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: rp}
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if cert == nil {
			srv.Serve(l)
			return
		}
		srv.ServeTLS(l, "", "")
	}()
	return l.Addr().String(), func() {
		srv.Close()
		<-done
	}, nil
}

// nginx runs Debian's nginx as a keep-alive reverse proxy to upstream, with
// a configuration as a careful operator would write it.
func (b *bench) nginx(ctx context.Context, upstream string) (addr string, stop func(), err error) {
	return b.startNginx(ctx, "nginx", upstream, func(addr string) string {
		return "listen " + addr + ";"
	})
}

// startNginx runs nginx from its own directory under b.dir, proxying to
// upstream with keep-alive; listen gives the server's listen and TLS
// directives for the address it is to serve on.
func (b *bench) startNginx(ctx context.Context, name, upstream string, listen func(addr string) string) (addr string, stop func(), err error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return "", nil, errors.New("nginx is not installed (make bench runs contrib/bench-deps.sh)")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	# nginx closes a keep-alive connection after 1000 requests by default;
	# Caddy does not, and h2load stalls on such a close.
	keepalive_requests 10000000;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	upstream app { server %[2]s; keepalive 64; }
	server {
		%[3]s
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
		}
	}
}
`, dir, upstream, listen(addr))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", confPath, "-g", "daemon off;")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start nginx: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cmd.Wait()
	}()
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = poll(wctx, 20*time.Millisecond, func() error {
		select {
		case <-done:
			return errStop{fmt.Errorf("nginx exited: %s", stderr.String())}
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// memory is a process's resident memory in MB: all of it (VmRSS) and its
// anonymous part (RssAnon: heap, stacks), without the binary's file pages.
type memory struct{ rss, anon float64 }

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	fields := map[string]*float64{"VmRSS:": &m.rss, "RssAnon:": &m.anon}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for prefix, v := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				if err != nil {
					return m, fmt.Errorf("/proc/%d/status: %s: %w", pid, prefix, err)
				}
				*v = kb / 1024
			}
		}
	}
	if m.rss == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}
