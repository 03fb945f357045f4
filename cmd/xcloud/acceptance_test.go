package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPushDeploy is the first user story end to end: push a Dockerfile app,
// reach it through the proxy, push a change, survive a broken build and a
// daemon restart.
func TestPushDeploy(t *testing.T) {
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	app := "hello"
	host := app + "." + baseDomain

	r.write("Dockerfile", containerfile)
	helloBinary(t, filepath.Join(r.dir, "app"), "hello v1")
	r.commit("v1")
	out, err := r.push(h.remote(app), "main")
	if err != nil {
		t.Fatalf("first push failed: %v\n%s", err, out)
	}
	for _, want := range []string{"Created app hello", "-----> Building hello", "STEP 1/", "Starting 1 web container"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(fmt.Sprintf(`=====> hello v1 deployed in (?:[0-9]+m)?[0-9.]+s: http://%s:%d\n`, regexp.QuoteMeta(host), h.httpPort)).MatchString(out) {
		t.Errorf("push output does not end with the release, time and URL:\n%s", out)
	}
	h.waitBody(host, "hello v1", 10*time.Second)

	// A change replaces the running version; the old container is gone.
	helloBinary(t, filepath.Join(r.dir, "app"), "hello v2")
	r.commit("v2")
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("second push failed: %v\n%s", err, out)
	}
	h.waitBody(host, "hello v2", 10*time.Second)
	if cs := h.appContainers(app); len(cs) != 1 || !strings.Contains(cs[0], "-v2-") {
		t.Errorf("want exactly the v2 container after the redeploy, have %v", cs)
	}

	// Pushing the same commit again does not rebuild.
	out, err = r.push(h.remote(app), "main")
	if err != nil || !strings.Contains(out, "Everything up-to-date: v2") || strings.Contains(out, "Building") {
		t.Errorf("re-push of the serving commit: err %v\n%s", err, out)
	}

	// A broken build fails the push with the reason; v2 keeps serving.
	r.write("Dockerfile", containerfile+"COPY does-not-exist /x\n")
	r.commit("broken")
	out, err = r.push(h.remote(app), "main")
	if err == nil {
		t.Fatalf("push of a broken build succeeded:\n%s", out)
	}
	if !strings.Contains(out, "deploy failed: build failed") || !strings.Contains(out, "does-not-exist") {
		t.Errorf("broken build output does not say why:\n%s", out)
	}
	h.waitBody(host, "hello v2", time.Second)

	// Other branches are stored, not deployed.
	r.git("checkout", "-q", "-b", "feature")
	r.write("Dockerfile", containerfile)
	r.commit("feature")
	out, err = r.push(h.remote(app), "feature")
	if err != nil || !strings.Contains(out, "only main") {
		t.Errorf("push of a feature branch: err %v\n%s", err, out)
	}
	h.waitBody(host, "hello v2", time.Second)

	// The database remembers: releases, builds, and the failed build's log.
	stdout, stderr, err := h.ssh(h.key, "releases", app, "--json")
	if err != nil {
		t.Fatalf("releases: %v %s", err, stderr)
	}
	var rels []struct {
		Version int
		Status  string
	}
	if err := json.Unmarshal([]byte(stdout), &rels); err != nil {
		t.Fatalf("releases --json: %v\n%s", err, stdout)
	}
	if len(rels) != 2 || rels[0].Version != 2 || rels[0].Status != "active" || rels[1].Status != "superseded" {
		t.Errorf("releases = %+v", rels)
	}
	stdout, _, err = h.ssh(h.key, "builds:log", app)
	if err != nil || !strings.Contains(stdout, "does-not-exist") {
		t.Errorf("builds:log of the failed build: %v\n%s", err, stdout)
	}

	// A restart reconciles: the app serves again without a push.
	h.stop()
	h.start()
	h.waitBody(host, "hello v2", 30*time.Second)
	if cs := h.appContainers(app); len(cs) != 1 {
		t.Errorf("after restart want 1 container, have %v", cs)
	}
}

// TestBadInput checks that each kind of bad input gets a clear message, a
// non-zero exit, and changes nothing.
func TestBadInput(t *testing.T) {
	h := newHarness(t)

	t.Run("unknown key", func(t *testing.T) {
		stranger := filepath.Join(t.TempDir(), "stranger")
		writeKey(t, stranger)
		r := newRepo(t, h, stranger)
		r.write("Dockerfile", containerfile)
		r.commit("x")
		out, err := r.push(h.remote("intruder"), "main")
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("push with an unknown key: err %v\n%s", err, out)
		}
	})

	t.Run("bad app names", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("Dockerfile", containerfile)
		r.commit("x")
		for _, name := range []string{"Hello", "a;b", "-x", strings.Repeat("a", 64), "a_b"} {
			out, err := r.push(h.remote(name), "main")
			if err == nil || !strings.Contains(out, "invalid app name") {
				t.Errorf("push to %q: err %v\n%s", name, err, out)
			}
		}
		out, err := r.push("ssh://xcloud@127.0.0.1:"+itoa(h.sshPort)+"/../x.git", "main")
		if err == nil || !strings.Contains(out, "invalid app name") {
			t.Errorf("push to ../x: err %v\n%s", err, out)
		}
	})

	t.Run("no Containerfile", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("README.md", "nothing to build\n")
		r.commit("x")
		out, err := r.push(h.remote("empty"), "main")
		if err == nil || !strings.Contains(out, "no Containerfile, Dockerfile, go.mod, package.json") {
			t.Errorf("push without a Containerfile: err %v\n%s", err, out)
		}
		// The refused push is a failed build, so notifiers hear of it.
		builds, _, err := h.ssh(h.key, "builds", "empty", "--json")
		if err != nil || !strings.Contains(builds, `"failed"`) || !strings.Contains(builds, "no Containerfile") {
			t.Errorf("builds after a refused push: %v\n%s", err, builds)
		}
		if evs, _, err := h.ssh(h.key, "events", "empty"); err != nil || !strings.Contains(evs, "build:failed") {
			t.Errorf("events after a refused push: %v\n%s", err, evs)
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		_, stderr, err := h.ssh(h.key, "apps:frobnicate")
		if err == nil || !strings.Contains(stderr, `unknown command "apps:frobnicate"`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("unknown command: err %v, stderr %q", err, stderr)
		}
	})

	// Nothing above created an app except "empty", whose push created it but
	// deployed nothing.
	stdout, _, err := h.ssh(h.key, "apps:list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var apps []struct {
		Name           string
		CurrentRelease int `json:"version"`
	}
	if err := json.Unmarshal([]byte(stdout), &apps); err != nil {
		t.Fatalf("apps:list --json: %v\n%s", err, stdout)
	}
	if len(apps) != 1 || apps[0].Name != "empty" || apps[0].CurrentRelease != 0 {
		t.Errorf("apps after bad input = %+v", apps)
	}
}

// TestConfigErrors checks start-up refuses a bad config with one line naming
// the key and line.
func TestConfigErrors(t *testing.T) {
	bin := xcloudBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	writeFile(t, path, "data_dir = \""+dir+"\"\n[ssh]\nlisten = \":2222\"\nlistn = \":1\"\n")
	out, err := exec.Command(bin, "daemon", "-config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started with a bad config:\n%s", out)
	}
	if got := strings.TrimSpace(string(out)); got != "xcloud: "+path+":4: ssh.listn: unknown key" {
		t.Errorf("error = %q", got)
	}
}
