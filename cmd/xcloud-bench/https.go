package main

// HTTPS at the proxy: a daemon with tls = "internal" against nginx
// terminating TLS for the same container with the same certificate and key
// (the ones the daemon's Caddy issued, read from its data directory), so
// both sides do the same crypto. HTTP/1.1 and HTTP/2 are loaded by h2load
// (wrk runs HTTP/1.1 on the tiny app too, so the two tools can be compared
// on the same target), and new connections with session resumption by a
// small Go client.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h2Streams is h2load's concurrent streams per connection: one, as wrk's
// one request in flight per connection, so the protocols are compared at
// the same concurrency.
const h2Streams = 1

// httpsPoint is the length of one point of the HTTPS section, shorter than
// the proxy section's: it has 14 points a round.
const httpsPoint = 4 * time.Second

// httpsThroughput runs its own daemon serving HTTPS (the main one serves
// plain HTTP for the other sections) and compares it with nginx.
func (b *bench) httpsThroughput(ctx context.Context) ([]figure, error) {
	for _, tool := range []string{"wrk", "h2load", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (make bench runs contrib/bench-deps.sh)", tool)
		}
	}
	s := &bench{dir: filepath.Join(b.dir, "tls"), hello: b.hello, bin: b.bin, runID: b.runID + "t", tlsMode: "internal"}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("daemon with TLS: %w", err)
	}
	defer s.close()

	const app, msg = "benchtls", "tls"
	host := app + "." + baseDomain
	repo, err := s.helloApp(ctx, app, msg)
	if err != nil {
		return nil, err
	}
	if err := s.push(ctx, repo, app); err != nil {
		return nil, err
	}
	storage := filepath.Join(s.dir, "data", "caddy")
	crt := filepath.Join(storage, "certificates", "local", host, host+".crt")
	key := filepath.Join(storage, "certificates", "local", host, host+".key")
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = poll(wctx, 50*time.Millisecond, func() error {
		for _, f := range []string{crt, key} {
			if _, err := os.Stat(f); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the daemon's certificate for %s: %w", host, err)
	}
	roots, err := loadRoots(filepath.Join(storage, "pki", "authorities", "local", "root.crt"))
	if err != nil {
		return nil, err
	}
	xcloudAddr := fmt.Sprintf("127.0.0.1:%d", s.httpsPort)
	if err := waitTLSBody(ctx, xcloudAddr, host, roots, msg); err != nil {
		return nil, fmt.Errorf("xcloud over HTTPS: %w", err)
	}
	direct, err := s.containerAddr(ctx, app)
	if err != nil {
		return nil, err
	}
	ngxAddr, stopNginx, err := s.startNginx(ctx, "nginx-tls", direct, func(addr string) string {
		// As a careful operator would: TLS 1.2 and 1.3, a shared session
		// cache, session tickets (nginx's default, said anyway).
		return fmt.Sprintf(`listen %s ssl http2;
		ssl_certificate %s;
		ssl_certificate_key %s;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_cache shared:SSL:10m;
		ssl_session_timeout 1h;
		ssl_session_tickets on;`, addr, crt, key)
	})
	if err != nil {
		return nil, err
	}
	defer stopNginx()
	if err := waitTLSBody(ctx, ngxAddr, host, roots, msg); err != nil {
		return nil, fmt.Errorf("nginx over HTTPS: %w", err)
	}

	// A bare httputil.ReverseProxy on net/http's HTTPS server, same
	// certificate: what Go's own HTTP/2 server makes of HTTP/2 against
	// HTTP/1.1, the ceiling for Caddy's, which is the same code.
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("the daemon's certificate for %s: %w", host, err)
	}
	goAddr, stopGo, err := bareProxy(direct, &pair)
	if err != nil {
		return nil, err
	}
	defer stopGo()
	if err := waitTLSBody(ctx, goAddr, host, roots, msg); err != nil {
		return nil, fmt.Errorf("the bare Go proxy over HTTPS: %w", err)
	}

	targets := []struct{ name, addr string }{{"xcloud", xcloudAddr}, {"nginx", ngxAddr}}
	h2c, h3c, closeClients := goClients(xcloudAddr, tlsConfig(host, roots, nil))
	defer closeClients()
	type key3 struct{ target, path, tool string }
	runs := map[key3][]wrkResult{}
	hs := map[string][]handshakeResult{}
	for range rounds {
		for _, t := range targets {
			// h2load runs both protocols, so that they are compared with
			// the same tool; wrk runs HTTP/1.1 on the tiny app, so that
			// h2load can be compared with the proxy section's tool.
			url := "https://" + host + ":" + portOf(t.addr)
			for _, path := range []string{tinyPath, workPath} {
				for _, tool := range []string{"h1", "h2"} {
					r, err := s.runH2load(ctx, url+path, t.addr, tool == "h1", wrkConns, httpsPoint)
					if err != nil {
						return nil, fmt.Errorf("%s %s: %w", t.name, path, err)
					}
					runs[key3{t.name, path, tool}] = append(runs[key3{t.name, path, tool}], r)
				}
			}
			// wrk names the server by the URL's address (SNI 127.0.0.1,
			// for which both serve their one certificate); the Host
			// header routes.
			r, err := runWrk(ctx, "https://"+t.addr+tinyPath, host, wrkConns, httpsPoint)
			if err != nil {
				return nil, err
			}
			if r.errors > 0 {
				return nil, fmt.Errorf("%s (wrk): %d failed requests", t.name, r.errors)
			}
			runs[key3{t.name, tinyPath, "wrk"}] = append(runs[key3{t.name, tinyPath, "wrk"}], r)
			h, err := handshakes(ctx, t.addr, host, roots, 8, httpsPoint)
			if err != nil {
				return nil, fmt.Errorf("%s handshakes: %w", t.name, err)
			}
			hs[t.name] = append(hs[t.name], h)
		}
		for _, path := range []string{tinyPath, workPath} {
			for _, tool := range []string{"h1", "h2"} {
				r, err := s.runH2load(ctx, "https://"+host+":"+portOf(goAddr)+path, goAddr, tool == "h1", wrkConns, httpsPoint)
				if err != nil {
					return nil, fmt.Errorf("bare Go proxy %s: %w", path, err)
				}
				runs[key3{"go", path, tool}] = append(runs[key3{"go", path, tool}], r)
			}
		}
		// HTTP/3 (xcloud only: Debian's nginx has none) against HTTP/2,
		// both from the same Go client, one connection each.
		for _, path := range []string{tinyPath, workPath} {
			for _, proto := range []string{"go-h2", "go-h3"} {
				c := h2c
				if proto == "go-h3" {
					c = h3c
				}
				r, err := goLoad(ctx, c, "https://"+host+path, wrkConns, httpsPoint)
				if err != nil {
					return nil, fmt.Errorf("xcloud %s %s: %w", proto, path, err)
				}
				runs[key3{"xcloud", path, proto}] = append(runs[key3{"xcloud", path, proto}], r)
			}
		}
	}
	med := func(target, path, tool string) wrkResult { return medianRun(runs[key3{target, path, tool}], byRPS) }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var figs []figure
	for _, path := range []struct{ path, name, target string }{{tinyPath, "tiny app", ""}, {workPath, "1 ms + 4 KB app", "≥0.9×"}} {
		for _, proto := range []struct{ tool, name string }{{"h1", "HTTP/1.1"}, {"h2", "HTTP/2"}} {
			x, n := med("xcloud", path.path, proto.tool), med("nginx", path.path, proto.tool)
			note := fmt.Sprintf("h2load 1 thread, %d keep-alive connections, %d stream(s) each, %s a point, median of %d interleaved rounds; xcloud %s, nginx %s; the same certificate (ECDSA P-256, from the daemon's internal CA) and key on both",
				wrkConns, h2Streams, httpsPoint, rounds, spread(runs[key3{"xcloud", path.path, proto.tool}]), spread(runs[key3{"nginx", path.path, proto.tool}]))
			figs = append(figs,
				compare(fmt.Sprintf("HTTPS req/s, %s, %s, vs nginx", path.name, proto.name), "count", x.rps, n.rps, path.target, note),
				compare(fmt.Sprintf("HTTPS latency p50, %s, %s, vs nginx", path.name, proto.name), "ms", ms(x.p50), ms(n.p50), "", ""),
				compare(fmt.Sprintf("HTTPS latency p99, %s, %s, vs nginx", path.name, proto.name), "ms", ms(x.p99), ms(n.p99), "", ""))
		}
		h1, h2 := med("xcloud", path.path, "h1"), med("xcloud", path.path, "h2")
		nh1, nh2 := med("nginx", path.path, "h1"), med("nginx", path.path, "h2")
		note := fmt.Sprintf("h2load both; per round xcloud %s; nginx: HTTP/2 %.0f against HTTP/1.1 %.0f (%.2f×)",
			roundRatios(runs[key3{"xcloud", path.path, "h2"}], runs[key3{"xcloud", path.path, "h1"}]), nh2.rps, nh1.rps, nh2.rps/nh1.rps)
		if path.path == tinyPath {
			note += fmt.Sprintf("; wrk on the same targets (HTTP/1.1): xcloud %.0f, nginx %.0f req/s", med("xcloud", tinyPath, "wrk").rps, med("nginx", tinyPath, "wrk").rps)
		}
		gh1, gh2 := med("go", path.path, "h1"), med("go", path.path, "h2")
		note += fmt.Sprintf("; a bare Go proxy (httputil.ReverseProxy on net/http's HTTPS server, the same HTTP/2 code as Caddy's): HTTP/2 %.0f against HTTP/1.1 %.0f (%.2f×)", gh2.rps, gh1.rps, gh2.rps/gh1.rps)
		figs = append(figs, compare(fmt.Sprintf("HTTPS req/s, %s, HTTP/2 vs HTTP/1.1 (xcloud)", path.name), "count", h2.rps, h1.rps, "≥1×", note),
			compare(fmt.Sprintf("HTTPS req/s, %s, HTTP/2 vs HTTP/1.1 (bare Go proxy, reference)", path.name), "count", gh2.rps, gh1.rps, "",
				fmt.Sprintf("Go's own ceiling for the ratio above: httputil.ReverseProxy on net/http's HTTPS server in the bench's process, same certificate and app, h2load as above; per round %s",
					roundRatios(runs[key3{"go", path.path, "h2"}], runs[key3{"go", path.path, "h1"}]))))
		g2, g3 := med("xcloud", path.path, "go-h2"), med("xcloud", path.path, "go-h3")
		figs = append(figs, compare(fmt.Sprintf("HTTPS req/s, %s, HTTP/3 vs HTTP/2 (xcloud)", path.name), "count", g3.rps, g2.rps, "",
			fmt.Sprintf("a Go client (net/http, quic-go) for both, %d requests in flight on one connection, %s a point, median of %d rounds; HTTP/3 %s p50 %.2f ms p99 %.2f ms, HTTP/2 %s p50 %.2f ms p99 %.2f ms",
				wrkConns, httpsPoint, rounds, spread(runs[key3{"xcloud", path.path, "go-h3"}]), ms(g3.p50), ms(g3.p99), spread(runs[key3{"xcloud", path.path, "go-h2"}]), ms(g2.p50), ms(g2.p99))))
	}
	hx, hn := medianHandshake(hs["xcloud"]), medianHandshake(hs["nginx"])
	figs = append(figs, compare("HTTPS new connections/s (session resumption on), vs nginx", "count", hx.perSec, hn.perSec, "",
		fmt.Sprintf("Go client, 8 at a time, %s a point, median of %d rounds: TLS 1.3, X25519 offered only (what nginx's OpenSSL supports), a session cache, one GET / with Connection: close each; resumed: xcloud %.0f%%, nginx %.0f%%",
			httpsPoint, rounds, 100*hx.resumed, 100*hn.resumed)))
	return figs, nil
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("the daemon's root certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", file)
	}
	return pool, nil
}

// tlsConfig verifies host against roots and offers X25519 only: nginx's
// OpenSSL has no post-quantum hybrid, which Go would offer and Caddy pick,
// and the figures are to compare the same crypto.
func tlsConfig(host string, roots *x509.CertPool, cache tls.ClientSessionCache) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: roots, CurvePreferences: []tls.CurveID{tls.X25519}, ClientSessionCache: cache, MinVersion: tls.VersionTLS13}
}

// tlsGet sends GET / to addr over a new TLS connection and returns the
// body and whether the session was resumed.
func tlsGet(ctx context.Context, addr string, cfg *tls.Config) (body string, resumed bool, err error) {
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", false, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", cfg.ServerName); err != nil {
		return "", false, err
	}
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil {
		return "", false, err
	}
	if !strings.Contains(status, " 200 ") {
		return "", false, fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	var rest strings.Builder
	if _, err := r.WriteTo(&rest); err != nil {
		return "", false, err
	}
	_, b, _ := strings.Cut(rest.String(), "\r\n\r\n")
	return strings.TrimSpace(b), c.(*tls.Conn).ConnectionState().DidResume, nil
}

// waitTLSBody polls addr over verified TLS until it answers want.
func waitTLSBody(ctx context.Context, addr, host string, roots *x509.CertPool, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cfg := tlsConfig(host, roots, nil)
	return poll(ctx, 50*time.Millisecond, func() error {
		body, _, err := tlsGet(ctx, addr, cfg)
		if err == nil && body != want {
			err = fmt.Errorf("body %q, want %q", body, want)
		}
		return err
	})
}

type handshakeResult struct {
	perSec  float64
	resumed float64 // share of connections whose session was resumed
}

// handshakes opens new TLS connections to addr from n goroutines for d,
// each with one request, all sharing a session cache, and counts them.
func handshakes(ctx context.Context, addr, host string, roots *x509.CertPool, n int, d time.Duration) (handshakeResult, error) {
	cfg := tlsConfig(host, roots, tls.NewLRUClientSessionCache(64))
	// One connection first, so that every timed one can resume.
	if _, _, err := tlsGet(ctx, addr, cfg); err != nil {
		return handshakeResult{}, err
	}
	var done, resumed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				_, r, err := tlsGet(ctx, addr, cfg)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				done.Add(1)
				if r {
					resumed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return handshakeResult{}, firstErr
	}
	if done.Load() == 0 {
		return handshakeResult{}, errors.New("no connection completed")
	}
	return handshakeResult{perSec: float64(done.Load()) / took.Seconds(), resumed: float64(resumed.Load()) / float64(done.Load())}, nil
}

func medianHandshake(hs []handshakeResult) handshakeResult {
	if len(hs) == 0 {
		return handshakeResult{}
	}
	sorted := slices.Clone(hs)
	slices.SortFunc(sorted, func(a, b handshakeResult) int { return cmp.Compare(a.perSec, b.perSec) })
	return sorted[len(sorted)/2]
}

var (
	h2RPSRE    = regexp.MustCompile(`finished in [0-9.]+m?s, ([0-9.]+) req/s`)
	h2ReqsRE   = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2StatusRE = regexp.MustCompile(`status codes: (\d+) 2xx`)
)

// runH2load loads url (its host sent as SNI and :authority) at addr with
// conns connections on one thread for d, over HTTP/2 or, with h1,
// HTTP/1.1; percentiles come from h2load's per-request log.
func (b *bench) runH2load(ctx context.Context, url, addr string, h1 bool, conns int, d time.Duration) (wrkResult, error) {
	logFile := filepath.Join(b.dir, "h2load.log")
	defer os.Remove(logFile)
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-m" + strconv.Itoa(h2Streams), "-D" + strconv.Itoa(int(d.Seconds())),
		"--connect-to=" + addr, "--log-file=" + logFile}
	if h1 {
		args = append(args, "--h1")
	}
	// h2load has been seen to hang at the end of a point: bound it.
	hctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(hctx, "h2load", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load %s: %v\n%s", url, err, out)
	}
	r, err := parseH2load(string(out))
	if err != nil {
		return r, err
	}
	lats, err := h2loadLatencies(logFile)
	if err != nil {
		return r, err
	}
	r.p50, r.p99 = lats[len(lats)/2], lats[(len(lats)-1)*99/100]
	return r, nil
}

// parseH2load reads req/s from h2load's summary; a run with a request
// that did not end in a 2xx answer is an error.
func parseH2load(out string) (wrkResult, error) {
	var r wrkResult
	m := h2RPSRE.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("h2load printed no req/s:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	m = h2ReqsRE.FindStringSubmatch(out)
	st := h2StatusRE.FindStringSubmatch(out)
	if m == nil || st == nil {
		return r, fmt.Errorf("h2load printed no request counts:\n%s", out)
	}
	done, _ := strconv.Atoi(m[2])
	ok, _ := strconv.Atoi(st[1])
	if done == 0 || ok < done {
		return r, fmt.Errorf("h2load: %d of %d requests answered 2xx:\n%s", ok, done, out)
	}
	return r, nil
}

// h2loadLatencies reads the per-request durations of h2load's log (start
// µs, status, duration µs a line), sorted.
func h2loadLatencies(file string) ([]time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lats []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("h2load log %q: %w", sc.Text(), err)
		}
		lats = append(lats, time.Duration(us)*time.Microsecond)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lats) == 0 {
		return nil, errors.New("h2load logged no request")
	}
	slices.Sort(lats)
	return lats, nil
}

// goLoad GETs url from workers goroutines sharing client for d and
// returns req/s and percentiles; any failed request is an error.
func goLoad(ctx context.Context, client *http.Client, url string, workers int, d time.Duration) (wrkResult, error) {
	var (
		mu       sync.Mutex
		lats     []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			}()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return wrkResult{}, firstErr
	}
	if len(lats) == 0 {
		return wrkResult{}, errors.New("no request completed")
	}
	slices.Sort(lats)
	return wrkResult{rps: float64(len(lats)) / took.Seconds(), p50: lats[len(lats)/2], p99: lats[(len(lats)-1)*99/100]}, nil
}

// goClients are Go clients for addr speaking HTTP/2 over TCP and HTTP/3
// over QUIC, each multiplexing its requests on one connection.
func goClients(addr string, cfg *tls.Config) (h2, h3 *http.Client, closeAll func()) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	t2 := &http.Transport{
		TLSClientConfig:   cfg.Clone(),
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	t3 := &http3.Transport{
		TLSClientConfig: cfg.Clone(),
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qcfg *quic.Config) (*quic.Conn, error) {
			return quic.DialAddrEarly(ctx, addr, tlsCfg, qcfg)
		},
	}
	return &http.Client{Transport: t2, Timeout: 10 * time.Second}, &http.Client{Transport: t3, Timeout: 10 * time.Second}, func() {
		t2.CloseIdleConnections()
		t3.Close()
	}
}
