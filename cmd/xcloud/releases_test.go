package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestZeroDowntimeRedeploys redeploys five times under steady load: no
// request may fail, and every answer comes from a complete release.
func TestZeroDowntimeRedeploys(t *testing.T) {
	h := newHarness(t)
	host := "zd." + baseDomain
	r := h.deployApp("zd", "v0")

	stop := make(chan struct{})
	results := h.load(host, 16, stop)
	valid := map[string]bool{"v0": true}
	for i := 1; i <= 5; i++ {
		v := fmt.Sprintf("v%d", i)
		valid[v] = true
		r.setApp(v, "ok")
		r.commit(v)
		out, err := r.push(h.remote("zd"), "main")
		if err != nil {
			close(stop)
			t.Fatalf("redeploy %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(out, "ms after the health checks passed") {
			t.Errorf("redeploy %d does not report when traffic moved:\n%s", i, out)
		}
	}
	close(stop)
	res := <-results
	t.Logf("during 5 redeploys: %d ok, %d failed, bodies %v", res.ok, res.failed, res.bodies)
	if res.failed > 0 {
		t.Errorf("%d requests failed during redeploys: %v", res.failed, res.errs)
	}
	if res.ok < 100 {
		t.Errorf("only %d requests succeeded: the load did not run", res.ok)
	}
	for body := range res.bodies {
		if !valid[body] {
			t.Errorf("answer %q is from no release", body)
		}
	}
	h.waitBody(host, "v5", time.Second)
	if cs := h.appContainers("zd"); len(cs) != 1 {
		t.Errorf("after redeploys want 1 container, have %v", cs)
	}
}

// TestFailedDeploysKeepServing: a failing health check, release command or
// build each fail the push with the reason, and the old release serves on.
func TestFailedDeploysKeepServing(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	host := "keep." + baseDomain
	r.write("app.json", `{"healthchecks": {"web": [{"type": "startup", "path": "/health", "content": "ok", "attempts": 2, "wait": 1}]}}`)
	r.write("Procfile", "web: /app\nrelease: echo migrating\n")
	r.setApp("good", "ok")
	r.commit("good")
	out, err := r.push(h.remote("keep"), "main")
	if err != nil || !strings.Contains(out, "migrating") || !strings.Contains(out, "health check /health passed") {
		t.Fatalf("good push: %v\n%s", err, out)
	}
	h.waitBody(host, "good", 10*time.Second)

	for _, tc := range []struct {
		name   string
		change func()
		want   string
	}{
		{"health check", func() { r.setApp("sick", "not yet") }, `health check /health failed after 2 attempts: response does not contain "ok"`},
		{"release command", func() {
			r.setApp("norelease", "ok")
			r.write("Procfile", "web: /app\nrelease: echo oops; exit 3\n")
		}, `release command "echo oops; exit 3" exited with status 3`},
		{"build", func() {
			r.write("Procfile", "web: /app\n")
			r.write("Containerfile", "FROM scratch\nCOPY missing-file /x\n")
		}, "build failed"},
	} {
		// No subtests: the harness reports through the parent test.
		tc.change()
		r.commit(tc.name)
		out, err := r.push(h.remote("keep"), "main")
		if err == nil {
			t.Fatalf("%s: push succeeded:\n%s", tc.name, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: push output lacks %q:\n%s", tc.name, tc.want, out)
		}
		h.waitBody(host, "good", time.Second)
		if cs := h.appContainers("keep"); len(cs) != 1 || !strings.Contains(cs[0], "-v1-") {
			t.Errorf("%s: want only v1's container, have %v", tc.name, cs)
		}
	}
}

// TestRollbackScaleAndCrash: rollback without a build, scale web to three
// containers that all get traffic, and a crashed container comes back.
func TestRollbackScaleAndCrash(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	host := "rs." + baseDomain
	for _, v := range []string{"one", "two"} {
		r.setApp(v, "ok")
		r.commit(v)
		if out, err := r.push(h.remote("rs"), "main"); err != nil {
			t.Fatalf("push %s: %v\n%s", v, err, out)
		}
	}
	h.waitBody(host, "two", 10*time.Second)

	stdout, stderr, err := h.ssh(h.key, "rollback", "rs")
	if err != nil {
		t.Fatalf("rollback: %v\n%s%s", err, stdout, stderr)
	}
	if strings.Contains(stdout, "Building") || !strings.Contains(stdout, "rolled back") {
		t.Errorf("rollback output:\n%s", stdout)
	}
	h.waitBody(host, "one", time.Second)
	stdout, _, _ = h.ssh(h.key, "releases", "rs")
	if !strings.Contains(stdout, "rollback to v1") {
		t.Errorf("releases do not show the rollback:\n%s", stdout)
	}

	if out, errOut, err := h.ssh(h.key, "ps:scale", "rs", "web=3"); err != nil {
		t.Fatalf("ps:scale: %v\n%s%s", err, out, errOut)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		if code, body, err := h.getPath(host, "/whoami"); err == nil && code == 200 {
			seen[strings.TrimSpace(body)] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("requests reached %d distinct containers, want 3: %v", len(seen), seen)
	}

	// A crash is recorded and the container restarted.
	if _, _, err := h.getPath(host, "/crash"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a restarted container in ps", func() bool {
		out, _, err := h.ssh(h.key, "ps", "rs", "--json")
		if err != nil {
			return false
		}
		var rows []struct {
			State    string
			Restarts int
		}
		if json.Unmarshal([]byte(out), &rows) != nil {
			return false
		}
		running, restarted := 0, 0
		for _, row := range rows {
			if row.State == "running" {
				running++
			}
			if row.Restarts > 0 {
				restarted++
			}
		}
		return running == 3 && restarted == 1
	})

	if out, errOut, err := h.ssh(h.key, "ps:scale", "rs", "web=1"); err != nil {
		t.Fatalf("ps:scale down: %v\n%s%s", err, out, errOut)
	}
	if cs := h.appContainers("rs"); len(cs) != 1 {
		t.Errorf("after scaling to 1: %v", cs)
	}
	if _, stderr, err := h.ssh(h.key, "ps:scale", "rs", "nope=2"); err == nil || !strings.Contains(stderr, `no process type "nope"`) {
		t.Errorf("scaling an unknown type: %v %s", err, stderr)
	}
	h.waitBody(host, "one", time.Second)

	// Resource limits: defaults from xcloud.toml, then a per-app override
	// applied by a rolling restart.
	limits := func() string {
		cs := h.appContainers("rs")
		if len(cs) != 1 {
			t.Fatalf("want one container, have %v", cs)
		}
		return podmanOut(t, "inspect", cs[0], "--format", "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.PidsLimit}}")
	}
	if got := limits(); got != "536870912 100000 512" {
		t.Errorf("default limits = %q, want 512m, 1 CPU, 512 pids", got)
	}
	if out, errOut, err := h.ssh(h.key, "resources", "rs", "memory=128m", "cpus=0.5", "pids=100"); err != nil {
		t.Fatalf("resources: %v\n%s%s", err, out, errOut)
	}
	if _, errOut, err := h.ssh(h.key, "resources", "rs", "memory=lots"); err == nil || !strings.Contains(errOut, "memory=lots") {
		t.Errorf("bad limit accepted: %v %s", err, errOut)
	}
	if out, errOut, err := h.ssh(h.key, "ps:restart", "rs"); err != nil {
		t.Fatalf("ps:restart: %v\n%s%s", err, out, errOut)
	}
	if got := limits(); got != "134217728 50000 100" {
		t.Errorf("limits after resources + ps:restart = %q", got)
	}
	h.waitBody(host, "one", time.Second)
}

// TestKillMidDeploy SIGKILLs the daemon during a build, after the new
// containers started, and after the route switched; after a restart the
// previous release serves, the interrupted one is marked failed and no
// orphan container is left.
func TestKillMidDeploy(t *testing.T) {
	h := newHarness(t)
	host := "kill." + baseDomain
	r := h.deployApp("kill", "stable")

	for i, point := range []string{"build", "after-start", "after-route"} {
		func() {
			h.restartWith("XCLOUD_TEST_PAUSE=" + point)
			r.setApp(fmt.Sprintf("doomed-%d", i), "ok")
			r.commit(point)
			wait := r.pushUntil(h.remote("kill"), "main", "paused at "+point)
			h.kill()
			wait()
			h.restartWith()
			h.waitBody(host, "stable", 30*time.Second)
			// v1 serves at once; the interrupted release's containers go in
			// the background reconcile that follows.
			var cs []string
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if cs = h.appContainers("kill"); len(cs) == 1 && strings.Contains(cs[0], "-v1-") {
					break
				}
			}
			if len(cs) != 1 || !strings.Contains(cs[0], "-v1-") {
				t.Errorf("killed %s: 30s after restart want only v1's container, have %v", point, cs)
			}
			out, _, err := h.ssh(h.key, "releases", "kill", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var rels []struct {
				Version int
				Status  string
			}
			if err := json.Unmarshal([]byte(out), &rels); err != nil {
				t.Fatalf("killed %s: releases --json: %v\n%s", point, err, out)
			}
			newest, sawV1 := 0, false
			for _, rel := range rels {
				want := "failed"
				if rel.Version == 1 {
					want, sawV1 = "active", true
				}
				if rel.Status != want {
					t.Errorf("killed %s: release v%d is %s, want %s", point, rel.Version, rel.Status, want)
				}
				newest = max(newest, rel.Version)
			}
			if !sawV1 {
				t.Errorf("killed %s: releases lack v1: %s", point, out)
			}
			// Past the build, the killed deploy had recorded its release.
			if point != "build" && newest < 2 {
				t.Errorf("killed %s: the interrupted release is not listed: %s", point, out)
			}
			out, errOut, err := h.ssh(h.key, "builds", "kill", "--json")
			if err != nil {
				t.Fatalf("killed %s: builds --json: %v\n%s", point, err, errOut)
			}
			var builds []struct{ Status string }
			if err := json.Unmarshal([]byte(out), &builds); err != nil || len(builds) < 2 {
				t.Fatalf("killed %s: builds --json: %v, want the first and the killed build:\n%s", point, err, out)
			}
			for _, b := range builds {
				if b.Status == "running" {
					t.Errorf("killed %s: a build is still marked running:\n%s", point, out)
				}
			}
		}()
	}
	// The next push deploys normally.
	r.setApp("after", "ok")
	r.commit("after")
	if out, err := r.push(h.remote("kill"), "main"); err != nil {
		t.Fatalf("push after the kills: %v\n%s", err, out)
	}
	h.waitBody(host, "after", 10*time.Second)
}
