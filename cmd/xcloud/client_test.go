package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/scaffold"
)

// xcloudIn runs the xcloud binary in client mode in dir with env; it
// returns stdout, stderr and the exit status.
func xcloudIn(t testing.TB, h *harness, dir string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("xcloud %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), 0
}

// TestClient: from a repository whose xcloud remote points at the daemon,
// the client runs admin commands over the system's ssh (GIT_SSH_COMMAND's
// options, as git push uses them) with the app filled in and arguments
// arriving whole; exit statuses are the remote command's.
func TestClient(t *testing.T) {
	h := newHarness(t)
	r := h.deployApp("cli", "hello from the client")
	r.git("remote", "add", "xcloud", h.remote("cli"))
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return xcloudIn(t, h, r.dir, r.env, stdin, args...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := run("", args...)
		if code != 0 {
			t.Fatalf("xcloud %v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}

	must("config:set", "MSG=a b c", `Q=it's "quoted"`)
	if vars := h.configOf("cli"); vars["MSG"] != "a b c" || vars["Q"] != `it's "quoted"` {
		t.Errorf("after xcloud config:set: %q", vars)
	}
	if out := must("config:get", "MSG"); out != "a b c\n" {
		t.Errorf("xcloud config:get MSG: %q", out)
	}
	if out := must("logs", "-n", "5"); strings.Count(out, "\n") > 5 {
		t.Errorf("xcloud logs -n 5 printed more than 5 lines:\n%s", out)
	}
	if out := must("run", "echo one && echo two"); out != "one\ntwo\n" {
		t.Errorf("xcloud run 'echo one && echo two': %q", out)
	}
	if out, errs, code := run("", "run", "sh", "-c", "echo to stderr >&2; exit 7"); code != 7 || !strings.Contains(errs, "to stderr") || out != "" {
		t.Errorf("xcloud run sh -c '... exit 7': exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := run("", "ps:scale", "nosuch=1"); code == 0 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "nosuch") {
		t.Errorf("xcloud ps:scale nosuch=1: exit %d, stdout %q, stderr %q; want the daemon's one line", code, out, errs)
	}
	// config:import reads the .env file on stdin; config:export prints it.
	dotenv := "# local settings\nexport IMPORTED='from a file'\nSPACED=\"x y\" # comment\n"
	if out, errs, code := run(dotenv, "config:import"); code != 0 {
		t.Fatalf("xcloud config:import < .env: exit %d\n%s%s", code, out, errs)
	}
	if vars := h.configOf("cli"); vars["IMPORTED"] != "from a file" || vars["SPACED"] != "x y" || vars["MSG"] != "a b c" {
		t.Errorf("after config:import: %q", vars)
	}
	if out := must("config:export"); !strings.Contains(out, "IMPORTED=\"from a file\"\n") || !strings.Contains(out, "MSG=\"a b c\"\n") {
		t.Errorf("xcloud config:export:\n%s", out)
	}
	if out := must("open"); !strings.HasPrefix(out, "http://cli."+baseDomain) || strings.Count(out, "\n") != 1 {
		t.Errorf("xcloud open: %q", out)
	}

	// --app (before or after the command) and --remote.
	mustSSH(t, h, h.key, "apps:create", "other")
	must("--app", "other", "config:set", "WHO=other")
	must("config:set", "--app=other", "WHO2=other")
	if vars := h.configOf("other"); vars["WHO"] != "other" || vars["WHO2"] != "other" {
		t.Errorf("--app other: %q", vars)
	}
	if _, ok := h.configOf("cli")["WHO"]; ok {
		t.Errorf("--app other changed cli")
	}
	r.git("remote", "add", "prod", h.remote("other"))
	if out := must("--remote", "prod", "config:get", "WHO"); out != "other\n" {
		t.Errorf("--remote prod config:get WHO: %q", out)
	}
	// Outside a repository: --host and XCLOUD_HOST.
	outside := t.TempDir()
	host := "127.0.0.1:" + itoa(h.sshPort)
	if out, errs, code := xcloudIn(t, h, outside, r.env, "", "--host", host, "--app", "cli", "config:get", "MSG"); code != 0 || out != "a b c\n" {
		t.Errorf("--host: exit %d %q %q", code, out, errs)
	}
	if out, errs, code := xcloudIn(t, h, outside, append(r.env, "XCLOUD_HOST="+host), "", "apps:list"); code != 0 || !strings.Contains(out, "other") {
		t.Errorf("XCLOUD_HOST apps:list: exit %d %q %q", code, out, errs)
	}

	// xcloud deploy pushes HEAD to main and shows the build.
	r.git("checkout", "-q", "-b", "feature")
	r.setApp("deployed by the client", "ok")
	r.commit("client deploy")
	out, errs, code := run("", "deploy")
	if code != 0 || !strings.Contains(errs+out, "deployed") {
		t.Fatalf("xcloud deploy: exit %d\n%s%s", code, out, errs)
	}
	h.waitBody("cli."+baseDomain, "deployed by the client", 10*time.Second)

	// A repository without an xcloud remote: one line saying what to do.
	bare := newRepo(t, h, h.key)
	bare.git("remote", "add", "origin", "https://example.com/x.git")
	out, errs, code = xcloudIn(t, h, bare.dir, bare.env, "", "logs", "-n", "5")
	if code == 0 || out != "" || errs != "xcloud: this repository has no \"xcloud\" git remote; add one (git remote add xcloud ssh://xcloud@HOST:2222/APP.git) or pass --remote NAME or --host HOST[:PORT]\n" {
		t.Errorf("no xcloud remote: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestClientInitTemplates: every template of xcloud init, scaffolded into
// a temp dir with --remote and pushed with xcloud deploy, serves its page
// through the proxy. Two deploys run at a time on one daemon.
func TestClientInitTemplates(t *testing.T) {
	h := newHarness(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"XCLOUD_SSH="+h.sshCommand(h.key))
	work := t.TempDir()
	// Subtests run in parallel, two deploys at a time; -run
	// 'TestClientInitTemplates/go' runs one.
	sem := make(chan struct{}, 2)
	for _, tpl := range scaffold.Templates() {
		t.Run(tpl.Name, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			app := "tpl-" + tpl.Name
			dir := filepath.Join(work, app)
			start := time.Now()
			if out, errs, code := xcloudIn(t, h, work, env, "", "init", "--template", tpl.Name, "--remote", h.remote(app), dir); code != 0 {
				t.Fatalf("init %s: exit %d\n%s%s", tpl.Name, code, out, errs)
			}
			out, errs, code := xcloudIn(t, h, dir, env, "", "deploy")
			if code != 0 {
				t.Fatalf("deploy of the %s template: exit %d\n%s%s", tpl.Name, code, out, errs)
			}
			want := "Hello from " + app
			waitFor(t, 30*time.Second, app+" serving "+want, func() bool {
				status, body, err := h.get(app + "." + baseDomain)
				return err == nil && status == 200 && strings.Contains(body, want)
			})
			t.Logf("%s template: init, deploy and first page in %s", tpl.Name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// TestClientDev: xcloud dev builds the go and node templates as the daemon
// would, in local Podman, serves each on a local port with config from
// .env, picks up an edit, and stops its containers on an interrupt.
func TestClientDev(t *testing.T) {
	requirePodman(t)
	bin := xcloudBinary(t)
	for _, tc := range []struct{ template, file, from, to, hello string }{
		{"go", "main.go", `fmt.Fprintln(w, "Hello from APP (Go)")`, `fmt.Fprintln(w, os.Getenv("GREETING"))`, "Hello from APP (Go)\n"},
		{"node", "server.js", `res.send('Hello from APP (Node.js)\n')`, `res.send(process.env.GREETING + '\n')`, "Hello from APP (Node.js)\n"},
	} {
		t.Run(tc.template, func(t *testing.T) {
			app := "dev" + tc.template + "-" + itoa(os.Getpid())
			r := strings.NewReplacer("APP", app)
			dir := filepath.Join(t.TempDir(), app)
			env := append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1")
			if out, err := exec.Command(bin, "init", "--template", tc.template, dir).CombinedOutput(); err != nil {
				t.Fatalf("init: %v\n%s", err, out)
			}
			writeFile(t, filepath.Join(dir, ".env"), "# local config\nGREETING='from .env'\n")
			t.Cleanup(func() { podmanOut(t, "rmi", "-f", "localhost/xcloud-dev/"+app+":latest") })

			port := freePort(t)
			cmd := exec.Command(bin, "dev", "--port", itoa(port))
			cmd.Dir, cmd.Env = dir, env
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				if t.Failed() {
					t.Logf("xcloud dev's output:\n%s", out.String())
				}
			})
			body := func() string {
				resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + itoa(port) + "/")
				if err != nil {
					return ""
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			waitFor(t, 5*time.Minute, "xcloud dev to serve the "+tc.template+" template", func() bool { return body() == r.Replace(tc.hello) })

			src := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(string(b), r.Replace(tc.from), tc.to, 1)
			if edited == string(b) {
				t.Fatalf("the %s template's %s does not hold %s", tc.template, tc.file, r.Replace(tc.from))
			}
			writeFile(t, src, edited)
			waitFor(t, 5*time.Minute, "xcloud dev to rebuild after the edit", func() bool { return body() == "from .env\n" })

			cmd.Process.Signal(os.Interrupt)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("xcloud dev exited with %v after an interrupt", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("xcloud dev did not exit within 60s of an interrupt")
			}
			if left := podmanOut(t, "ps", "-a", "-q", "--filter", "label=xcloud.dev="+app); left != "" {
				t.Errorf("containers left after xcloud dev exited: %s", left)
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for a command's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInitBadInput: an unknown template, a non-empty DIR or a remote that is
// not an xcloud one is refused in one line, exit 1, and nothing is written.
func TestInitBadInput(t *testing.T) {
	bin := xcloudBinary(t)
	work := t.TempDir()
	full := filepath.Join(work, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(full, "keep.txt"), "mine")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--template", "rails", filepath.Join(work, "a")}, `xcloud: init: unknown template "rails"; xcloud init --list shows them`},
		{[]string{"--template", "flask", filepath.Join(work, "b")}, `xcloud: init: unknown template "flask": not available: needs packages from PyPI`},
		{[]string{"--template", "go", full}, "xcloud: init: " + full + ": directory is not empty"},
		{[]string{"--remote", "https://example.com/x.git", filepath.Join(work, "c")}, `xcloud: init: --remote "https://example.com/x.git": not an SSH remote`},
		{[]string{filepath.Join(work, "d"), filepath.Join(work, "e")}, "xcloud: init: want one DIR"},
		{[]string{"--bogus", filepath.Join(work, "f")}, "xcloud: init: flag provided but not defined: -bogus (usage: xcloud init"},
	} {
		cmd := exec.Command(bin, append([]string{"init"}, tc.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || stdout.Len() > 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("init %v: %v, stdout %q, stderr %q; want one line starting %q", tc.args, err, stdout.String(), stderr.String(), tc.want)
		}
	}
	entries, _ := os.ReadDir(work)
	if len(entries) != 1 {
		t.Errorf("refused inits wrote into %s: %d entries", work, len(entries))
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("a refused init changed the non-empty directory")
	}
}
