package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Target
	}{
		{"ssh://xcloud@example.com:2222/hello.git", Target{User: "xcloud", Host: "example.com", Port: 2222, App: "hello"}},
		{"ssh://xcloud@example.com/hello.git", Target{User: "xcloud", Host: "example.com", App: "hello"}},
		{"ssh://xcloud@example.com:2222/hello", Target{User: "xcloud", Host: "example.com", Port: 2222, App: "hello"}},
		{"ssh://xcloud@[::1]:2222/web-1.git", Target{User: "xcloud", Host: "::1", Port: 2222, App: "web-1"}},
		{"ssh://myserver/hello.git/", Target{Host: "myserver", App: "hello"}},
		{"git+ssh://xcloud@h:22/a.git", Target{User: "xcloud", Host: "h", Port: 22, App: "a"}},
		{"xcloud@example.com:hello.git", Target{User: "xcloud", Host: "example.com", App: "hello"}},
		{"xcloud@example.com:/hello.git", Target{User: "xcloud", Host: "example.com", App: "hello"}},
		{"myserver:hello", Target{Host: "myserver", App: "hello"}},
		{"xcloud@[::1]:hello.git", Target{User: "xcloud", Host: "::1", App: "hello"}},
	} {
		got, err := ParseRemote(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseRemote(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"https://github.com/a/b.git", ErrNotSSH},
		{"/srv/git/hello.git", ErrNotSSH},
		{"./hello", ErrNotSSH},
		{"ssh://xcloud:secret@h/a.git", ErrNotSSH},
		{"ssh://xcloud@h:99999/a.git", ErrNotSSH},
		{"ssh://xcloud@-oProxyCommand=x/a.git", ErrNotSSH},
		{"ssh://xcloud@h:2222/team/hello.git", ErrNoApp},
		{"ssh://xcloud@h:2222/.git", ErrNoApp},
		{"xcloud@h:Hello.git", ErrNoApp},
		{"xcloud@h:", ErrNoApp},
	} {
		if got, err := ParseRemote(tc.url); !errors.Is(err, tc.want) {
			t.Errorf("ParseRemote(%q) = %+v, %v; want %v", tc.url, got, err, tc.want)
		}
	}
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]Target{
		"example.com":           {User: "xcloud", Host: "example.com"},
		"example.com:2222":      {User: "xcloud", Host: "example.com", Port: 2222},
		"admin@example.com:22":  {User: "admin", Host: "example.com", Port: 22},
		"[::1]:2222":            {User: "xcloud", Host: "::1", Port: 2222},
		"[::1]":                 {User: "xcloud", Host: "::1"},
		"xcloud@127.0.0.1:2222": {User: "xcloud", Host: "127.0.0.1", Port: 2222},
	} {
		if got, err := ParseHost(in); err != nil || got != want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "h:0", "h:x", "-oProxyCommand=x", "@h", "a b"} {
		if got, err := ParseHost(in); !errors.Is(err, ErrBadHost) {
			t.Errorf("ParseHost(%q) = %+v, %v; want ErrBadHost", in, got, err)
		}
	}
	if got := (Target{User: "xcloud", Host: "::1", Port: 2222}).RemoteURL("web"); got != "ssh://xcloud@[::1]:2222/web.git" {
		t.Errorf("RemoteURL: %s", got)
	}
}

// TestQuoteRoundTrip: whatever the words, the daemon's SSH door splits the
// quoted line back into them.
func TestQuoteRoundTrip(t *testing.T) {
	for _, words := range [][]string{
		{"config:set", "hello", "MSG=a b c"},
		{"run", "hello", "echo one && echo two"},
		{"config:set", "hello", `Q=it's "quoted" $HOME \n`, "E="},
		{"run", "hello", "sh", "-c", "printf '%s\\n' \"$PATH\"", ""},
		{"config:set", "hello", "NL=two\nlines\ttab"},
	} {
		line := Quote(words)
		got, err := gitreceive.SplitCommand(line)
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("Quote(%q) = %q, split back into %q (%v)", words, line, got, err)
		}
	}
	if got := Quote([]string{"logs", "hello", "-n", "5"}); got != "logs hello -n 5" {
		t.Errorf("plain words are quoted: %q", got)
	}
}

func FuzzQuote(f *testing.F) {
	f.Add("a b", "it's", "")
	f.Add(`"\$`, "\n", "x=y")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		words := []string{a, b, c}
		got, err := gitreceive.SplitCommand(Quote(words))
		if err != nil || !slices.Equal(got, words) {
			t.Fatalf("%q: split back into %q (%v)", words, got, err)
		}
	})
}

func testClient(dir string, env map[string]string) (*Client, *bytes.Buffer) {
	var out bytes.Buffer
	c := New(Options{Stdout: &out, Stderr: &out, Dir: dir, Getenv: func(k string) string { return env[k] },
		Commands: []Command{
			{Name: "logs", App: true}, {Name: "config:set", App: true}, {Name: "run", App: true, Raw: true},
			{Name: "apps:list"}, {Name: "keys:add"}, {Name: "help"}, {Name: "export:kube", App: true},
		},
		Templates: []string{"static", "go"},
	})
	return c, &out
}

func TestParseArgs(t *testing.T) {
	c, _ := testClient("", nil)
	for _, tc := range []struct {
		args []string
		want flags
		cmd  string
		rest []string
	}{
		{[]string{"logs", "-n", "5"}, flags{}, "logs", []string{"-n", "5"}},
		{[]string{"--app", "web", "logs", "-f"}, flags{app: "web"}, "logs", []string{"-f"}},
		{[]string{"logs", "-f", "--app=web", "--remote", "prod"}, flags{app: "web", remote: "prod"}, "logs", []string{"-f"}},
		{[]string{"run", "--app", "web", "ls", "--app", "x"}, flags{app: "web"}, "run", []string{"ls", "--app", "x"}},
		{[]string{"keys:add", "alice", "--app", "web"}, flags{}, "keys:add", []string{"alice", "--app", "web"}},
		{[]string{"--host", "h:2222", "apps:list"}, flags{host: "h:2222"}, "apps:list", nil},
		{[]string{"deploy", "--app", "web"}, flags{app: "web"}, "deploy", nil},
		{[]string{"export", "kube", "--namespace", "prod"}, flags{}, "export:kube", []string{"--namespace", "prod"}},
	} {
		f, cmd, rest, err := c.parse(tc.args)
		if err != nil || f != tc.want || cmd.Name != tc.cmd || !slices.Equal(rest, tc.rest) {
			t.Errorf("parse(%q) = %+v %v %q %v; want %+v %s %q", tc.args, f, cmd, rest, err, tc.want, tc.cmd, tc.rest)
		}
	}
	for args, want := range map[string]string{
		"frobnicate":      `unknown command "frobnicate"`,
		"export frob web": `unknown command "export"`,
		"--frob logs":     `unknown flag "--frob"`,
		"logs --app":      "--app needs a value",
		"--app":           "--app needs a value",
		"--remote origin": "no command given",
	} {
		if _, _, _, err := c.parse(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%s): %v; want %q", args, err, want)
		}
	}
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestResolve: the daemon and app come from --host, the repository's
// xcloud remote (or --remote, or its one remote of user xcloud), or
// XCLOUD_HOST; every miss is one line naming what to do.
func TestResolve(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	repo := t.TempDir()
	gitIn(t, repo, "init", "-q")
	outside := t.TempDir()

	c, _ := testClient(repo, nil)
	if _, _, err := c.resolve(ctx, flags{}, true); err == nil || !strings.HasPrefix(err.Error(), `this repository has no "xcloud" git remote; add one`) {
		t.Errorf("no remote: %v", err)
	}
	gitIn(t, repo, "remote", "add", "origin", "https://example.com/a.git")
	gitIn(t, repo, "remote", "add", "prod", "ssh://xcloud@prod.example.com:2222/shop.git")
	if tg, name, err := c.resolve(ctx, flags{}, true); err != nil || name != "prod" || tg.App != "shop" || tg.Port != 2222 {
		t.Errorf("the one xcloud-user remote: %+v %q %v", tg, name, err)
	}
	gitIn(t, repo, "remote", "add", "xcloud", "xcloud@box:web.git")
	if tg, name, err := c.resolve(ctx, flags{}, true); err != nil || name != "xcloud" || tg != (Target{User: "xcloud", Host: "box", App: "web"}) {
		t.Errorf("xcloud remote: %+v %q %v", tg, name, err)
	}
	if tg, _, err := c.resolve(ctx, flags{remote: "prod", app: "other"}, true); err != nil || tg.Host != "prod.example.com" || tg.App != "other" {
		t.Errorf("--remote prod --app other: %+v %v", tg, err)
	}
	if _, _, err := c.resolve(ctx, flags{remote: "staging"}, true); err == nil || err.Error() != `this repository has no git remote "staging" (git remote -v lists them)` {
		t.Errorf("--remote staging: %v", err)
	}
	if _, _, err := c.resolve(ctx, flags{remote: "origin"}, true); err == nil || !strings.Contains(err.Error(), "is not an xcloud remote") {
		t.Errorf("--remote origin: %v", err)
	}
	if tg, _, err := c.resolve(ctx, flags{host: "h:22", app: "x"}, true); err != nil || tg != (Target{User: "xcloud", Host: "h", Port: 22, App: "x"}) {
		t.Errorf("--host: %+v %v", tg, err)
	}

	c, _ = testClient(outside, nil)
	if _, _, err := c.resolve(ctx, flags{}, true); err == nil || !strings.HasPrefix(err.Error(), "not in a git repository: pass --host") {
		t.Errorf("outside a repository: %v", err)
	}
	c, _ = testClient(outside, map[string]string{"XCLOUD_HOST": "box:2222"})
	if _, _, err := c.resolve(ctx, flags{}, true); err == nil || err.Error() != "which app? pass --app APP" {
		t.Errorf("XCLOUD_HOST without an app: %v", err)
	}
	if tg, _, err := c.resolve(ctx, flags{}, false); err != nil || tg.Host != "box" || tg.Port != 2222 {
		t.Errorf("XCLOUD_HOST: %+v %v", tg, err)
	}
}

// TestRunSSHCommand: the command line ssh gets, with XCLOUD_SSH standing in
// for ssh (a script printing its arguments) and exit statuses passed on.
func TestRunSSHCommand(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fakessh")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\necho\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, out := testClient(dir, map[string]string{"XCLOUD_SSH": fake + " -o BatchMode=yes", "XCLOUD_HOST": "box:2222"})
	err := c.Run(context.Background(), []string{"--app", "web", "config:set", "MSG=a b c"})
	var ee ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("exit: %v; want status 3", err)
	}
	if want := "[-o][BatchMode=yes][-p][2222][xcloud@box][config:set web 'MSG=a b c']\n"; out.String() != want {
		t.Errorf("ssh got %q, want %q", out.String(), want)
	}
}

// TestCompletionScripts: each script is valid for its shell, and bash's
// completes command names (colons and all) and subcommand words.
func TestCompletionScripts(t *testing.T) {
	c, out := testClient("", nil)
	c.binary = []Command{{Name: "init", Help: "scaffold an app"}}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out.Reset()
		if err := c.Run(context.Background(), []string{"completion", sh}); err != nil {
			t.Fatalf("completion %s: %v", sh, err)
		}
		path, err := exec.LookPath(sh)
		if err != nil {
			t.Logf("%s is not installed; its script is not checked", sh)
			continue
		}
		if b, err := exec.Command(path, "-n", "-c", out.String()).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s\n%s", sh, err, b, out)
		}
		if sh == "fish" {
			probe := out.String() + "\ncomplete -C'xcloud config:s'; complete -C'xcloud completion '\n"
			b, err := exec.Command(path, "-c", probe).CombinedOutput()
			if got := string(b); err != nil || !strings.HasPrefix(got, "config:set") || !strings.Contains(got, "\nzsh\n") {
				t.Errorf("fish completes %q (%v)", got, err)
			}
		}
		if sh != "bash" {
			continue
		}
		script := out.String()
		for line, want := range map[string]string{
			"xcloud con":                 "config:set",
			"xcloud config:s":            "set",
			"xcloud --app web lo":        "logs",
			"xcloud completion ":         "bash zsh fish",
			"xcloud init --template ":    "static go",
			"xcloud logs -":              "",
			"xcloud de":                  "deploy",
			"xcloud --remote prod deplo": "deploy",
		} {
			probe := script + "\nCOMP_LINE=" + shellSingle(line) + "; COMP_POINT=${#COMP_LINE}; _xcloud; echo \"${COMPREPLY[*]}\"\n"
			b, err := exec.Command(path, "-c", probe).CombinedOutput()
			if got := strings.TrimSpace(string(b)); err != nil || got != want {
				t.Errorf("bash completes %q with %q (%v), want %q", line, got, err, want)
			}
		}
	}
}

// TestSIGTERMPassedOn: a SIGTERM to the client reaches the ssh it runs,
// whose exit status the client then returns.
func TestSIGTERMPassedOn(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fakessh")
	ready := filepath.Join(dir, "ready")
	script := "#!/bin/sh\ntrap 'exit 42' TERM\ntouch " + ready + "\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := testClient(dir, map[string]string{"XCLOUD_SSH": fake, "XCLOUD_HOST": "box"})
	result := make(chan error, 1)
	go func() { result <- c.Run(context.Background(), []string{"--app", "web", "logs", "-f"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake ssh did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		var ee ExitError
		if !errors.As(err, &ee) || ee.Code != 42 {
			t.Errorf("after SIGTERM: %v; want the child's status 42", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not return within 10s of SIGTERM")
	}
}

// TestRunGetsATerminal: run asks ssh for a terminal (-t) when stdin is
// one; other commands, and run without a terminal, do not.
func TestRunGetsATerminal(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fakessh")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tty  bool
		args []string
		want string
	}{
		{true, []string{"run", "sh"}, "-t xcloud@box run web sh\n"},
		{false, []string{"run", "sh"}, "xcloud@box run web sh\n"},
		{true, []string{"logs", "-n", "5"}, "xcloud@box logs web -n 5\n"},
	} {
		c, out := testClient(dir, map[string]string{"XCLOUD_SSH": fake, "XCLOUD_HOST": "box"})
		c.stdinTTY = tc.tty
		if err := c.Run(context.Background(), append([]string{"--app", "web"}, tc.args...)); err != nil || out.String() != tc.want {
			t.Errorf("%v (terminal %v): ssh got %q (%v), want %q", tc.args, tc.tty, out.String(), err, tc.want)
		}
	}
}
