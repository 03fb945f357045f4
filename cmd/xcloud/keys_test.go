package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var ansiRe = regexp.MustCompile("\x1b\\[[0-9;]*m")

// plainLog is the daemon log without colours.
func plainLog(h *harness) string { return ansiRe.ReplaceAllString(h.log(), "") }

// sshStdin runs an admin command with stdin read from a file, as in
// `ssh xcloud@HOST keys:add alice --app web < alice.pub`.
func (h *harness) sshStdin(key, stdin string, args ...string) (string, string, error) {
	h.t.Helper()
	in := filepath.Join(h.t.TempDir(), "stdin")
	writeFile(h.t, in, stdin)
	f, err := os.Open(in)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	full := append(strings.Fields(h.sshCommand(key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1")
	cmd := exec.Command(full[0], append(full[1:], args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// newUserKey makes a key pair in the harness dir; it returns the private
// key's path and the public key line.
func newUserKey(t *testing.T, h *harness, name string) (string, string) {
	t.Helper()
	path := filepath.Join(h.dir, name+"_key")
	return path, string(writeKey(t, path))
}

func mustSSH(t *testing.T, h *harness, key string, args ...string) string {
	t.Helper()
	out, errs, err := h.ssh(key, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s%s", args, err, out, errs)
	}
	return out
}

// wantDenied checks a command failed with exactly one line on stderr
// containing want.
func wantDenied(t *testing.T, what, out, errs string, err error, want string) {
	t.Helper()
	if err == nil || out != "" || !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("%s: err %v, stdout %q, stderr %q; want a one-line error containing %q", what, err, out, errs, want)
	}
}

// TestKeysCommands: keys:add, keys:list and keys:remove over SSH, with
// every kind of bad input.
func TestKeysCommands(t *testing.T) {
	h := newHarness(t)
	mustSSH(t, h, h.key, "apps:create", "web")
	mustSSH(t, h, h.key, "apps:create", "api")
	alice, alicePub := newUserKey(t, h, "alice")

	out, errs, err := h.sshStdin(h.key, alicePub, "keys:add", "alice", "--app", "web", "--app", "api")
	if err != nil || !strings.HasPrefix(out, "Added key alice (SHA256:") || !strings.HasSuffix(out, ") with access to: web, api\n") {
		t.Fatalf("keys:add: %v\n%s%s", err, out, errs)
	}
	// alice may now use her apps, and only those.
	if out := mustSSH(t, h, alice, "apps:list"); !strings.Contains(out, "web") || !strings.Contains(out, "api") {
		t.Errorf("apps:list by alice:\n%s", out)
	}

	_, bobPub := newUserKey(t, h, "bob")
	_, carolPub := newUserKey(t, h, "carol")
	adminPub, err := os.ReadFile(filepath.Join(h.dir, "admin_keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		desc, key, stdin string
		args             []string
		want             string
	}{
		{"bad name", h.key, bobPub, []string{"Bob!", "--admin"}, `error: keys:add: invalid key name "Bob!"`},
		{"two keys", h.key, bobPub + carolPub, []string{"bob", "--admin"}, "error: keys:add: stdin has more than one public key; send exactly one"},
		{"no key", h.key, "", []string{"bob", "--admin"}, "error: keys:add: no public key on stdin"},
		{"garbage", h.key, "not a key\n", []string{"bob", "--admin"}, "is not an OpenSSH public key"},
		{"unknown app", h.key, bobPub, []string{"bob", "--app", "nope"}, `error: keys:add: app "nope" does not exist`},
		{"admin and app", h.key, bobPub, []string{"bob", "--admin", "--app", "web"}, "--admin and --app exclude each other"},
		{"no access given", h.key, bobPub, []string{"bob"}, "give --admin or at least one --app APP"},
		{"duplicate name", h.key, bobPub, []string{"alice", "--admin"}, `a key named "alice" already exists`},
		{"duplicate key", h.key, alicePub, []string{"alice2", "--admin"}, `is already registered as "alice"`},
		{"admin_keys file key", h.key, string(adminPub), []string{"again", "--admin"}, "in the admin_keys file"},
		{"non-admin caller", alice, bobPub, []string{"bob", "--admin"}, "error: key alice may not run keys:add: it needs an admin key"},
	} {
		out, errs, err := h.sshStdin(tt.key, tt.stdin, append([]string{"keys:add"}, tt.args...)...)
		wantDenied(t, tt.desc, out, errs, err, tt.want)
	}

	out = mustSSH(t, h, h.key, "keys:list", "--json")
	var keys []struct {
		Name, Fingerprint, Source string
		Admin                     bool
		Apps                      []string
		CreatedAt                 *time.Time `json:"created_at"`
	}
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("keys:list --json: %v\n%s", err, out)
	}
	if len(keys) != 2 || keys[0].Source != "file" || !keys[0].Admin || keys[0].CreatedAt != nil ||
		keys[1].Name != "alice" || keys[1].Source != "store" || keys[1].Admin || strings.Join(keys[1].Apps, ",") != "web,api" ||
		keys[1].CreatedAt == nil || !strings.HasPrefix(keys[1].Fingerprint, "SHA256:") {
		t.Errorf("keys:list --json = %+v", keys)
	}
	if out := mustSSH(t, h, h.key, "keys:list"); !strings.Contains(out, "admin_keys file") || !strings.Contains(out, "web, api") {
		t.Errorf("keys:list:\n%s", out)
	}
	out, errs, err = h.ssh(alice, "keys:list")
	wantDenied(t, "keys:list by alice", out, errs, err, "error: key alice may not run keys:list: it needs an admin key")

	out, errs, err = h.ssh(h.key, "keys:remove", keys[0].Name)
	wantDenied(t, "keys:remove of a file key", out, errs, err, "edit the admin_keys file")
	out, errs, err = h.ssh(alice, "keys:remove", "alice")
	wantDenied(t, "keys:remove by alice", out, errs, err, "error: key alice may not run keys:remove: it needs an admin key")
	if out := mustSSH(t, h, h.key, "keys:remove", "alice"); out != "Removed key alice\n" {
		t.Errorf("keys:remove: %q", out)
	}
	out, errs, err = h.ssh(h.key, "keys:remove", "alice")
	wantDenied(t, "keys:remove twice", out, errs, err, `error: keys:remove: key "alice" does not exist`)
	// Removal takes effect at once.
	if out, errs, err := h.ssh(alice, "apps:list"); err == nil || !strings.Contains(errs, "Permission denied") {
		t.Errorf("removed key: err %v\n%s%s", err, out, errs)
	}
	// Her denials are in the daemon log with key, command and app.
	if log := plainLog(h); !strings.Contains(log, "access denied") || !strings.Contains(log, "key=alice") || !strings.Contains(log, "command=keys:list") {
		t.Errorf("no access denied log line for alice")
	}
}

// TestKeyPermissions: admin key, app key on its app, app key on another
// app and an unknown key, each pushing, reading and running admin commands.
func TestKeyPermissions(t *testing.T) {
	h := newHarness(t)
	alice, alicePub := newUserKey(t, h, "alice")
	stranger, _ := newUserKey(t, h, "stranger")

	r := newRepo(t, h, h.key)
	helloBinary(t, filepath.Join(r.dir, "app"), "one")
	r.write("Containerfile", containerfile)
	r.commit("one")
	if out, err := r.push(h.remote("web"), "main"); err != nil {
		t.Fatalf("admin push: %v\n%s", err, out)
	}
	h.waitBody("web."+baseDomain, "one", 10*time.Second)
	mustSSH(t, h, h.key, "apps:create", "api")
	if out, errs, err := h.sshStdin(h.key, alicePub, "keys:add", "alice", "--app", "web"); err != nil {
		t.Fatalf("keys:add: %v\n%s%s", err, out, errs)
	}

	// Pushes.
	ra := newRepo(t, h, alice)
	ra.git("pull", "-q", r.dir, "main")
	helloBinary(t, filepath.Join(ra.dir, "app"), "two")
	ra.commit("two")
	if out, err := ra.push(h.remote("web"), "main"); err != nil {
		t.Fatalf("alice's push to web: %v\n%s", err, out)
	}
	h.waitBody("web."+baseDomain, "two", 10*time.Second)
	if out, err := ra.push(h.remote("api"), "main"); err == nil || !strings.Contains(out, "key alice may not push to api") {
		t.Errorf("alice's push to api: %v\n%s", err, out)
	}
	if out, err := ra.push(h.remote("newapp"), "main"); err == nil || !strings.Contains(out, "key alice may not push to newapp") {
		t.Errorf("alice's push creating an app: %v\n%s", err, out)
	}
	rs := newRepo(t, h, stranger)
	rs.git("pull", "-q", r.dir, "main")
	if out, err := rs.push(h.remote("web"), "main"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("unknown key's push: %v\n%s", err, out)
	}
	if out := mustSSH(t, h, h.key, "apps:list"); strings.Contains(out, "newapp") {
		t.Errorf("a denied push created an app:\n%s", out)
	}

	// A read command.
	if out := mustSSH(t, h, h.key, "releases", "api"); !strings.Contains(out, "VERSION") {
		t.Errorf("releases api by admin:\n%s", out)
	}
	if out := mustSSH(t, h, alice, "releases", "web"); !strings.Contains(out, "v2") {
		t.Errorf("releases web by alice:\n%s", out)
	}
	out, errs, err := h.ssh(alice, "releases", "api")
	wantDenied(t, "releases api by alice", out, errs, err, "error: key alice may not run releases on app api")
	if out, errs, err := h.ssh(stranger, "releases", "web"); err == nil || !strings.Contains(errs, "Permission denied") {
		t.Errorf("releases by an unknown key: %v\n%s%s", err, out, errs)
	}

	// Admin commands.
	if out := mustSSH(t, h, h.key, "keys:list"); !strings.Contains(out, "alice") {
		t.Errorf("keys:list by admin:\n%s", out)
	}
	out, errs, err = h.ssh(alice, "apps:create", "mine")
	wantDenied(t, "apps:create by alice", out, errs, err, "error: key alice may not run apps:create: it needs an admin key")
	out, errs, err = h.ssh(alice, "ps:scale", "api", "web=2")
	wantDenied(t, "ps:scale api by alice", out, errs, err, "error: key alice may not run ps:scale on app api")
	if out, errs, err := h.ssh(stranger, "keys:list"); err == nil || !strings.Contains(errs, "Permission denied") {
		t.Errorf("keys:list by an unknown key: %v\n%s%s", err, out, errs)
	}
	if out := mustSSH(t, h, alice, "apps:list"); !strings.Contains(out, "web") || strings.Contains(out, "api") {
		t.Errorf("apps:list by alice shows other apps:\n%s", out)
	}
	// apps:create was refused: nothing changed.
	if out := mustSSH(t, h, h.key, "apps:list"); strings.Contains(out, "mine") {
		t.Errorf("refused apps:create created the app:\n%s", out)
	}
	log := plainLog(h)
	for _, want := range []string{"command=push app=api", "command=apps:create", "command=releases app=api"} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks the denial %q", want)
		}
	}
}

// TestFailedLoginLimit: after ssh.max_auth_failures connections with unknown
// keys from 127.0.0.1, even an admin key is refused during the ban.
func TestFailedLoginLimit(t *testing.T) {
	h := newHarness(t)
	mustSSH(t, h, h.key, "version")
	b, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\n[http]\n", "\nmax_auth_failures = 3\nauth_failure_ban = \"1h\"\n[http]\n", 1)
	writeFile(t, h.config, cfg)
	h.restartWith()

	// A client offering a wrong key before the right one is not failing.
	stranger, _ := newUserKey(t, h, "stranger")
	for range 4 {
		full := append(strings.Fields(h.sshCommand(stranger)), "-i", h.key, "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1", "version")
		if out, err := exec.Command(full[0], full[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("wrong key, then the right one: %v\n%s", err, out)
		}
	}
	for i := 1; i <= 3; i++ {
		if out, errs, err := h.ssh(stranger, "version"); err == nil || !strings.Contains(errs, "Permission denied") {
			t.Fatalf("unknown key %d: %v\n%s%s", i, err, out, errs)
		}
	}
	// The daemon counts a failure when it closes the connection.
	waitFor(t, 30*time.Second, "the ban", func() bool {
		return strings.Contains(plainLog(h), "too many failed logins; refusing connections from this address")
	})
	if n := strings.Count(plainLog(h), "rejected_keys="); n != 3 {
		t.Errorf("%d failed logins logged, want 3", n)
	}
	out, errs, err := h.ssh(h.key, "version")
	if err == nil || strings.Contains(out, "xcloud") || strings.Contains(errs, "Permission denied") {
		t.Fatalf("admin key during the ban: err %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(plainLog(h), "refused connection: too many failed logins") {
		t.Errorf("refused connection not logged")
	}
}
