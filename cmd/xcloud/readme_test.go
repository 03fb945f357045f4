package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon/config"
)

// The README's promise: every example in it is run by a test or a script in
// CI. TestReadme starts the real daemon and
//
//   - checks that the commands `help` lists and the commands in the README's
//     commands table (between <!-- commands:begin --> and <!-- commands:end -->)
//     are the same set, by name only, so usage and wording may change freely;
//   - runs every line of every ```sh block in the README that talks to the
//     daemon (`ssh -p 2222 xcloud@HOST ...`, `git remote add`/`git push` to
//     ssh://xcloud@HOST:2222/, `curl` to the dev proxy on 127.0.0.1:8080),
//     with HOST and the ports replaced by the harness's, and checks that
//     each one exits 0 (and, for the quoting examples, prints what the README
//     says);
//   - checks the two quoting mistakes the README warns about behave as it says;
//   - parses every ```toml block with the daemon's own config parser.
//
// Exempt (readmeExempt below, each with its reason): lines that need a real
// server, root, the network or minutes of work — contrib/install.sh,
// systemctl/journalctl, DNS look-ups, make targets, git clone, the bench.
// A sh line that is neither run nor listed as exempt fails the test, so a new
// example cannot slip in unchecked.
func TestReadme(t *testing.T) {
	readme := readReadme(t)

	t.Run("toml", func(t *testing.T) {
		for i, block := range fencedBlocks(readme, "toml") {
			if _, err := config.Parse(fmt.Sprintf("README toml block %d", i+1), strings.NewReader(block), func(string) (string, bool) { return "", false }); err != nil {
				t.Errorf("README toml block %d does not parse: %v\n%s", i+1, err, block)
			}
		}
	})

	h := newHarness(t)

	t.Run("commands", func(t *testing.T) {
		out, errOut, err := h.ssh(h.key, "help")
		if err != nil {
			t.Fatalf("help: %v\n%s%s", err, out, errOut)
		}
		inHelp := helpCommands(out)
		inReadme := readmeCommands(t, readme)
		if len(inHelp) < 10 {
			t.Fatalf("help lists %d commands; the parser no longer understands it:\n%s", len(inHelp), out)
		}
		for _, c := range sortedKeys(inHelp) {
			if !inReadme[c] {
				t.Errorf("help lists %s, the README's commands table does not", c)
			}
		}
		for _, c := range sortedKeys(inReadme) {
			if !inHelp[c] {
				t.Errorf("the README's commands table lists %s, help does not", c)
			}
		}
	})

	t.Run("examples", func(t *testing.T) {
		r := appRepo(t, h)
		// busybox answers to the name it is run as: env and echo for the
		// README's `run` examples, which exec them without a shell.
		r.write("Containerfile", "FROM scratch\nCOPY busybox /bin/sh\nCOPY busybox /bin/env\nCOPY busybox /bin/echo\nCOPY app /app\nCMD [\"/app\"]\n")
		r.setApp("hello from the README", "ok")
		r.commit("README example")
		work := t.TempDir()
		_, pub := newUserKey(t, h, "alice")
		writeFile(t, filepath.Join(work, "alice.pub"), pub)

		ran := 0
		for _, line := range shLines(readme) {
			if why := readmeExempt(line); why != "" {
				t.Logf("exempt (%s): %s", why, line)
				continue
			}
			cmdline, dir, env, ok := readmeRunnable(h, r, work, line)
			if !ok {
				t.Errorf("README example is neither run by TestReadme nor exempt: %s", line)
				continue
			}
			cmd := exec.Command("bash", "-c", cmdline)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("README example failed: %s\n(ran: %s)\n%v\n%s", line, cmdline, err, out)
				continue
			}
			ran++
			t.Logf("ok: %s", line)
			for substr, want := range readmeOutputs {
				if strings.Contains(line, substr) && !strings.Contains(string(out), want) {
					t.Errorf("README example %s: want %q in its output, got:\n%s", line, want, out)
				}
			}
		}
		if ran < 5 {
			t.Errorf("only %d README examples ran; the sh blocks or their parsing changed", ran)
		}
		if v := h.configOf("hello")["MSG"]; v != "a b c" {
			t.Errorf("after the README's config:set examples, MSG = %q, want %q", v, "a b c")
		}
	})

	t.Run("quoting mistakes", func(t *testing.T) {
		// README, "Quoting": ssh joins its arguments with spaces and the
		// daemon splits the line again, so single quotes meant for the
		// local shell are gone by the time the daemon sees the line.
		if out, errOut, err := h.ssh(h.key, "config:set", "hello", "MSG=a b c"); err == nil || !strings.Contains(errOut, `"b" is not KEY=VALUE`) {
			t.Errorf("config:set hello 'MSG=a b c' (unquoted for the daemon): the README says it fails with %q; got %v:\n%s%s", `"b" is not KEY=VALUE`, err, out, errOut)
		}
		out, errOut, err := h.ssh(h.key, "run", "hello", "echo a && echo b")
		if err != nil || !strings.Contains(out, "a && echo b") {
			t.Errorf("run hello 'echo a && echo b' (unquoted for the daemon): the README says it prints %q; got %v:\n%s%s", "a && echo b", err, out, errOut)
		}
	})
}

// readmeOutputs: for README examples containing the key, what their output
// must contain.
var readmeOutputs = map[string]string{
	"config:get hello MSG":         "a b c",
	"'echo one && echo two'":       "one\ntwo",
	"run hello env":                "GREETING=hi",
	"curl -H 'Host: hello.xcloud.": "hello from the README",
}

// readmeExempt says why a README sh line is not run by TestReadme, or "".
func readmeExempt(line string) string {
	for _, e := range []struct{ prefix, why string }{
		{"git pull ", "upgrades a real install (git pull, make build, install.sh as root)"},
		{"git clone ", "clones this repository from wherever you got it; the test runs inside a clone"},
		{"make ", "make run/build/test/bench install packages or run for minutes; CI runs make test itself"},
		{"sudo ", "needs root and a real server (contrib/install.sh, systemctl, userdel); make test-rootless runs install.sh in CI"},
		{"systemctl ", "needs the systemd service of a real install"},
		{"journalctl ", "needs the systemd service of a real install"},
		{"dig ", "needs public DNS for your domain"},
		{"podman ", "inspects the host's Podman; output depends on the machine"},
		{"go run ./cmd/xcloud-bench", "the benchmark runs for minutes; make bench runs it"},
		{"xcloud ", "the binary's own commands (stack build needs root and minutes; make deps runs it)"},
		{"ssh -t ", "needs a terminal"},
		{"cp ", "server-side backup by hand: needs a real install's files"},
		{"tar ", "server-side backup by hand: needs a real install's files"},
		{"rm ", "uninstall: needs a real install"},
		{"ssh-keygen ", "makes a key on your machine; the test makes its own"},
	} {
		if strings.HasPrefix(line, e.prefix) {
			return e.why
		}
	}
	if strings.HasPrefix(line, "ssh ") && regexp.MustCompile(`(^| )-f( |$)`).MatchString(line) {
		return "follows output until interrupted"
	}
	if strings.Contains(line, "xcloud@SERVER") || strings.Contains(line, "@SERVER:") {
		return "needs a real server (SERVER is its name)"
	}
	return ""
}

// readmeRunnable turns a README line into one the harness can run: the
// command line, its directory and environment.
func readmeRunnable(h *harness, r *repo, work, line string) (string, string, []string, bool) {
	port := fmt.Sprint(h.sshPort)
	switch {
	case strings.HasPrefix(line, "ssh -p 2222 xcloud@HOST "):
		rest := strings.TrimPrefix(line, "ssh -p 2222 xcloud@HOST ")
		return h.sshCommand(h.key) + " -p " + port + " xcloud@127.0.0.1 " + rest, work, os.Environ(), true
	case strings.HasPrefix(line, "git remote add ") || strings.HasPrefix(line, "git push "):
		l := strings.ReplaceAll(line, "ssh://xcloud@HOST:2222/", "ssh://xcloud@127.0.0.1:"+port+"/")
		return l, r.dir, r.env, true
	case strings.HasPrefix(line, "curl ") && strings.Contains(line, "http://127.0.0.1:8080/"):
		l := strings.ReplaceAll(line, "http://127.0.0.1:8080/", fmt.Sprintf("http://127.0.0.1:%d/", h.httpPort))
		l = strings.ReplaceAll(l, ".xcloud.localhost", "."+baseDomain)
		return "curl -sSf " + strings.TrimPrefix(l, "curl "), work, os.Environ(), true
	}
	return "", "", nil, false
}

func readReadme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fencedBlocks returns the bodies of the ```lang blocks of md.
func fencedBlocks(md, lang string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		switch {
		case !in && strings.TrimSpace(l) == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimSpace(l) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, l)
		}
	}
	return blocks
}

// shLines returns the commands of the README's ```sh blocks: continuation
// lines joined, blank lines and comments dropped, a trailing "  # comment"
// cut off.
func shLines(md string) []string {
	var lines []string
	for _, block := range fencedBlocks(md, "sh") {
		joined := strings.ReplaceAll(block, "\\\n", " ")
		for _, l := range strings.Split(joined, "\n") {
			if i := strings.Index(l, "  #"); i >= 0 {
				l = l[:i]
			}
			l = strings.Join(strings.Fields(l), " ")
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			lines = append(lines, l)
		}
	}
	return lines
}

var commandName = regexp.MustCompile(`^[a-z]+(:[a-z-]+)*$`)

// helpCommands returns the command names in help's output: the first word
// of each indented line that looks like a command name.
func helpCommands(help string) map[string]bool {
	names := map[string]bool{}
	for _, l := range strings.Split(help, "\n") {
		// A command's line is indented a little; a wrapped description,
		// a heading or an example is not a command.
		indent := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent == 0 || indent > 4 {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 || !commandName.MatchString(f[0]) {
			continue
		}
		switch f[0] {
		case "ssh", "git", "xcloud", "curl": // example lines
			continue
		}
		names[f[0]] = true
	}
	return names
}

var backticked = regexp.MustCompile("`([^`]+)`")

// readmeCommands returns the command names in the first column of the
// README's commands table, between its markers.
func readmeCommands(t *testing.T, md string) map[string]bool {
	t.Helper()
	_, rest, ok := strings.Cut(md, "<!-- commands:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- commands:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- commands:begin --> ... <!-- commands:end --> section")
	}
	names := map[string]bool{}
	for _, l := range strings.Split(section, "\n") {
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		first := strings.SplitN(strings.TrimPrefix(l, "|"), " | ", 2)[0]
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			if f := strings.Fields(m[1]); len(f) > 0 && commandName.MatchString(f[0]) {
				names[f[0]] = true
			}
		}
	}
	return names
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestReadmeBenchSummary: the README's performance summary is generated
// from bench/results.json by benchSummary; after `make bench`, paste what
// this test prints between the README's bench markers.
func TestReadmeBenchSummary(t *testing.T) {
	readme := readReadme(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "bench", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := benchSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(readme, "<!-- bench:begin -->\n")
	got, _, ok2 := strings.Cut(rest, "<!-- bench:end -->")
	if !ok || !ok2 {
		t.Fatalf("README.md has no <!-- bench:begin --> ... <!-- bench:end --> section; want:\n%s", want)
	}
	if got != want {
		t.Errorf("README's performance summary is not bench/results.json's; want:\n%s\ngot:\n%s", want, got)
	}
}
