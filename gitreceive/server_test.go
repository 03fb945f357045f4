package gitreceive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// requireTools skips the test when git or ssh is missing, except under
// CI=true where that is a failure.
func requireTools(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"git", "ssh"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found and CI=true: %v", bin, err)
			}
			t.Skipf("%s not found: %v", bin, err)
		}
	}
}

// newKey writes a new ed25519 OpenSSH private key (0600) to dir/name.
func newKey(t *testing.T, dir, name string) (gossh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, path
}

type fakeAuth map[string]Identity // by SHA256 fingerprint

func (a fakeAuth) Authenticate(_ context.Context, key gossh.PublicKey) (Identity, error) {
	id, ok := a[gossh.FingerprintSHA256(key)]
	if !ok {
		return Identity{}, ErrUnknownKey
	}
	return id, nil
}

type fakeBackend struct {
	mu      sync.Mutex
	apps    map[string]bool
	created []string
	deploys []Push
	fail    error
	// When entered is set, Deploy signals it and blocks until release is
	// closed or ctx is done.
	entered chan struct{}
	release chan struct{}
}

func (b *fakeBackend) AppExists(_ context.Context, app string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.apps[app], nil
}

func (b *fakeBackend) CreateApp(_ context.Context, app string, _ Identity) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apps[app] = true
	b.created = append(b.created, app)
	return nil
}

func (b *fakeBackend) Deploy(ctx context.Context, p Push, out io.Writer) error {
	b.mu.Lock()
	b.deploys = append(b.deploys, p)
	fail, entered, release := b.fail, b.entered, b.release
	b.mu.Unlock()
	fmt.Fprintf(out, "building %s...\n", p.NewSHA)
	if entered != nil {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	fmt.Fprintln(out, "building... done")
	return nil
}

func (b *fakeBackend) lastDeploy(t *testing.T, wantCount int) Push {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.deploys) != wantCount {
		t.Fatalf("%d deploys, want %d: %+v", len(b.deploys), wantCount, b.deploys)
	}
	if wantCount == 0 {
		return Push{}
	}
	return b.deploys[wantCount-1]
}

type fakeCommander struct {
	mu   sync.Mutex
	args []string
	id   Identity
}

func (c *fakeCommander) RunCommand(_ context.Context, id Identity, args []string, io Stdio) int {
	c.mu.Lock()
	c.args, c.id = args, id
	c.mu.Unlock()
	fmt.Fprintf(io.Out, "ran %s\n", strings.Join(args, " "))
	fmt.Fprintln(io.Err, "some stderr")
	return 3
}

// env is a test world: a running server, keys and a git client setup.
type env struct {
	t        *testing.T
	srv      *Server
	backend  *fakeBackend
	commands *fakeCommander
	reposDir string
	home     string
	port     int
	keys     map[string]string // name → private key path
}

// startEnv starts a server on 127.0.0.1:0 with keys "admin" (admin),
// "dev" (may push to shop only) and "stranger" (unknown).
func startEnv(t *testing.T) *env {
	t.Helper()
	return startEnvWith(t, nil)
}

// startEnvWith is startEnv with the server's Config changed by configure.
func startEnvWith(t *testing.T, configure func(*Config)) *env {
	t.Helper()
	requireTools(t)
	dir := t.TempDir()
	e := &env{t: t, home: filepath.Join(dir, "home"), reposDir: filepath.Join(dir, "repos"), keys: map[string]string{}}
	if err := os.Mkdir(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	auth := fakeAuth{}
	for _, name := range []string{"admin", "dev", "stranger"} {
		pub, path := newKey(t, dir, name)
		e.keys[name] = path
		fp := gossh.FingerprintSHA256(pub)
		switch name {
		case "admin":
			auth[fp] = Identity{Name: name, Fingerprint: fp, Admin: true}
		case "dev":
			auth[fp] = Identity{Name: name, Fingerprint: fp, Apps: []string{"shop"}}
		}
	}
	e.backend = &fakeBackend{apps: map[string]bool{}}
	e.commands = &fakeCommander{}
	cfg := Config{
		Addr:        "127.0.0.1:0",
		HostKeyPath: filepath.Join(dir, "host_key"),
		ReposDir:    e.reposDir,
		Auth:        auth,
		Backend:     e.backend,
		Commands:    e.commands,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.port = srv.Addr().(*net.TCPAddr).Port
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

func (e *env) sshCommand(key string) string {
	return fmt.Sprintf("ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "+
		"-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -p %d", e.keys[key], e.port)
}

func (e *env) url(app string) string {
	return fmt.Sprintf("ssh://xcloud@127.0.0.1:%d/%s.git", e.port, app)
}

// cmd builds a command run in dir as key, with an isolated git setup.
func (e *env) cmd(dir, key string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"HOME="+e.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_SSH_COMMAND="+e.sshCommand(key),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	return cmd
}

// run runs a command and returns its combined output and error.
func (e *env) run(dir, key, name string, args ...string) (string, error) {
	out, err := e.cmd(dir, key, name, args...).CombinedOutput()
	return string(out), err
}

// must runs a command that must succeed.
func (e *env) must(dir, key, name string, args ...string) string {
	e.t.Helper()
	out, err := e.run(dir, key, name, args...)
	if err != nil {
		e.t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return out
}

// newWorkRepo creates a local repository with one commit on main.
func (e *env) newWorkRepo(app string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	e.must(dir, "admin", "git", "init", "-q", "-b", "main")
	e.commit(dir, "hello\n")
	e.must(dir, "admin", "git", "remote", "add", "xcloud", e.url(app))
	return dir
}

// commit writes content to README and commits it, returning the SHA.
func (e *env) commit(dir, content string) string {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.must(dir, "admin", "git", "add", "README")
	e.must(dir, "admin", "git", "commit", "-q", "-m", content)
	return strings.TrimSpace(e.must(dir, "admin", "git", "rev-parse", "HEAD"))
}

func wantContains(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output does not contain %q:\n%s", s, out)
		}
	}
}

func TestPushDeploy(t *testing.T) {
	e := startEnv(t)
	work := e.newWorkRepo("hello")
	first := strings.TrimSpace(e.must(work, "admin", "git", "rev-parse", "HEAD"))

	out := e.must(work, "admin", "git", "push", "xcloud", "main")
	wantContains(t, out, "Created app hello", "building "+first+"...", "building... done")
	p := e.backend.lastDeploy(t, 1)
	want := Push{App: "hello", RepoDir: RepoDir(e.reposDir, "hello"), Ref: "refs/heads/main", OldSHA: "", NewSHA: first}
	if p.App != want.App || p.RepoDir != want.RepoDir || p.Ref != want.Ref || p.OldSHA != want.OldSHA || p.NewSHA != want.NewSHA || p.Pusher.Name != "admin" {
		t.Fatalf("Deploy(%+v), want %+v", p, want)
	}
	if !slices.Equal(e.backend.created, []string{"hello"}) {
		t.Fatalf("created %q", e.backend.created)
	}

	t.Run("re-push", func(t *testing.T) {
		out := e.must(work, "admin", "git", "push", "xcloud", "main")
		wantContains(t, out, "Everything up-to-date", "building "+first)
		if p := e.backend.lastDeploy(t, 2); p.OldSHA != first || p.NewSHA != first {
			t.Fatalf("re-push Deploy(%+v), want old == new == %s", p, first)
		}
	})

	second := e.commit(work, "second\n")
	t.Run("update", func(t *testing.T) {
		e.must(work, "admin", "git", "push", "xcloud", "main")
		if p := e.backend.lastDeploy(t, 3); p.OldSHA != first || p.NewSHA != second {
			t.Fatalf("Deploy(%+v), want %s..%s", p, first, second)
		}
	})

	t.Run("feature branch", func(t *testing.T) {
		e.must(work, "admin", "git", "branch", "feature")
		out := e.must(work, "admin", "git", "push", "xcloud", "feature")
		wantContains(t, out, "branch feature pushed; only main (or master) is deployed")
		e.backend.lastDeploy(t, 3)
		e.must(work, "admin", "git", "tag", "v1")
		out = e.must(work, "admin", "git", "push", "xcloud", "v1")
		wantContains(t, out, "tag v1 pushed")
		e.backend.lastDeploy(t, 3)
	})

	t.Run("failing deploy", func(t *testing.T) {
		e.backend.mu.Lock()
		e.backend.fail = errors.New("boom\nwith details")
		e.backend.mu.Unlock()
		defer func() {
			e.backend.mu.Lock()
			e.backend.fail = nil
			e.backend.mu.Unlock()
		}()
		third := e.commit(work, "third\n")
		out, err := e.run(work, "admin", "git", "push", "xcloud", "main")
		if err == nil {
			t.Fatalf("push succeeded despite failing deploy:\n%s", out)
		}
		wantContains(t, out, "building "+third, "! deploy failed: boom with details")
	})

	t.Run("clone", func(t *testing.T) {
		dir := t.TempDir()
		e.must(dir, "admin", "git", "clone", "-q", e.url("hello"), "clone")
		got, err := os.ReadFile(filepath.Join(dir, "clone", "README"))
		if err != nil || string(got) != "third\n" {
			t.Fatalf("cloned README = %q, %v", got, err)
		}
		// The dev key may read only shop.
		out, err := e.run(dir, "dev", "git", "clone", "-q", e.url("hello"), "clone2")
		if err == nil {
			t.Fatalf("dev cloned hello:\n%s", out)
		}
		wantContains(t, out, "fatal: remote error: key dev may not read hello")
	})

	t.Run("clone unknown app", func(t *testing.T) {
		out, err := e.run(t.TempDir(), "admin", "git", "clone", "-q", e.url("nope"), "x")
		if err == nil {
			t.Fatalf("clone of unknown app succeeded:\n%s", out)
		}
		wantContains(t, out, "fatal: remote error: app nope does not exist")
	})

	t.Run("delete branch", func(t *testing.T) {
		out := e.must(work, "admin", "git", "push", "xcloud", ":feature")
		wantContains(t, out, "branch feature deleted")
		e.backend.lastDeploy(t, 4)
	})
}

func TestPushMaster(t *testing.T) {
	e := startEnv(t)
	work := e.newWorkRepo("legacy")
	e.must(work, "admin", "git", "branch", "-m", "main", "master")
	sha := strings.TrimSpace(e.must(work, "admin", "git", "rev-parse", "HEAD"))
	e.must(work, "admin", "git", "push", "xcloud", "master")
	if p := e.backend.lastDeploy(t, 1); p.Ref != "refs/heads/master" || p.NewSHA != sha {
		t.Fatalf("Deploy(%+v)", p)
	}
	// HEAD now points at master, so a clone checks it out.
	dir := t.TempDir()
	out := e.must(dir, "admin", "git", "clone", e.url("legacy"), "c")
	if strings.Contains(out, "warning") {
		t.Errorf("clone warned:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "README")); err != nil {
		t.Fatal(err)
	}
}

func TestPushRejected(t *testing.T) {
	e := startEnv(t)
	work := e.newWorkRepo("hello")

	t.Run("unknown key", func(t *testing.T) {
		out, err := e.run(work, "stranger", "git", "push", "xcloud", "main")
		if err == nil {
			t.Fatalf("unknown key pushed:\n%s", out)
		}
		wantContains(t, out, "Permission denied")
	})

	t.Run("bad app name", func(t *testing.T) {
		for _, app := range []string{"Hello", "a;b"} {
			out, err := e.run(work, "admin", "git", "push", e.url(app), "main")
			if err == nil {
				t.Fatalf("push to %q succeeded:\n%s", app, out)
			}
			wantContains(t, out, "fatal: remote error: invalid app name")
		}
	})

	t.Run("not allowed", func(t *testing.T) {
		out, err := e.run(work, "dev", "git", "push", "xcloud", "main")
		if err == nil {
			t.Fatalf("dev pushed to hello:\n%s", out)
		}
		wantContains(t, out, "fatal: remote error: key dev may not push to hello")
	})

	t.Run("non-admin cannot create", func(t *testing.T) {
		out, err := e.run(work, "dev", "git", "push", e.url("shop"), "main")
		if err == nil {
			t.Fatalf("dev created shop:\n%s", out)
		}
		wantContains(t, out, "fatal: remote error: app shop does not exist")
	})

	t.Run("non-admin pushes existing app", func(t *testing.T) {
		e.backend.mu.Lock()
		e.backend.apps["shop"] = true
		e.backend.mu.Unlock()
		out := e.must(work, "dev", "git", "push", e.url("shop"), "main")
		wantContains(t, out, "building")
		if p := e.backend.lastDeploy(t, 1); p.App != "shop" || p.Pusher.Name != "dev" {
			t.Fatalf("Deploy(%+v)", p)
		}
	})

	// Nothing but shop was created.
	entries, err := os.ReadDir(e.reposDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ent := range entries {
		names = append(names, ent.Name())
	}
	if !slices.Equal(names, []string{"shop.git"}) {
		t.Fatalf("repos dir holds %q, want only shop.git", names)
	}
	if len(e.backend.created) != 0 {
		t.Fatalf("apps created: %q", e.backend.created)
	}
}

func TestAdminCommand(t *testing.T) {
	e := startEnv(t)
	dir := t.TempDir()
	args := append(strings.Fields(e.sshCommand("admin")), "xcloud@127.0.0.1", "apps:list", "--json")
	cmd := e.cmd(dir, "admin", args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit = %v, want status 3; stderr:\n%s", err, stderr.String())
	}
	if stdout.String() != "ran apps:list --json\n" || stderr.String() != "some stderr\n" {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	e.commands.mu.Lock()
	defer e.commands.mu.Unlock()
	if !slices.Equal(e.commands.args, []string{"apps:list", "--json"}) || e.commands.id.Name != "admin" {
		t.Fatalf("RunCommand(%+v, %q)", e.commands.id, e.commands.args)
	}
}

func TestInteractiveLogin(t *testing.T) {
	e := startEnv(t)
	args := append(strings.Fields(e.sshCommand("admin")), "-T", "xcloud@127.0.0.1")
	out, err := e.run(t.TempDir(), "admin", args[0], args[1:]...)
	if err == nil {
		t.Fatalf("interactive login succeeded:\n%s", out)
	}
	wantContains(t, out, "help")
}

func TestGracefulShutdown(t *testing.T) {
	e := startEnv(t)
	work := e.newWorkRepo("hello")
	entered, release := make(chan struct{}), make(chan struct{})
	e.backend.entered, e.backend.release = entered, release

	push := e.cmd(work, "admin", "git", "push", "xcloud", "main")
	var out bytes.Buffer
	push.Stdout, push.Stderr = &out, &out
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- push.Wait() }()
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a deploy was running", err)
	default:
	}
	close(release)
	if err := <-pushed; err != nil {
		t.Fatalf("push during shutdown: %v\n%s", err, out.String())
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wantContains(t, out.String(), "building... done")
}

func TestShutdownDeadline(t *testing.T) {
	e := startEnv(t)
	work := e.newWorkRepo("hello")
	entered := make(chan struct{})
	e.backend.entered, e.backend.release = entered, make(chan struct{}) // never released

	push := e.cmd(work, "admin", "git", "push", "xcloud", "main")
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- push.Wait() }()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	// Closing the connections cancelled the deploy.
	if err := <-pushed; err == nil {
		t.Fatal("push succeeded although the server was closed")
	}
}

func TestHostKeyPersists(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	_, keyPath := newKey(t, dir, "client")
	clientKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	auth := fakeAuth{gossh.FingerprintSHA256(signer.PublicKey()): {Name: "client", Admin: true}}
	hostKeyPath := filepath.Join(dir, "keys", "host_key")

	hostKey := func() string {
		srv, err := New(Config{Addr: "127.0.0.1:0", HostKeyPath: hostKeyPath, ReposDir: dir,
			Auth: auth, Backend: &fakeBackend{}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve() }()
		defer func() {
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
			if err := <-served; err != nil {
				t.Error(err)
			}
		}()
		var fp string
		client, err := gossh.Dial("tcp", srv.Addr().String(), &gossh.ClientConfig{
			User: "xcloud",
			Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
				fp = gossh.FingerprintSHA256(key)
				if key.Type() != gossh.KeyAlgoED25519 {
					return fmt.Errorf("host key type %s, want ed25519", key.Type())
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		client.Close()
		return fp
	}
	first, second := hostKey(), hostKey()
	if first == "" || first != second {
		t.Fatalf("host key changed across restarts: %s then %s", first, second)
	}
	info, err := os.Stat(hostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, want 0600", info.Mode().Perm())
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{Addr: ":0", HostKeyPath: "k", ReposDir: "r", Auth: fakeAuth{}, Backend: &fakeBackend{}}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Addr = "" },
		func(c *Config) { c.HostKeyPath = "" },
		func(c *Config) { c.ReposDir = "" },
		func(c *Config) { c.Auth = nil },
		func(c *Config) { c.Backend = nil },
	} {
		c := ok
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
