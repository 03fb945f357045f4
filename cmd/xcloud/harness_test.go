package main

// The acceptance harness: the real xcloud binary, the system git and OpenSSH
// clients, the host's Podman service and a real SQLite file in a temp dir.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// buildTags must match the Makefile's: the Podman bindings need the first
// five, the rest leave out drivers nothing opens (see the Makefile).
const buildTags = "remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp nobadger nobbolt nomysql nopgx"

const baseDomain = "xcloud.test"

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// xcloudBinary builds the daemon once per test run, unless
// XCLOUD_TEST_BINARY names one already built (the rootless CI run, whose
// user has neither the sources nor a Go build cache).
func xcloudBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("XCLOUD_TEST_BINARY"); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "xcloud-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "xcloud")
		cmd := exec.Command("go", "build", "-tags", buildTags, "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func podmanSocket() string {
	if s := os.Getenv("XCLOUD_PODMAN_SOCKET"); s != "" {
		return strings.TrimPrefix(s, "unix://")
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && os.Getuid() != 0 {
		p := filepath.Join(dir, "podman", "podman.sock")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/run/podman/podman.sock"
}

// requirePodman skips on a laptop without Podman, and fails under CI, where a
// skipped acceptance test would be a green run that tested nothing.
func requirePodman(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"git", "ssh", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed")
		}
	}
	sock := podmanSocket()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://podman/_ping")
	if err != nil {
		missing(t, fmt.Sprintf("the Podman service does not answer on %s (%v); run: make deps", sock, err))
		return
	}
	resp.Body.Close()
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", why)
	}
	t.Skip(why)
}

type harness struct {
	t        testing.TB
	dir      string
	bin      string
	config   string
	sshPort  int
	httpPort int
	key      string // private key file of an admin
	instance string

	cmd  *exec.Cmd
	env  []string // extra environment for the daemon
	done chan struct{}

	httpsPort int // the proxy's HTTPS port (see newHarnessTLS)

	metricsPort int // [metrics] listen is 127.0.0.1:metricsPort

	logShown atomic.Bool // the daemon log is in the test's output already
}

// harnesses maps a test to the daemon it started last, so that waitFor can
// print the daemon's log before its failure: CI shows a failed run's tail,
// which should end with why the test failed, not with the log.
var harnesses sync.Map // testing.TB → *harness

// showLog puts the daemon's log into the test's output once.
func (h *harness) showLog() {
	if h.logShown.CompareAndSwap(false, true) {
		h.t.Logf("daemon log:\n%s", h.log())
	}
}

// newHarness writes a config (plus extra TOML tables) and an admin key into
// a temp dir and starts the daemon.
func newHarness(t testing.TB, extra ...string) *harness {
	t.Helper()
	return newHarnessTLS(t, "off", extra...)
}

// newHarnessTLS is newHarness with tls.mode = mode; the proxy's HTTPS
// listener (unused when mode is "off") is 127.0.0.1:h.httpsPort.
func newHarnessTLS(t testing.TB, mode string, extra ...string) *harness {
	t.Helper()
	requirePodman(t)
	h := &harness{t: t, dir: t.TempDir(), bin: xcloudBinary(t)}
	data := filepath.Join(h.dir, "data")
	h.instance = instanceID(data)
	h.key = filepath.Join(h.dir, "admin_key")
	pub := writeKey(t, h.key)
	if err := os.WriteFile(filepath.Join(h.dir, "admin_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	h.config = filepath.Join(h.dir, "xcloud.toml")
	t.Cleanup(h.cleanup)
	harnesses.Store(t, h)
	for attempt := 1; ; attempt++ {
		h.sshPort, h.httpPort, h.httpsPort = freePort(t), freePort(t), freePort(t)
		h.metricsPort = freePort(t) // not the default 9100: daemons run side by side
		cfg := fmt.Sprintf(`data_dir = %q
base_domain = %q
[ssh]
listen = "127.0.0.1:%d"
admin_keys = %q
[http]
listen = "127.0.0.1:%d"
https_listen = "127.0.0.1:%d"
[tls]
mode = %q
[podman]
socket = %q
[deploy]
ready_timeout = "30s"
stop_grace = "2s"
[log]
format = "text"
level = "debug"
[metrics]
listen = "127.0.0.1:%d"
`, data, baseDomain, h.sshPort, filepath.Join(h.dir, "admin_keys"), h.httpPort, h.httpsPort, mode, podmanSocket(), h.metricsPort)
		cfg = mergeTOML(cfg, extra)
		if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		err := h.launch()
		if errors.Is(err, errPortTaken) && attempt < 5 {
			t.Logf("start %d: %v; again on other ports", attempt, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}

// mergeTOML appends the extra TOML to cfg; an extra that starts with a table
// header cfg has already ("[deploy]\nkeep_releases = 2") has its keys added
// to that table instead, as TOML allows a table only once.
func mergeTOML(cfg string, extra []string) string {
	var rest []string
	for _, e := range extra {
		head, body, _ := strings.Cut(e, "\n")
		i := strings.Index(cfg, "\n"+head+"\n")
		if !strings.HasPrefix(head, "[") || strings.HasPrefix(head, "[[") || i < 0 {
			rest = append(rest, e)
			continue
		}
		at := i + len(head) + 2
		cfg = cfg[:at] + strings.TrimSuffix(body, "\n") + "\n" + cfg[at:]
	}
	return cfg + strings.Join(rest, "\n")
}

// freePort finds a port free on 127.0.0.1 below the kernel's ephemeral
// range, where neither bind(:0) nor outgoing connections take ports, so
// nothing but another explicit pick can take it before the daemon binds it;
// a port is handed out once per test binary.
func freePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	for range 1000 {
		if low <= first+1000 {
			break // no room below the range: let the kernel pick
		}
		port := first + mrand.IntN(low-first)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// handedOut holds the ports freePort returned.
var handedOut sync.Map // int → bool

// writeKey makes an ed25519 key pair; the private key goes to path, the
// authorized_keys line is returned.
func writeKey(t testing.TB, path string) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return gossh.MarshalAuthorizedKey(sshPub)
}

func (h *harness) logPath() string { return filepath.Join(h.dir, "daemon.log") }

// start runs the daemon and waits until it says it is ready.
func (h *harness) start() {
	h.t.Helper()
	if err := h.launch(); err != nil {
		h.t.Fatal(err)
	}
}

// errPortTaken: the daemon exited at start-up because another process had
// bound one of its ports (in the moment between freePort and the daemon's
// bind, say).
var errPortTaken = errors.New("a port the daemon was given is taken")

// launch runs the daemon and waits for its "xcloud is running" line, which
// it logs once every door is bound: an answer on a port that another
// process holds is not taken for the daemon's.
func (h *harness) launch() error {
	logf, err := os.OpenFile(h.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := logf.Stat()
	if err != nil {
		logf.Close()
		return err
	}
	from := st.Size() // the log of earlier runs stays
	h.cmd = exec.Command(h.bin, "daemon", "-config", h.config)
	h.cmd.Env = append(os.Environ(), h.env...)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	h.done = make(chan struct{})
	go func() {
		h.cmd.Wait()
		logf.Close()
		close(h.done)
	}()
	running := func() bool {
		log := h.log()
		return int64(len(log)) > from && strings.Contains(log[from:], "xcloud is running")
	}
	deadline := time.After(60 * time.Second)
	for !running() {
		select {
		case <-h.done:
			if running() {
				return nil // and gone at once: the test will see it
			}
			if strings.Contains(h.log()[from:], "address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("daemon exited during start-up:\n%s", h.log())
		case <-deadline:
			return fmt.Errorf("daemon not running within 60s:\n%s", h.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// stop sends SIGTERM and waits for a graceful exit.
func (h *harness) stop() {
	h.t.Helper()
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	select {
	case <-h.done:
		return
	default:
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(40 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		h.t.Errorf("daemon ignored SIGTERM for 40s")
	}
}

func (h *harness) log() string {
	b, _ := os.ReadFile(h.logPath())
	return string(b)
}

// cleanup stops the daemon and removes every container, image, network and
// volume it made.
func (h *harness) cleanup() {
	h.stop()
	harnesses.CompareAndDelete(h.t, h)
	if h.t.Failed() {
		h.showLog()
	}
	filter := "label=xcloud.instance=" + h.instance
	removeContainers(h.t, podmanList(h.t, "ps", "-aq", "--filter", filter))
	if ids := podmanList(h.t, "images", "-q", "--filter", filter); ids != "" {
		podmanOut(h.t, append([]string{"rmi", "-f"}, strings.Fields(ids)...)...)
	}
	// Apps' networks: each holds one of Podman's address ranges.
	if names := podmanList(h.t, "network", "ls", "--format", "{{.Name}}", "--filter", filter); names != "" {
		podmanOut(h.t, append([]string{"network", "rm", "-f"}, strings.Fields(names)...)...)
	}
	removeStaleDNS(h.t, "xcloud-"+h.instance)
	// Volumes (storage:mount, services) and their data.
	if names := podmanList(h.t, "volume", "ls", "-q", "--filter", filter); names != "" {
		podmanOut(h.t, append([]string{"volume", "rm", "-f"}, strings.Fields(names)...)...)
	}
}

// removeContainers force-removes the containers ids (one per line or
// space), if any.
func removeContainers(t testing.TB, ids string) {
	if f := strings.Fields(ids); len(f) > 0 {
		podmanOut(t, append([]string{"rm", "-f", "-t", "0"}, f...)...)
	}
}

// removeStaleDNS deletes aardvark-dns's records of removed networks whose
// names start with prefix. netavark 1.4 leaves one behind now and then
// (the guard's network, after TestVolumes removes the containers of a
// killed daemon); it keeps the network's gateway address and answers for
// a later network given the same subnet, whose names then do not resolve
// (seen under test-rootless).
func removeStaleDNS(t testing.TB, prefix string) {
	dir := "/run/containers/networks/aardvark-dns"
	if os.Getuid() != 0 {
		dir = filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "containers/networks/aardvark-dns")
	}
	live := map[string]bool{}
	for _, n := range strings.Fields(podmanOut(t, "network", "ls", "--format", "{{.Name}}")) {
		live[n] = true
	}
	files, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	for _, f := range files {
		if !live[filepath.Base(f)] {
			if err := os.Remove(f); err == nil {
				t.Logf("removed aardvark-dns's record of the removed network %s", filepath.Base(f))
			}
		}
	}
}

func podmanOut(t testing.TB, args ...string) string {
	t.Helper()
	out, err := podmanCLI(args...)
	if err != nil {
		t.Logf("podman %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// podmanCLI runs the Podman CLI against the service the daemons use.
func podmanCLI(args ...string) (string, error) {
	out, err := exec.Command("podman", append([]string{"--url", "unix://" + podmanSocket()}, args...)...).Output()
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return strings.TrimSpace(string(out)), err
}

// podmanList is podmanOut for a listing, tried again for up to 20 s when
// it fails: Podman 4.3 fails a whole image listing when another process
// (a test's daemon pruning, a build) removes an image while it reads.
func podmanList(t testing.TB, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := podmanCLI(args...)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Logf("podman %s: %v", strings.Join(args, " "), err)
			return ""
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// appContainers lists the names of an app's containers.
func (h *harness) appContainers(app string) []string {
	out := podmanOut(h.t, "ps", "-a", "--format", "{{.Names}}",
		"--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app="+app)
	return strings.Fields(out)
}

func (h *harness) sshCommand(key string) string {
	return fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR", key)
}

// ssh runs an admin command; it returns stdout, stderr and the exit error.
func (h *harness) ssh(key string, args ...string) (string, string, error) {
	h.t.Helper()
	full := append(strings.Fields(h.sshCommand(key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1")
	cmd := exec.Command(full[0], append(full[1:], args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (h *harness) remote(app string) string {
	return fmt.Sprintf("ssh://xcloud@127.0.0.1:%d/%s.git", h.sshPort, app)
}

// get fetches / from the app through the proxy.
func (h *harness) get(host string) (int, string, error) { return h.getPath(host, "/") }

// waitBody polls the app through the proxy until it answers want.
func (h *harness) waitBody(host, want string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		code, body, err := h.get(host)
		if err == nil && code == 200 && strings.TrimSpace(body) == want {
			return
		}
		last = fmt.Sprintf("status %d, body %q, err %v", code, body, err)
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("%s did not answer %q within %s; last: %s", host, want, within, last)
}

// repo is a local git repository of the test app.
type repo struct {
	t   testing.TB
	dir string
	env []string
}

func newRepo(t testing.TB, h *harness, key string) *repo {
	t.Helper()
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "app")}
	home := t.TempDir()
	r.env = append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_SSH_COMMAND="+h.sshCommand(key))
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	out, err := r.tryGit(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *repo) tryGit(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commit(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

// push pushes ref to app and returns everything git printed.
func (r *repo) push(remote, ref string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "push", remote, ref)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.t.Fatalf("git push did not finish within 5 minutes:\n%s", out)
	}
	return string(out), err
}

// helloBinary builds the test app as a static binary answering message.
func helloBinary(t testing.TB, dst, message string) {
	t.Helper()
	helloBinaryWith(t, dst, "-X 'main.message="+message+"'")
}

func helloBinaryWith(t testing.TB, dst, ldflags string) {
	t.Helper()
	src, err := filepath.Abs("testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w "+ldflags, "-o", dst, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test app: %v\n%s", err, out)
	}
}

// containerfile runs the static test binary from scratch: no base image is
// needed, so nothing is pulled from any registry.
const containerfile = "FROM scratch\nCOPY app /app\nCMD [\"/app\"]\n"

func itoa(n int) string { return strconv.Itoa(n) }

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// kill ends the daemon with SIGKILL: no cleanup of any kind runs.
func (h *harness) kill() {
	h.t.Helper()
	h.cmd.Process.Kill()
	<-h.done
}

// restartWith stops the daemon and starts it again with extra environment.
func (h *harness) restartWith(env ...string) {
	h.t.Helper()
	h.stop()
	h.env = env
	h.start()
}

// deployApp pushes the test app answering message to app and waits until
// the proxy serves it; more pushes go through the returned repository.
func (h *harness) deployApp(app, message string) *repo {
	h.t.Helper()
	r := appRepo(h.t, h)
	r.setApp(message, "ok")
	r.commit(message)
	if out, err := r.push(h.remote(app), "main"); err != nil {
		h.t.Fatalf("push %s: %v\n%s", app, err, out)
	}
	h.waitBody(app+"."+baseDomain, message, 10*time.Second)
	return r
}

// appRepo is a repository of the test app: a static binary, busybox as
// /bin/sh (so Procfile commands run), and a Containerfile FROM scratch.
func appRepo(t testing.TB, h *harness) *repo {
	t.Helper()
	r := newRepo(t, h, h.key)
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		missing(t, "busybox-static is not installed (make deps installs it)")
	}
	if err := os.WriteFile(filepath.Join(r.dir, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("Containerfile", "FROM scratch\nCOPY busybox /bin/sh\nCOPY app /app\nCMD [\"/app\"]\n")
	return r
}

// setApp rebuilds the app binary with a message and health string.
func (r *repo) setApp(message, health string) {
	r.t.Helper()
	helloBinaryWith(r.t, filepath.Join(r.dir, "app"), "-X 'main.message="+message+"' -X 'main.health="+health+"'")
}

// pushUntil starts a push and returns once its output contains marker; wait
// returns the whole output when the push ends.
func (r *repo) pushUntil(remote, ref, marker string) (wait func() (string, error)) {
	r.t.Helper()
	cmd := exec.Command("git", "push", remote, ref)
	cmd.Dir, cmd.Env = r.dir, r.env
	return runUntil(r.t, cmd, marker)
}

// sshUntil starts an admin command and returns once its output contains
// marker; wait returns the whole output when the command ends.
func (h *harness) sshUntil(marker string, args ...string) (wait func() (string, error)) {
	h.t.Helper()
	full := append(strings.Fields(h.sshCommand(h.key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1")
	return runUntil(h.t, exec.Command(full[0], append(full[1:], args...)...), marker)
}

// runUntil starts cmd and returns once its combined output contains marker;
// wait returns the whole output when cmd ends.
func runUntil(t testing.TB, cmd *exec.Cmd, marker string) (wait func() (string, error)) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	found := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		seen := false
		for {
			n, err := pr.Read(buf)
			out.Write(buf[:n])
			if !seen && strings.Contains(out.String(), marker) {
				seen = true
				close(found)
			}
			if err != nil {
				return
			}
		}
	}()
	result := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		result <- err
	}()
	select {
	case <-found:
	case err := <-result:
		<-copied
		t.Fatalf("%s ended (%v) before printing %q:\n%s", cmd.Args[0], err, marker, out.String())
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s did not print %q within 5 minutes:\n%s", cmd.Args[0], marker, out.String())
	}
	return func() (string, error) {
		err := <-result
		<-copied
		return out.String(), err
	}
}

// load sends GETs through the proxy from n keep-alive clients until stop is
// closed (or a hard bound of 5 minutes / 200k requests), and reports what
// came back.
type loadResult struct {
	ok, failed int
	bodies     map[string]int
	errs       []string
}

func (h *harness) load(host string, n int, stop <-chan struct{}) <-chan loadResult {
	out := make(chan loadResult, 1)
	go func() {
		var mu sync.Mutex
		res := loadResult{bodies: map[string]int{}}
		deadline := time.Now().Add(5 * time.Minute)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for j := 0; j < 200000/n && time.Now().Before(deadline); j++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", h.httpPort), nil)
					req.Host = host
					resp, err := client.Do(req)
					var body []byte
					if err == nil {
						body, err = io.ReadAll(resp.Body)
						resp.Body.Close()
						if err == nil && resp.StatusCode != 200 {
							err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
						}
					}
					mu.Lock()
					if err != nil {
						res.failed++
						if len(res.errs) < 10 {
							res.errs = append(res.errs, err.Error())
						}
					} else {
						res.ok++
						res.bodies[strings.TrimSpace(string(body))]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		out <- res
	}()
	return out
}

// getPath fetches a path from the app through the proxy.
func (h *harness) getPath(host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", h.httpPort, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			if h, ok := harnesses.Load(t); ok {
				h.(*harness).showLog()
			}
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStartOnTakenPort: a daemon whose SSH port another process holds
// exits at start-up, and the harness sees that rather than taking the other
// process's answers for the daemon's (CI once ran a whole test against such
// a port: every push got "Connection closed by remote host").
func TestStartOnTakenPort(t *testing.T) {
	h := newHarness(t)
	h.stop()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", h.sshPort))
	if err != nil {
		t.Fatalf("take the daemon's SSH port: %v", err)
	}
	defer l.Close()
	if err := h.launch(); !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a taken SSH port: %v, want %v", err, errPortTaken)
	}
	l.Close()
	h.start()
	if out, errs, err := h.ssh(h.key, "version"); err != nil || !strings.Contains(out, "xcloud") {
		t.Errorf("version after the port was freed: %q %q %v", out, errs, err)
	}
}
