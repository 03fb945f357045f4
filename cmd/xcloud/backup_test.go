package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBackupRestore backs a node up over SSH (during a deploy), throws away
// its data_dir and everything Podman held for it, restores the archive and
// starts again: every app serves what it served, config vars included, the
// volume holds its data and takes writes as the app's user, the static site
// is back. Restore refuses a running daemon, a data_dir in use, a damaged
// or foreign file, each in one line and changing nothing.
func TestBackupRestore(t *testing.T) {
	h := newHarness(t)
	removeVolumes := func() {
		if names := podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.instance="+h.instance); names != "" {
			podmanOut(t, append([]string{"volume", "rm", "-f"}, strings.Fields(names)...)...)
		}
	}
	t.Cleanup(removeVolumes)

	// keep: a volume the app writes as uid 1000.
	const keep = "keep"
	keepHost := keep + "." + baseDomain
	h.mustSSH("apps:create", keep)
	h.mustSSH("storage:mount", keep, "data:/data")
	r := volappRepo(t, h)
	r.setMessage("keep-v1")
	r.commit("v1")
	if out, err := r.push(h.remote(keep), "main"); err != nil {
		t.Fatalf("push %s: %v\n%s", keep, err, out)
	}
	h.waitBody(keepHost, "keep-v1", 30*time.Second)
	for _, line := range []string{"one", "two"} {
		h.mustGet(keepHost, "/append?line="+line, http.StatusOK)
	}

	// conf: a config var.
	const conf = "conf"
	confHost := conf + "." + baseDomain
	cr := h.deployApp(conf, "conf-v1")
	h.mustSSH("config:set", conf, "GREETING=hi-there")
	waitFor(t, 30*time.Second, "the config var", func() bool {
		_, body, _ := h.getPath(confHost, "/env?name=GREETING")
		return body == "hi-there\n"
	})

	// site: static files, no image.
	const site = "site"
	sr := newRepo(t, h, h.key)
	const siteBody = "<!doctype html><title>site</title><p>site-body</p>\n"
	sr.write("index.html", siteBody)
	sr.commit("site")
	if out, err := sr.push(h.remote(site), "main"); err != nil {
		t.Fatalf("push %s: %v\n%s", site, err, out)
	}
	h.waitBody(site+"."+baseDomain, strings.TrimSpace(siteBody), 30*time.Second)

	// cache: a Redis service holding a key (its dump goes in the archive).
	h.mustSSH("services:create", "redis", "cache", "--memory", "64m")
	if out, errs, err := svcSSHIn(h, []byte("SET marker kept-in-the-backup\n"), "services:connect", "cache"); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("SET in cache: %v %q %q", err, out, errs)
	}

	// The backup runs while conf deploys v2: the archive must be whole
	// whichever way the race goes.
	cr.setApp("conf-v2", "ok")
	cr.commit("v2")
	pushDone := make(chan error, 1)
	go func() {
		out, err := cr.push(h.remote(conf), "main")
		if err != nil {
			err = &pushError{err, out}
		}
		pushDone <- err
	}()
	archive := filepath.Join(h.dir, "box.tar.zst")
	stderr := h.backupTo(archive, "--with-key")
	if !strings.Contains(stderr, "as secret as the key") {
		t.Errorf("backup --with-key does not say the archive is secret: %q", stderr)
	}
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	h.waitBody(confHost, "conf-v2", 30*time.Second)
	if st, err := os.Stat(archive); err != nil || st.Size() == 0 {
		t.Fatalf("archive: %v", err)
	}
	if out := h.mustSSH("events", "-n", "50"); !strings.Contains(out, "backup:succeeded") {
		t.Errorf("no backup:succeeded event:\n%s", out)
	}

	restore := func(args ...string) (string, error) {
		cmd := exec.Command(h.bin, append([]string{"restore", "-config", h.config}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	oneLine := func(what, out string, err error, want string) {
		t.Helper()
		if err == nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, want) {
			t.Fatalf("%s: err %v, output %q; want one line with %q", what, err, out, want)
		}
	}
	out, err := restore(archive)
	oneLine("restore with the daemon running", out, err, "the daemon is running")
	h.stop()
	out, err = restore(archive)
	oneLine("restore onto a data_dir in use", out, err, "is not empty")

	// Throw the node away: data_dir, containers, images, volumes.
	data := filepath.Join(h.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	h.cleanup()
	removeVolumes()

	// Damaged and foreign files change nothing.
	full, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(h.dir, "cut.tar.zst")
	writeFile(t, cut, string(full[:len(full)*2/3]))
	out, err = restore(cut)
	oneLine("restore of a truncated archive", out+"", err, "backup is damaged")
	foreign := filepath.Join(h.dir, "notes.txt")
	writeFile(t, foreign, "not a backup\n")
	out, err = restore(foreign)
	oneLine("restore of a text file", out, err, "not an xcloud backup")
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left data_dir: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(h.dir, ".xcloud-restore-*")); len(left) > 0 {
		t.Fatalf("a refused restore left %v", left)
	}
	if names := podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.instance="+h.instance); names != "" {
		t.Fatalf("a refused restore made volumes: %s", names)
	}
	noStaging := func(when string) {
		t.Helper()
		if names := podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.restore-staging="+h.instance); names != "" {
			t.Fatalf("%s left its staging volume: %s", when, names)
		}
	}
	noStaging("a refused restore")

	start := time.Now()
	out, err = restore(archive)
	if err != nil || !strings.Contains(out, "Restored 3 app(s), 1 volume(s), 1 service dump(s) and 0 image(s)") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	noStaging("restore")
	out, err = restore(archive)
	oneLine("a second restore without --force", out, err, "is not empty")

	h.start()
	// The images are rebuilt from the repositories; the site is served at once.
	h.waitBody(site+"."+baseDomain, strings.TrimSpace(siteBody), 10*time.Second)
	h.waitBody(keepHost, "keep-v1", 3*time.Minute)
	// conf serves the release the snapshot saw: v1 (with the config var)
	// or v2, never anything else.
	waitFor(t, 3*time.Minute, "conf's release of the snapshot", func() bool {
		code, body, _ := h.get(confHost)
		return code == http.StatusOK && (body == "conf-v1\n" || body == "conf-v2\n")
	})
	if got := h.mustGet(confHost, "/env?name=GREETING", http.StatusOK); got != "hi-there\n" {
		t.Errorf("restored config var GREETING = %q", got)
	}
	if got := h.mustGet(keepHost, "/read", http.StatusOK); got != "one\ntwo\n" {
		t.Errorf("restored volume holds %q, want one, two", got)
	}
	h.mustGet(keepHost, "/append?line=three", http.StatusOK) // still the app user's to write
	if got := h.mustGet(keepHost, "/read", http.StatusOK); got != "one\ntwo\nthree\n" {
		t.Errorf("after a write the volume holds %q", got)
	}
	// The service is made again and its dump restored once it answers.
	waitFor(t, 3*time.Minute, "cache's key restored", func() bool {
		out, _, err := svcSSHIn(h, []byte("GET marker\n"), "services:connect", "cache")
		return err == nil && strings.TrimSpace(out) == "kept-in-the-backup"
	})
	if out := h.mustSSH("services:backups", "cache"); !regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z`).MatchString(out) {
		t.Errorf("the restored dump is not listed as a stored dump:\n%s", out)
	}
	if out := h.mustSSH("events", "-n", "100"); !strings.Contains(out, "missing") && !strings.Contains(out, "build:succeeded") {
		t.Errorf("no rebuild in the events:\n%s", out)
	}
}

// TestBackupRestoreImages: with --with-images the archive holds the app's
// release image, so after the node is thrown away (images included) and
// restored, the daemon serves the app from the restored image: no build
// event and no rebuild, whatever the time it takes.
func TestBackupRestoreImages(t *testing.T) {
	h := newHarness(t)
	const app = "imgs"
	host := app + "." + baseDomain
	h.deployApp(app, "imgs-v1")
	builds := func() int {
		return strings.Count(h.mustSSH("events", app, "-n", "200"), "build:started")
	}
	before := builds()
	if before == 0 {
		t.Fatal("no build:started event for the deploy")
	}

	archive := filepath.Join(h.dir, "box.tar.zst")
	stderr := h.backupTo(archive, "--with-images")
	if !strings.Contains(stderr, "1 image(s)") {
		t.Fatalf("backup --with-images does not report the image: %q", stderr)
	}
	h.stop()
	if err := os.RemoveAll(filepath.Join(h.dir, "data")); err != nil {
		t.Fatal(err)
	}
	h.cleanup() // containers, images, networks, volumes
	// The node's images, listed once Podman answers the listing: other
	// tests removing images meanwhile can make one listing fail.
	images := func() string {
		var ids []byte
		waitFor(t, time.Minute, "a listing of the node's images", func() bool {
			var err error
			ids, err = exec.Command("podman", "--url", "unix://"+podmanSocket(), "images", "-q",
				"--filter", "label=xcloud.instance="+h.instance).Output()
			return err == nil
		})
		return strings.TrimSpace(string(ids))
	}
	if ids := images(); ids != "" {
		t.Fatalf("images left before the restore: %s", ids)
	}

	cmd := exec.Command(h.bin, "restore", "-config", h.config, archive)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 image(s)") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if ids := images(); ids == "" {
		t.Fatalf("restore loaded no image:\n%s", out)
	}

	h.start()
	h.waitBody(host, "imgs-v1", 2*time.Minute)
	if after := builds(); after != before {
		t.Errorf("build:started events: %d before the backup, %d after the restore; want no build", before, after)
	}
	if log := h.log(); strings.Contains(log, "image is missing") {
		t.Errorf("the daemon rebuilt a restored image:\n%s", log)
	}
}

type pushError struct {
	err error
	out string
}

func (e *pushError) Error() string { return "push: " + e.err.Error() + "\n" + e.out }

// backupTo runs `backup ARGS` over SSH into file and returns its stderr.
func (h *harness) backupTo(file string, args ...string) string {
	h.t.Helper()
	f, err := os.Create(file)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	full := append(strings.Fields(h.sshCommand(h.key)), "-p", itoa(h.sshPort), "xcloud@127.0.0.1", "backup")
	cmd := exec.Command(full[0], append(full[1:], args...)...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("backup: %v\n%s", err, stderr.String())
	}
	return stderr.String()
}
