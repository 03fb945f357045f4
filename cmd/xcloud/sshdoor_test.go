package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSSHDoorLogHasNoValues: config values set over real ssh never reach
// the daemon's log (at debug level), while the command and names do.
func TestSSHDoorLogHasNoValues(t *testing.T) {
	h := newHarness(t)
	if out, errOut, err := h.ssh(h.key, "apps:create", "door"); err != nil {
		t.Fatalf("apps:create: %v\n%s%s", err, out, errOut)
	}
	const value = "hunter2-in-the-log"
	if out, errOut, err := h.ssh(h.key, "config:set", "door", "SECRET="+value, "'OTHER="+value+" too'"); err != nil {
		t.Fatalf("config:set: %v\n%s%s", err, out, errOut)
	}
	// Refused lines are not logged either.
	if _, errOut, err := h.ssh(h.key, "config:set", "door", `A="`+value); err == nil || !strings.Contains(errOut, "unterminated quote") {
		t.Fatalf("unterminated quote: %v, stderr %q", err, errOut)
	}
	colours := regexp.MustCompile("\x1b\\[[0-9;]*m")
	var log string
	// The session line comes after the client saw the exit status.
	waitFor(t, 30*time.Second, "the three session lines in the daemon log", func() bool {
		log = colours.ReplaceAllString(h.log(), "")
		return strings.Count(log, "command=config:set") >= 2 && strings.Contains(log, "command_bytes=")
	})
	if strings.Contains(log, value) {
		t.Errorf("a config value is in the daemon log:\n%s", log)
	}
	if !strings.Contains(log, `command=config:set app=door vars="SECRET OTHER"`) {
		t.Errorf("the daemon log does not name the command and vars:\n%s", log)
	}
}

// TestSSHDoorRepoSize: with [limits] repo_size = "1MB" a 3 MB push is
// refused with one line naming the limit; a small push goes through.
func TestSSHDoorRepoSize(t *testing.T) {
	h := newHarness(t, "[limits]\nrepo_size = \"1MB\"\n")
	r := newRepo(t, h, h.key)
	blob := make([]byte, 3<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("big")
	out, err := r.push(h.remote("quota"), "main")
	if err == nil {
		t.Fatalf("a 3 MB push to a 1 MiB repository succeeded:\n%s", out)
	}
	if n := strings.Count(out, "! push refused: the repository would exceed repo_size (1 MiB; it uses "); n != 1 {
		t.Fatalf("%d refusal lines naming the limit, want 1:\n%s", n, out)
	}

	// A small push (a branch that is not deployed, so nothing is built)
	// is accepted.
	r.git("checkout", "-q", "--orphan", "small")
	r.git("rm", "-q", "--cached", "blob")
	os.Remove(filepath.Join(r.dir, "blob"))
	r.write("README", "small\n")
	r.commit("small")
	if out, err := r.push(h.remote("quota"), "small"); err != nil || !strings.Contains(out, "branch small pushed") {
		t.Fatalf("small push: %v\n%s", err, out)
	}
}
