package main

// The services section: the round trip of `SELECT 1` from a container on
// an app's network to the app's linked PostgreSQL service, against the
// same client on the host to a throwaway PostgreSQL cluster started with
// pg_ctl, and the idle memory of a postgres and a redis service. The
// client is this binary (pgPingArg), run in a container of the stack's
// base image on the app's network and as a process on the host, so both
// sides run the same code.

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// baseImage runs the client on the app's network: the stack's base
// (checkStack makes sure it is there).
const baseImage = "localhost/xcloud/base:trixie"

// pgPingArg runs the client: xcloud-bench pgping URL N prints the
// latencies of N `SELECT 1` on one connection as JSON.
const pgPingArg = "pgping"

// pgQueries is how many round trips each side times, after pgWarmup.
const (
	pgQueries = 5000
	pgWarmup  = 200
)

// pingResult is what pgping prints.
type pingResult struct {
	N     int     `json:"n"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

func pgPingMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: xcloud-bench pgping URL N")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "pgping: N must be a positive number")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := pgPing(ctx, args[0], n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgping:", err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// pgPing connects to the database at rawURL and times n `SELECT 1`
// round trips after a warm-up.
func pgPing(ctx context.Context, rawURL string, n int) (pingResult, error) {
	// The service's name may not resolve at once on a network a
	// container just joined: retry the connection for a while.
	var (
		c   *pgConn
		err error
	)
	for try := 0; try < 60; try++ {
		c, err = pgConnect(ctx, rawURL)
		var dial dialError
		if err == nil || !errors.As(err, &dial) || sleepCtx(ctx, 500*time.Millisecond) != nil {
			break
		}
	}
	if err != nil {
		return pingResult{}, err
	}
	defer c.close()
	for range pgWarmup {
		if err := c.simpleQuery("SELECT 1"); err != nil {
			return pingResult{}, err
		}
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := c.simpleQuery("SELECT 1"); err != nil {
			return pingResult{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return round(float64(lat[int(q*float64(len(lat)-1))])/float64(time.Millisecond), 4)
	}
	return pingResult{N: n, P50Ms: ms(0.50), P99Ms: ms(0.99)}, nil
}

// pgConn speaks just enough of PostgreSQL's frontend protocol (version
// 3): start-up, SCRAM-SHA-256 or cleartext password, simple queries.
type pgConn struct {
	nc net.Conn
	r  *bufio.Reader
}

func pgConnect(ctx context.Context, rawURL string) (*pgConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("not a postgres:// URL")
	}
	password, _ := u.User.Password()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, dialError{err}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &pgConn{nc: nc, r: bufio.NewReader(nc)}
	if err := c.startup(u.User.Username(), strings.TrimPrefix(u.Path, "/"), password); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// dialError: the server was not reached (worth trying again).
type dialError struct{ error }

func (e dialError) Unwrap() error { return e.error }

func (c *pgConn) close() {
	_ = c.send('X', nil)
	c.nc.Close()
}

// send writes one message: its type byte (0: none, the start-up), its
// length and body.
func (c *pgConn) send(typ byte, body []byte) error {
	msg := make([]byte, 0, 5+len(body))
	if typ != 0 {
		msg = append(msg, typ)
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(4+len(body)))
	_, err := c.nc.Write(append(msg, body...))
	return err
}

func (c *pgConn) recv() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > 1<<24 {
		return 0, nil, fmt.Errorf("bad message length %d", n)
	}
	body := make([]byte, n-4)
	_, err := io.ReadFull(c.r, body)
	return hdr[0], body, err
}

// serverError words an ErrorResponse: its message field.
func serverError(body []byte) error {
	for _, f := range strings.Split(string(body), "\x00") {
		if strings.HasPrefix(f, "M") {
			return errors.New(f[1:])
		}
	}
	return errors.New("server error")
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func (c *pgConn) startup(username, database, password string) error {
	body := binary.BigEndian.AppendUint32(nil, 196608) // protocol 3.0
	body = append(body, cstr("user")...)
	body = append(body, cstr(username)...)
	body = append(body, cstr("database")...)
	body = append(body, cstr(database)...)
	if err := c.send(0, append(body, 0)); err != nil {
		return err
	}
	var scram *scramClient
	for {
		typ, msg, err := c.recv()
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			return serverError(msg)
		case 'Z':
			return nil
		case 'R':
			if len(msg) < 4 {
				return errors.New("short authentication message")
			}
			code, data := binary.BigEndian.Uint32(msg), msg[4:]
			switch code {
			case 0: // ok
			case 3: // cleartext
				if err := c.send('p', cstr(password)); err != nil {
					return err
				}
			case 10: // SASL: the mechanisms offered
				if !strings.Contains(string(data), "SCRAM-SHA-256\x00") {
					return errors.New("the server offers no SCRAM-SHA-256")
				}
				scram = newSCRAM(password)
				first := scram.first()
				b := append(cstr("SCRAM-SHA-256"), binary.BigEndian.AppendUint32(nil, uint32(len(first)))...)
				if err := c.send('p', append(b, first...)); err != nil {
					return err
				}
			case 11: // SASL continue: the server's first message
				if scram == nil {
					return errors.New("SASL continue before SASL")
				}
				final, err := scram.final(string(data))
				if err != nil {
					return err
				}
				if err := c.send('p', []byte(final)); err != nil {
					return err
				}
			case 12: // SASL final: the server's signature
				if scram == nil || !scram.verify(string(data)) {
					return errors.New("the server's SCRAM signature does not match")
				}
			default:
				return fmt.Errorf("authentication method %d is not supported", code)
			}
		}
	}
}

// simpleQuery runs q and reads its answer up to ReadyForQuery.
func (c *pgConn) simpleQuery(q string) error {
	if err := c.send('Q', cstr(q)); err != nil {
		return err
	}
	var qerr error
	for {
		typ, msg, err := c.recv()
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			qerr = serverError(msg)
		case 'Z':
			return qerr
		}
	}
}

// scramClient is SCRAM-SHA-256 (RFC 5802, 7677) without channel binding,
// as PostgreSQL uses it: the user name is the start-up's, not the SCRAM
// message's.
type scramClient struct {
	password, nonce, firstBare string
	serverKey                  []byte
	authMessage                string
}

func newSCRAM(password string) *scramClient {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return &scramClient{password: password, nonce: base64.RawStdEncoding.EncodeToString(b)}
}

func (s *scramClient) first() string {
	s.firstBare = "n=,r=" + s.nonce
	return "n,," + s.firstBare
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func (s *scramClient) final(serverFirst string) (string, error) {
	var nonce, salt string
	iter := 0
	for _, kv := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "r":
			nonce = v
		case "s":
			salt = v
		case "i":
			iter, _ = strconv.Atoi(v)
		}
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || !strings.HasPrefix(nonce, s.nonce) || iter < 1 {
		return "", errors.New("a SCRAM server-first message this client cannot use")
	}
	salted, err := pbkdf2.Key(sha256.New, s.password, rawSalt, iter, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + nonce
	s.authMessage = s.firstBare + "," + serverFirst + "," + withoutProof
	proof := hmacSHA256(stored[:], s.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverKey = hmacSHA256(salted, "Server Key")
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scramClient) verify(serverFinal string) bool {
	v, ok := strings.CutPrefix(serverFinal, "v=")
	if !ok {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(v)
	return err == nil && hmac.Equal(sig, hmacSHA256(s.serverKey, s.authMessage))
}

// servicesSection measures the query round trip and the services' idle
// memory.
func (b *bench) servicesSection(ctx context.Context) ([]figure, error) {
	const app, db, cache = "benchsvc", "benchdb", "benchcache"
	// The services' volumes outlive the bench's own clean-up (it removes
	// containers, images and networks): destroy them, whatever was made.
	defer func() {
		cctx := context.WithoutCancel(ctx)
		for _, args := range [][]string{{"services:unlink", db, app}, {"services:destroy", db, "--force", "--purge"}, {"services:destroy", cache, "--force", "--purge"}} {
			_, _ = b.admin(cctx, args...)
		}
	}()
	for _, args := range [][]string{
		{"services:create", "postgres", db}, {"services:create", "redis", cache},
		{"apps:create", app}, {"services:link", db, app},
	} {
		if _, err := b.admin(ctx, args...); err != nil {
			return nil, err
		}
	}
	dbURL, err := b.admin(ctx, "config:get", app, "DATABASE_URL")
	if err != nil {
		return nil, err
	}
	dbURL = strings.TrimSpace(dbURL)

	host, err := startHostPostgres(ctx)
	if err != nil {
		return nil, fmt.Errorf("a PostgreSQL on the host: %w", err)
	}
	defer host.stop()

	// Idle memory first, with nothing connected.
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return nil, err
	}
	pgMem, err := containerPSS(ctx, "xcloud-"+b.instance+".svc-"+db)
	if err != nil {
		return nil, err
	}
	redisMem, err := containerPSS(ctx, "xcloud-"+b.instance+".svc-"+cache)
	if err != nil {
		return nil, err
	}
	hostMem, err := treePSS(host.pid)
	if err != nil {
		return nil, err
	}

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var svc, base []pingResult
	for range 3 { // interleaved rounds: this machine is shared
		out, err := podman(ctx, "run", "--rm", "--label", "xcloud-bench="+b.runID, "--network", "xcloud-"+b.instance+"-"+app,
			"-v", self+":/xcloud-bench:ro", baseImage, "/xcloud-bench", pgPingArg, dbURL, strconv.Itoa(pgQueries))
		if err != nil {
			return nil, fmt.Errorf("the client in a container on %s's network: %w", app, err)
		}
		r, err := parsePing(out)
		if err != nil {
			return nil, err
		}
		svc = append(svc, r)
		hout, err := exec.CommandContext(ctx, self, pgPingArg, host.url, strconv.Itoa(pgQueries)).Output()
		if err != nil {
			return nil, fmt.Errorf("the client on the host: %w", err)
		}
		if r, err = parsePing(string(hout)); err != nil {
			return nil, err
		}
		base = append(base, r)
	}
	p50 := func(rs []pingResult) float64 {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			v = append(v, r.P50Ms)
		}
		return median(v)
	}
	p99 := func(rs []pingResult) float64 {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			v = append(v, r.P99Ms)
		}
		return median(v)
	}
	note := fmt.Sprintf("%d × SELECT 1 on one connection after %d warm-up, median of 3 interleaved rounds; the client is this binary, in a container of the base image on the app's network vs on the host to a throwaway PostgreSQL %s cluster (pg_ctl, 127.0.0.1, shared_buffers 64MB as the service's)",
		pgQueries, pgWarmup, host.major)
	rt := compare("postgres SELECT 1 round trip p50 (app network → service)", "ms", p50(svc), p50(base), "≤1.3×", note)
	// The figures are a few hundredths of a millisecond: the ratio of the
	// unrounded ones.
	if pb := p50(base); pb > 0 {
		rt.Ratio = round(p50(svc)/pb, 3)
		met := rt.Ratio <= 1.3
		rt.Met = &met
	}
	return []figure{
		rt,
		compare("postgres SELECT 1 round trip p99 (app network → service)", "ms", p99(svc), p99(base), "", note),
		compare("postgres service idle memory (PSS)", "MB", pgMem, hostMem, "", fmt.Sprintf("proportional set size of the container's processes, idle; baseline: the host's PostgreSQL %s cluster the same way", host.major)),
		compare("redis service idle memory (PSS)", "MB", redisMem, 0, "", "proportional set size of the Valkey container's processes, idle; no baseline"),
	}, nil
}

func parsePing(out string) (pingResult, error) {
	var r pingResult
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.N == 0 {
		return r, fmt.Errorf("pgping printed %q", out)
	}
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// containerPSS sums the proportional set size (MB) of a container's
// processes: shared memory such as PostgreSQL's buffers counted once.
func containerPSS(ctx context.Context, name string) (float64, error) {
	out, err := podman(ctx, "top", name, "hpid")
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("podman top %s: no processes in %q", name, out)
	}
	return sumPSS(pids)
}

// treePSS sums the proportional set size (MB) of pid and its children.
func treePSS(pid int) (float64, error) {
	pids := []int{pid}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				pids = append(pids, child)
			}
		}
	}
	return sumPSS(pids)
}

func sumPSS(pids []int) (float64, error) {
	var kb float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				kb += n
			}
		}
	}
	if kb == 0 {
		return 0, fmt.Errorf("no memory read for processes %v", pids)
	}
	return kb / 1024, nil
}

// hostPostgres is a throwaway cluster on the host.
type hostPostgres struct {
	dir, ctl, data, major, url string
	pid                        int
	as                         []string // run as: runuser -u USER -- (as root), or nothing
}

// pgUser runs the host cluster when the bench runs as root (initdb
// refuses root); contrib/bench-deps.sh makes it.
const pgUser = "xcloud-bench"

// startHostPostgres makes a cluster in a temporary directory with the
// newest PostgreSQL installed under /usr/lib/postgresql and starts it on
// a free port of 127.0.0.1 with password (SCRAM) logins, as the
// services do.
func startHostPostgres(ctx context.Context) (*hostPostgres, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, errors.New("no PostgreSQL on the host (make bench runs contrib/bench-deps.sh, which installs it)")
	}
	slices.SortFunc(bins, func(a, b string) int {
		ma, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		mb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return ma - mb
	})
	ctl := bins[len(bins)-1]
	h := &hostPostgres{ctl: ctl, major: filepath.Base(filepath.Dir(filepath.Dir(ctl)))}
	dir, err := os.MkdirTemp("", "xcloud-bench-pg-")
	if err != nil {
		return nil, err
	}
	h.dir, h.data = dir, filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup(pgUser)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("user %s is missing (make bench runs contrib/bench-deps.sh, which adds it): %w", pgUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		h.as = []string{"runuser", "-u", pgUser, "--"}
	}
	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o644); err != nil {
		h.stop()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		h.stop()
		return nil, err
	}
	initdb := filepath.Join(filepath.Dir(ctl), "initdb")
	if out, err := h.run(ctx, initdb, "-D", h.data, "-U", "postgres", "--pwfile="+pwFile, "--auth-local=trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"); err != nil {
		h.stop()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c shared_buffers=64MB", port, dir)
	if out, err := h.run(ctx, ctl, "-D", h.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		h.stop()
		return nil, fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(h.data, "postmaster.pid"))
	if err == nil {
		h.pid, err = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	}
	if err != nil {
		h.stop()
		return nil, fmt.Errorf("the host cluster's pid: %w", err)
	}
	h.url = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres", password, port)
	return h, nil
}

func (h *hostPostgres) run(ctx context.Context, args ...string) ([]byte, error) {
	args = append(slices.Clone(h.as), args...)
	return exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
}

func (h *hostPostgres) stop() {
	if h.pid != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = h.run(ctx, h.ctl, "-D", h.data, "-m", "fast", "-w", "stop")
	}
	os.RemoveAll(h.dir)
}
