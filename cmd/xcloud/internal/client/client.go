// Package client is the xcloud binary's client mode: inside an app's git
// repository, `xcloud COMMAND [ARGS]` runs the daemon's admin command over
// the user's own ssh (agent, ~/.ssh/config, known_hosts) with the app
// name filled in, and `deploy`, `open` and `completion` work on top of it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// Command is one admin command of the daemon, as the client needs it.
type Command struct {
	Name string
	Help string
	App  bool // the first argument is an app: the client fills it in
	Raw  bool // after the app, a command line passed on verbatim (run)
}

// Local commands run by the client itself rather than on the daemon.
var localCommands = []Command{
	{Name: "deploy", Help: "push the current branch (HEAD) to the daemon's main and show the build"},
	{Name: "open", Help: "print the app's URL and open it in a browser"},
	{Name: "completion", Help: "print a bash, zsh or fish completion script"},
}

// Client runs client-mode commands.
type Client struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stdinTTY and stdoutTTY say whether they are terminals: run gets
	// one (ssh -t) and open starts a browser only then.
	stdinTTY, stdoutTTY bool
	getenv              func(string) string
	dir                 string // the working directory; "" is the process's
	commands            []Command
	binary              []Command // the binary's own commands (daemon, init, ...), for completion
	templates           []string  // xcloud init's templates, for completion
}

// Options are New's arguments.
type Options struct {
	Stdin               io.Reader
	Stdout, Stderr      io.Writer
	StdinTTY, StdoutTTY bool
	Getenv              func(string) string // nil: os.Getenv
	Dir                 string
	Commands            []Command // the daemon's admin commands
	Binary              []Command // the binary's own commands, completed too
	Templates           []string  // xcloud init's templates, completed after --template
}

// New returns a client; it runs nothing until Run.
func New(o Options) *Client {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return &Client{stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, stdinTTY: o.StdinTTY, stdoutTTY: o.StdoutTTY,
		getenv: o.Getenv, dir: o.Dir, commands: o.Commands, binary: o.Binary, templates: o.Templates}
}

// flags are the client's own options.
type flags struct {
	app, remote, host string
}

// takeFlag consumes a client flag at args[0] ("--app X" or "--app=X") into
// f; it reports how many words it used, 0 for none.
func (f *flags) takeFlag(args []string) (int, error) {
	name, val, hasVal := strings.Cut(args[0], "=")
	var dst *string
	switch name {
	case "--app", "-a":
		dst = &f.app
	case "--remote":
		dst = &f.remote
	case "--host":
		dst = &f.host
	default:
		return 0, nil
	}
	n := 1
	if !hasVal {
		if len(args) < 2 || args[1] == "" || strings.HasPrefix(args[1], "-") {
			return 0, fmt.Errorf("%s needs a value", name)
		}
		val, n = args[1], 2
	}
	if val == "" {
		return 0, fmt.Errorf("%s needs a value", name)
	}
	*dst = val
	return n, nil
}

// parse splits args into client flags, the command and its arguments.
// Client flags come before the command; after it they are taken too for
// commands that fill in the app (none of those has flags of those names),
// and for run only before its command line.
func (c *Client) parse(args []string) (flags, *Command, []string, error) {
	var f flags
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		n, err := f.takeFlag(args)
		if err != nil {
			return f, nil, nil, err
		}
		if n == 0 {
			return f, nil, nil, fmt.Errorf("unknown flag %q (before the command: --app APP, --remote NAME, --host HOST[:PORT])", args[0])
		}
		args = args[n:]
	}
	if len(args) == 0 {
		return f, nil, nil, errors.New("no command given; xcloud help lists them")
	}
	// `export kube APP` is the daemon's other spelling of export:kube.
	if len(args) >= 2 && args[0] == "export" && c.lookup("export:"+args[1]) != nil {
		args = append([]string{"export:" + args[1]}, args[2:]...)
	}
	cmd := c.lookup(args[0])
	if cmd == nil {
		return f, nil, nil, fmt.Errorf("unknown command %q; xcloud help lists them", args[0])
	}
	rest := args[1:]
	if !cmd.App && cmd.Name != "deploy" && cmd.Name != "open" {
		return f, cmd, rest, nil
	}
	var kept []string
	for i := 0; i < len(rest); {
		if cmd.Raw && !strings.HasPrefix(rest[i], "-") {
			kept = append(kept, rest[i:]...)
			break
		}
		n, err := f.takeFlag(rest[i:])
		if err != nil {
			return f, nil, nil, err
		}
		if n == 0 {
			kept = append(kept, rest[i])
			n = 1
		}
		i += n
	}
	return f, cmd, kept, nil
}

func (c *Client) lookup(name string) *Command {
	for _, list := range [][]Command{localCommands, c.commands} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// Known reports whether name is a command the client runs (a local one or
// the daemon's).
func (c *Client) Known(name string) bool { return c.lookup(name) != nil }

// Run runs one client command line, e.g. ["config:set", "K=V"]. The
// remote command's exit status comes back as an ExitError.
func (c *Client) Run(ctx context.Context, args []string) error {
	f, cmd, rest, err := c.parse(args)
	if err != nil {
		return err
	}
	switch cmd.Name {
	case "completion":
		return c.completion(ctx, f, rest)
	case "deploy":
		return c.deploy(ctx, f, rest)
	case "open":
		return c.open(ctx, f, rest)
	}
	t, _, err := c.resolve(ctx, f, cmd.App)
	if err != nil {
		return err
	}
	words := []string{cmd.Name}
	if cmd.App {
		words = append(words, t.App)
	}
	words = append(words, rest...)
	tty := cmd.Raw && c.stdinTTY
	return c.ssh(ctx, t, words, tty, c.stdin, c.stdout)
}

// resolve finds the daemon and app: --host, else the repository's remote
// (--remote, default "xcloud", else the one remote of user xcloud), else
// XCLOUD_HOST. It returns the git remote's name when one was used.
func (c *Client) resolve(ctx context.Context, f flags, needApp bool) (Target, string, error) {
	t, remote, err := c.findTarget(ctx, f)
	if err != nil {
		return t, "", err
	}
	if f.app != "" {
		t.App = f.app
	}
	if needApp && t.App == "" {
		return t, "", errors.New("which app? pass --app APP")
	}
	return t, remote, nil
}

func (c *Client) findTarget(ctx context.Context, f flags) (Target, string, error) {
	if f.host != "" {
		if f.remote != "" {
			return Target{}, "", errors.New("--host and --remote both given; pass one")
		}
		t, err := ParseHost(f.host)
		return t, "", err
	}
	inRepo := c.git(ctx, "rev-parse", "--git-dir") == nil
	if inRepo {
		name := f.remote
		if name == "" {
			name = "xcloud"
		}
		var out bytes.Buffer
		if err := c.gitOut(ctx, &out, "remote", "get-url", name); err == nil {
			raw := strings.TrimSpace(out.String())
			t, err := ParseRemote(raw)
			if err != nil {
				return t, "", fmt.Errorf("git remote %q (%s) is not an xcloud remote: %w; want ssh://xcloud@HOST:PORT/APP.git", name, raw, err)
			}
			return t, name, nil
		} else if f.remote != "" {
			return Target{}, "", fmt.Errorf("this repository has no git remote %q (git remote -v lists them)", f.remote)
		}
		if t, name, ok := c.onlyXcloudRemote(ctx); ok {
			return t, name, nil
		}
	}
	if h := c.getenv("XCLOUD_HOST"); h != "" {
		t, err := ParseHost(h)
		if err != nil {
			return t, "", fmt.Errorf("XCLOUD_HOST: %w", err)
		}
		return t, "", nil
	}
	if inRepo {
		return Target{}, "", errors.New(`this repository has no "xcloud" git remote; add one (git remote add xcloud ssh://xcloud@HOST:2222/APP.git) or pass --remote NAME or --host HOST[:PORT]`)
	}
	return Target{}, "", errors.New("not in a git repository: pass --host HOST[:PORT] (or set XCLOUD_HOST) and --app APP")
}

// onlyXcloudRemote finds the repository's one remote whose URL has the
// user xcloud, when the remote is not called xcloud.
func (c *Client) onlyXcloudRemote(ctx context.Context) (Target, string, bool) {
	var out bytes.Buffer
	if c.gitOut(ctx, &out, "config", "--get-regexp", `^remote\..*\.url$`) != nil {
		return Target{}, "", false
	}
	var found []Target
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		key, url, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		t, err := ParseRemote(url)
		if err != nil || t.User != "xcloud" {
			continue
		}
		found = append(found, t)
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(key, "remote."), ".url"))
	}
	if len(found) != 1 {
		return Target{}, "", false
	}
	return found[0], names[0], true
}

func (c *Client) git(ctx context.Context, args ...string) error {
	return c.gitOut(ctx, io.Discard, args...)
}

func (c *Client) gitOut(ctx context.Context, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = c.dir, out, nil
	return cmd.Run()
}

// sshCommand is the ssh to run, as a shell command line: $XCLOUD_SSH,
// else $GIT_SSH_COMMAND (the one git push uses), else ssh.
func (c *Client) sshCommand() string {
	for _, v := range []string{"XCLOUD_SSH", "GIT_SSH_COMMAND"} {
		if s := strings.TrimSpace(c.getenv(v)); s != "" {
			return s
		}
	}
	return "ssh"
}

// ssh runs words on t's daemon, quoted for its SSH door.
func (c *Client) ssh(ctx context.Context, t Target, words []string, tty bool, stdin io.Reader, stdout io.Writer) error {
	var args []string
	if tty {
		args = append(args, "-t")
	}
	if t.Port != 0 {
		args = append(args, "-p", fmt.Sprint(t.Port))
	}
	args = append(args, t.Destination(), Quote(words))
	return c.exec(ctx, shellCommand(c.sshCommand(), args), stdin, stdout, nil)
}

// shellCommand runs line with args appended, as git runs GIT_SSH_COMMAND:
// through sh, so options and quotes in it work; plain "ssh" runs directly.
// The shell execs the command when it can (not after a VAR=value), so
// signals reach ssh rather than a shell in front of it.
func shellCommand(line string, args []string) []string {
	if line == "ssh" {
		return append([]string{"ssh"}, args...)
	}
	script := line + ` "$@"`
	if first, _, _ := strings.Cut(line, " "); !strings.Contains(first, "=") {
		script = "exec " + script
	}
	return append([]string{"sh", "-c", script, line}, args...)
}

// exec runs argv with the client's stderr, passing the child's exit
// status on. A terminal's interrupt reaches the child itself (it is in the
// same process group), so the client waits for it: `logs -f` ends with
// ssh's status rather than the client dying first. SIGTERM, sent to the
// client alone, is passed on.
func (c *Client) exec(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer, env []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = c.dir, stdin, stdout, c.stderr
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-relayed
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return ExitError{Code: code}
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	return nil
}

// deploy pushes HEAD to the daemon's main; git push's own output shows
// the build.
func (c *Client) deploy(ctx context.Context, f flags, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("deploy: unexpected argument %q (usage: xcloud deploy)", rest[0])
	}
	if c.git(ctx, "rev-parse", "--git-dir") != nil {
		return errors.New("deploy: not in a git repository")
	}
	if c.git(ctx, "rev-parse", "--verify", "-q", "HEAD") != nil {
		return errors.New("deploy: nothing to deploy yet: the repository has no commit")
	}
	t, remote, err := c.resolve(ctx, f, true)
	if err != nil {
		return err
	}
	var status bytes.Buffer
	if c.gitOut(ctx, &status, "status", "--porcelain", "--untracked-files=no") == nil && status.Len() > 0 {
		fmt.Fprintln(c.stderr, "xcloud: uncommitted changes are not deployed (commit them first)")
	}
	dest := remote
	if dest == "" || f.app != "" {
		dest = t.RemoteURL(t.App)
	}
	var env []string
	if s := strings.TrimSpace(c.getenv("XCLOUD_SSH")); s != "" {
		env = []string{"GIT_SSH_COMMAND=" + s}
	}
	return c.exec(ctx, []string{"git", "push", dest, "HEAD:refs/heads/main"}, nil, c.stdout, env)
}

// open prints the app's URL (apps:info's) and, on a terminal, opens it.
func (c *Client) open(ctx context.Context, f flags, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("open: unexpected argument %q (usage: xcloud open)", rest[0])
	}
	t, _, err := c.resolve(ctx, f, true)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := c.ssh(ctx, t, []string{"apps:info", t.App, "--json"}, false, nil, &out); err != nil {
		return err
	}
	var info struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.URL == "" {
		return fmt.Errorf("open: the daemon's apps:info has no URL for %s", t.App)
	}
	fmt.Fprintln(c.stdout, info.URL)
	if !c.stdoutTTY {
		return nil
	}
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if _, err := exec.LookPath(opener); err != nil {
		return nil
	}
	if err := exec.CommandContext(ctx, opener, info.URL).Run(); err != nil {
		fmt.Fprintf(c.stderr, "xcloud: %s %s: %v\n", opener, info.URL, err)
	}
	return nil
}

// names returns every command's name, local ones first.
func (c *Client) names() []string {
	var out []string
	for _, list := range [][]Command{c.binary, localCommands, c.commands} {
		for _, cmd := range list {
			if !slices.Contains(out, cmd.Name) {
				out = append(out, cmd.Name)
			}
		}
	}
	return out
}
