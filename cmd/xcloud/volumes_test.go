package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// volappRepo is a repository of testdata/volapp answering message, run as
// uid 1000 (the buildpacks' app user) from scratch.
func volappRepo(t *testing.T, h *harness) *repo {
	t.Helper()
	r := newRepo(t, h, h.key)
	r.write("Containerfile", "FROM scratch\nCOPY app /app\nUSER 1000:1000\nCMD [\"/app\"]\n")
	return r
}

// setMessage builds volapp into the repository, answering message.
func (r *repo) setMessage(message string) {
	r.t.Helper()
	src, err := filepath.Abs("testdata/volapp")
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X 'main.message="+message+"'", "-o", filepath.Join(r.dir, "app"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("build volapp: %v\n%s", err, out)
	}
}

// mustGet fetches path from host and wants status code.
func (h *harness) mustGet(host, path string, code int) string {
	h.t.Helper()
	got, body, err := h.getPath(host, path)
	if err != nil || got != code {
		h.t.Fatalf("GET %s%s: %d %q %v; want %d", host, path, got, body, err, code)
	}
	return body
}

// mustSSH runs an admin command that must succeed and returns its stdout.
func (h *harness) mustSSH(args ...string) string {
	h.t.Helper()
	out, stderr, err := h.ssh(h.key, args...)
	if err != nil {
		h.t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// overlapWatch counts the app's running containers with podman ps until
// stopped, and reports the most it saw at once and whether it saw any.
type overlapWatch struct {
	stop chan struct{}
	done chan struct{}
	max  int
	seen bool
}

func (h *harness) watchOverlap(app string) *overlapWatch {
	w := &overlapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			cmd := exec.Command("podman", "--url", "unix://"+podmanSocket(), "ps", "-q",
				"--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app="+app)
			out, err := cmd.Output()
			if err != nil {
				out = nil
			}
			n := len(strings.Fields(string(out)))
			w.max = max(w.max, n)
			w.seen = w.seen || n > 0
			select { // a poll interval, leaving the cores to the deploy
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *overlapWatch) end() (most int, seen bool) {
	close(w.stop)
	<-w.done
	return w.max, w.seen
}

// TestVolumes: an app (as uid 1000) appends to a file on a volume; a
// redeploy, a rollback, ps:restart and a daemon SIGKILL (its containers
// removed too) keep the data; a --ro volume refuses writes; with strategy
// recreate a deploy never runs two containers at once (while a rolling
// restart, watched the same way, does); apps:destroy keeps the volumes
// and says so.
func TestVolumes(t *testing.T) {
	h := newHarness(t) // its cleanup removes the volumes too
	const app = "vol"
	host := app + "." + baseDomain
	began, last := time.Now(), time.Now()
	step := func(what string) {
		t.Logf("%-40s %6.1fs (%.1fs in all)", what, time.Since(last).Seconds(), time.Since(began).Seconds())
		last = time.Now()
	}
	h.mustSSH("apps:create", app)
	out := h.mustSSH("storage:mount", app, "data:/data")
	if !strings.Contains(out, "from the next deploy or ps:restart") {
		t.Errorf("storage:mount does not say when it applies: %q", out)
	}
	h.mustSSH("storage:mount", app, "conf:/conf", "--ro")
	for _, bad := range [][]string{
		{"storage:mount", app, "logs:data"},
		{"storage:mount", app, "logs:/app"},
		{"storage:mount", app, "logs:/data/sub"},
		{"storage:mount", app, "Bad_Name:/logs"},
		{"storage:mount", app, "/srv:/srv"},
	} {
		out, stderr, err := h.ssh(h.key, bad...)
		if err == nil || out != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("%s: err %v, stdout %q, stderr %q; want one error line", strings.Join(bad, " "), err, out, stderr)
		}
	}

	step("mounts and bad mounts")
	r := volappRepo(t, h)
	push := func(message string) string {
		t.Helper()
		r.setMessage(message)
		r.commit(message)
		out, err := r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("push %s: %v\n%s", message, err, out)
		}
		h.waitBody(host, message, 30*time.Second)
		return out
	}
	appendLine := func(line string) {
		t.Helper()
		if got := h.mustGet(host, "/append?line="+line, http.StatusOK); strings.TrimSpace(got) != "ok" {
			t.Fatalf("append %s: %q", line, got)
		}
	}
	wantLog := func(step string, lines ...string) {
		t.Helper()
		want := strings.Join(lines, "\n") + "\n"
		if got := h.mustGet(host, "/read", http.StatusOK); got != want {
			t.Fatalf("after %s the volume holds %q, want %q", step, got, want)
		}
	}

	push("v1")
	if uid := strings.TrimSpace(h.mustGet(host, "/uid", http.StatusOK)); uid != "1000" {
		t.Fatalf("the app runs as uid %s, want 1000", uid)
	}
	appendLine("one") // the app's unprivileged user may write to a new volume
	if body := h.mustGet(host, "/write?path=/conf/x", http.StatusInternalServerError); !strings.Contains(body, "read-only file system") {
		t.Errorf("a write to the --ro volume: %q, want read-only file system", body)
	}

	step("push v1, write, --ro refused")
	push("v2")
	wantLog("a redeploy", "one")
	appendLine("two")

	step("push v2")
	h.mustSSH("rollback", app)
	h.waitBody(host, "v1", 30*time.Second)
	wantLog("a rollback", "one", "two")
	appendLine("three")

	step("rollback")
	h.mustSSH("ps:restart", app)
	wantLog("ps:restart", "one", "two", "three")
	appendLine("four")

	step("ps:restart")
	// A path under one of the image's files (volapp's /app is its binary)
	// fails the restart in one line; the serving container stays.
	h.mustSSH("storage:mount", app, "bad:/app/x")
	if _, stderr, err := h.ssh(h.key, "ps:restart", app); err == nil || !strings.Contains(stderr, "lies under a file of the image") {
		t.Errorf("ps:restart with a mount under a file: %v %q; want it refused naming the cause", err, stderr)
	}
	if out := h.mustSSH("storage:unmount", app, "bad:/app/x"); !strings.Contains(out, "keeps its data") {
		t.Errorf("storage:unmount: %q", out)
	}
	wantLog("a failed restart", "one", "two", "three", "four")
	step("a mount under a file refused")
	h.kill()
	removeContainers(t, podmanOut(t, "ps", "-aq", "--filter", "label=xcloud.instance="+h.instance))
	h.start()
	h.waitBody(host, "v1", 60*time.Second)
	wantLog("a daemon SIGKILL and its containers removed", "one", "two", "three", "four")
	appendLine("five")

	step("SIGKILL, containers removed, restart")
	// The watch sees an overlap when there is one: a rolling restart of an
	// app that takes a second to listen runs old and new side by side.
	w := h.watchOverlap(app)
	h.mustSSH("config:set", app, "START_DELAY=1s")
	if most, _ := w.end(); most < 2 {
		t.Fatalf("a rolling restart ran at most %d container(s) at once: the watch cannot see an overlap", most)
	}

	step("rolling restart watched")
	out = h.mustSSH("deploy:set", app, "strategy=recreate")
	if !strings.Contains(out, "down during each swap") {
		t.Errorf("deploy:set strategy=recreate does not say the app goes down: %q", out)
	}
	if got := strings.TrimSpace(h.mustSSH("deploy:report", app)); got != "strategy: recreate" {
		t.Errorf("deploy:report: %q", got)
	}
	w = h.watchOverlap(app)
	pushed := push("v3")
	most, seen := w.end()
	if most > 1 || !seen {
		t.Errorf("strategy recreate: saw %d container(s) at once (seen any: %v), want never more than one", most, seen)
	}
	if !strings.Contains(pushed, "the app is down until the new ones pass their health checks") {
		t.Errorf("the recreate push does not say the app is down for the swap:\n%s", pushed)
	}
	wantLog("a recreate deploy", "one", "two", "three", "four", "five")

	step("recreate push watched")
	var mounts []struct {
		Volume   string `json:"volume"`
		Path     string `json:"path"`
		ReadOnly bool   `json:"read_only"`
		Size     int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(h.mustSSH("storage", app, "--json")), &mounts); err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 2 || mounts[0].Path != "/conf" || !mounts[0].ReadOnly || mounts[1].Volume != "data" || mounts[1].Size <= 0 {
		t.Errorf("storage --json: %+v", mounts)
	}
	if list := h.mustSSH("storage:list"); !strings.Contains(list, "data") || !strings.Contains(list, app) {
		t.Errorf("storage:list:\n%s", list)
	}
	if ev := h.mustSSH("events", app); !strings.Contains(ev, "storage:mounted") {
		t.Errorf("events lack storage:mounted:\n%s", ev)
	}

	step("storage, storage:list, events")
	out = h.mustSSH("apps:destroy", app, "--force")
	if !strings.Contains(out, "Kept volume(s) with their data: conf, data") {
		t.Errorf("apps:destroy does not say which volumes it kept:\n%s", out)
	}
	// The data is still there for an admin to mount into another app
	// (apps:destroy --volumes, which deletes it, has an engine test).
	if podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.volume=data") == "" {
		t.Errorf("apps:destroy removed the volume data")
	}
	if list := h.mustSSH("storage:list"); !strings.Contains(list, "(none: kept)") {
		t.Errorf("storage:list after the destroy does not show the kept volumes:\n%s", list)
	}
	step("destroy")
}
