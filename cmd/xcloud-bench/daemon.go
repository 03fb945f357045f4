package main

// The daemon under test, the git client that pushes to it, and the podman
// CLI for baselines; the same setup as cmd/xcloud's acceptance harness.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

const baseDomain = "xcloud.test"

type bench struct {
	dir      string // temp dir holding everything of this run
	hello    string // absolute path of the static test app's source
	runID    string
	instance string // the daemon's xcloud.instance label
	sshPort  int
	httpPort int
	key      string
	gitEnv   []string
	images   []string // baseline image tags to remove
	mem0     memory   // the daemon's resident memory with no app
	// metricsPort serves /metrics, and /debug/pprof when profileDir is
	// set (the daemon samples its heap only then, as with pprof off by
	// default); profileDir receives the heap and goroutine profiles.
	metricsPort int
	profileDir  string
	soakSwaps   int // container swaps in section soak
	// bin is the daemon's binary; tlsMode ("" is off) and httpsPort are
	// for a daemon serving HTTPS (section https).
	bin       string
	tlsMode   string
	httpsPort int

	cmd  *exec.Cmd
	done chan struct{}
}

func newBench(ctx context.Context, xcloudBin, hello, profileDir string) (*bench, error) {
	for _, tool := range []string{"git", "ssh", "podman", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed", tool)
		}
	}
	bin, err := filepath.Abs(xcloudBin)
	if err != nil {
		return nil, err
	}
	hello, err = filepath.Abs(hello)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "xcloud-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, hello: hello, bin: bin, profileDir: profileDir, runID: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)}
	if err := b.checkStack(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := b.start(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func podmanSocket() string {
	if s := os.Getenv("XCLOUD_PODMAN_SOCKET"); s != "" {
		return strings.TrimPrefix(s, "unix://")
	}
	return "/run/podman/podman.sock"
}

// podman runs the podman CLI against the daemon's Podman service.
func podman(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append([]string{"--url", "unix://" + podmanSocket()}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 15))
	}
	return strings.TrimSpace(string(out)), nil
}

func (b *bench) checkStack(ctx context.Context) error {
	// One image at a time: a listing of all of them fails when another
	// user of the service removes an image meanwhile ("image not known").
	for _, img := range []string{"localhost/xcloud/build-go:trixie", "localhost/xcloud/build-node:trixie", "localhost/xcloud/run-node:trixie", "localhost/xcloud/base:trixie"} {
		if _, err := podman(ctx, "image", "exists", img); err != nil {
			return fmt.Errorf("%s is missing or the Podman service does not answer (run: make deps): %w", img, err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start writes a config and an admin key and runs the daemon until its SSH
// and HTTP ports accept.
func (b *bench) start(ctx context.Context) error {
	var err error
	if b.sshPort, err = freePort(); err != nil {
		return err
	}
	if b.httpPort, err = freePort(); err != nil {
		return err
	}
	tlsMode, httpsListen := "off", ""
	if b.tlsMode != "" {
		if b.httpsPort, err = freePort(); err != nil {
			return err
		}
		tlsMode, httpsListen = b.tlsMode, fmt.Sprintf("https_listen = \"127.0.0.1:%d\"", b.httpsPort)
	}
	// Metrics stay on (the proxy figures include their per-request cost),
	// on a port of their own so the bench runs beside other daemons.
	if b.metricsPort, err = freePort(); err != nil {
		return err
	}
	data := filepath.Join(b.dir, "data")
	sum := sha256.Sum256([]byte(data)) // as cmd/xcloud's instanceID
	b.instance = hex.EncodeToString(sum[:6])
	b.key = filepath.Join(b.dir, "admin_key")
	pub, err := writeKey(b.key)
	if err != nil {
		return err
	}
	keys := filepath.Join(b.dir, "admin_keys")
	if err := os.WriteFile(keys, pub, 0o600); err != nil {
		return err
	}
	config := filepath.Join(b.dir, "xcloud.toml")
	cfg := fmt.Sprintf(`data_dir = %q
base_domain = %q
[ssh]
listen = "127.0.0.1:%d"
admin_keys = %q
[http]
listen = "127.0.0.1:%d"
%s
[tls]
mode = %q
[podman]
socket = %q
[deploy]
ready_timeout = "60s"
stop_grace = "2s"
[log]
format = "text"
level = "info"
[metrics]
listen = "127.0.0.1:%d"
pprof = %t
`, data, baseDomain, b.sshPort, keys, b.httpPort, httpsListen, tlsMode, podmanSocket(), b.metricsPort, b.profileDir != "")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return err
	}
	home := filepath.Join(b.dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	b.gitEnv = append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_SSH_COMMAND=ssh -i "+b.key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR")
	return b.launch(ctx)
}

// launch runs the daemon on the config start wrote until its SSH and HTTP
// ports accept; after a stop it starts the same daemon again.
func (b *bench) launch(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(b.dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	b.cmd = exec.Command(b.bin, "daemon", "-config", filepath.Join(b.dir, "xcloud.toml"))
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	b.done = make(chan struct{})
	go func() {
		b.cmd.Wait()
		logf.Close()
		close(b.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, port := range []int{b.sshPort, b.httpPort} {
		err := poll(ctx, 50*time.Millisecond, func() error {
			select {
			case <-b.done:
				return errStop{errors.New("daemon exited during start-up:\n" + b.logTail())}
			default:
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("daemon does not listen on %d: %w", port, err)
		}
	}
	return nil
}

// stop stops the daemon (SIGTERM, then SIGKILL after 40 s).
func (b *bench) stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(40 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
	}
}

// close stops the daemon and removes every container, image and network
// of this run. Each step has a deadline of its own, and a failed one is
// printed: the 50-app section's daemon once left its 51 networks behind
// with nothing said (the steps shared one two-minute deadline, and the
// removal of 50 apps' images comes before the networks'), and every
// network left slows later container starts on the machine.
func (b *bench) close() {
	b.stop()
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := podman(ctx, args...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "xcloud-bench: clean-up: %v\n", err)
		}
		return out
	}
	for _, filter := range []string{"label=xcloud.instance=" + b.instance, "label=xcloud-bench=" + b.runID} {
		if ids := run("ps", "-aq", "--filter", filter); ids != "" {
			run(append([]string{"rm", "-f", "-t", "0"}, strings.Fields(ids)...)...)
		}
	}
	if ids := run("images", "-q", "--filter", "label=xcloud.instance="+b.instance); ids != "" {
		run(append([]string{"rmi", "-f"}, strings.Fields(ids)...)...)
	}
	// Apps' networks: each holds one of Podman's address ranges.
	if names := run("network", "ls", "--format", "{{.Name}}", "--filter", "label=xcloud.instance="+b.instance); names != "" {
		run(append([]string{"network", "rm", "-f"}, strings.Fields(names)...)...)
	}
	if len(b.images) > 0 {
		run(append([]string{"rmi", "-f"}, b.images...)...)
	}
	os.RemoveAll(b.dir)
}

func (b *bench) logTail() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "daemon.log"))
	return lastLines(string(data), 30)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeKey(path string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "bench")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return gossh.MarshalAuthorizedKey(sshPub), nil
}

func (b *bench) remote(app string) string {
	return fmt.Sprintf("ssh://xcloud@127.0.0.1:%d/%s.git", b.sshPort, app)
}

// git runs git in dir; the output is stdout and stderr together.
func (b *bench) git(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = dir, b.gitEnv
	// git's ssh outlives a killed git and would hold the output open.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 30))
	}
	return string(out), nil
}

// errStop ends a poll early.
type errStop struct{ error }

// poll calls f every interval until it returns nil, an errStop, or ctx ends.
func poll(ctx context.Context, interval time.Duration, f func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %v", ctx.Err(), err)
		case <-t.C:
		}
	}
}

var pollClient = &http.Client{Timeout: 5 * time.Second}

// get fetches url with a Host header and returns the trimmed body of a 200.
func get(ctx context.Context, client *http.Client, url, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %.100s", resp.StatusCode, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// waitBody polls url until it answers want.
func waitBody(ctx context.Context, url, host, want string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return poll(ctx, 25*time.Millisecond, func() error {
		body, err := get(ctx, pollClient, url, host)
		if err == nil && body != want {
			err = fmt.Errorf("body %q, want %q", body, want)
		}
		return err
	})
}

func (b *bench) proxyURL() string { return fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort) }
