package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configOf returns the app's config vars as `config --json` prints them.
func (h *harness) configOf(app string) map[string]string {
	h.t.Helper()
	out, stderr, err := h.ssh(h.key, "config", app, "--json")
	if err != nil {
		h.t.Fatalf("config %s: %v\n%s", app, err, stderr)
	}
	vars := map[string]string{}
	if err := json.Unmarshal([]byte(out), &vars); err != nil {
		h.t.Fatalf("config %s --json: %v\n%s", app, err, out)
	}
	return vars
}

// envOf returns what the serving app reads from its environment.
func (h *harness) envOf(host, name string) string {
	h.t.Helper()
	code, body, err := h.getPath(host, "/env?name="+name)
	if err != nil || code != 200 {
		h.t.Fatalf("GET /env?name=%s: %d %v", name, code, err)
	}
	return strings.TrimSpace(body)
}

// TestKillMidConfigSet SIGKILLs the daemon while config:set deploys the
// change (after the new containers started, and after the route moved):
// after a restart the old release serves, `config` agrees with it, and the
// next unrelated change does not ship the interrupted one.
func TestKillMidConfigSet(t *testing.T) {
	h := newHarness(t)
	host := "cfgkill." + baseDomain
	h.deployApp("cfgkill", "v1")
	if out, stderr, err := h.ssh(h.key, "config:set", "cfgkill", "KEEP=1"); err != nil {
		t.Fatalf("config:set KEEP: %v\n%s%s", err, out, stderr)
	}

	for _, point := range []string{"after-start", "after-route"} {
		h.restartWith("XCLOUD_TEST_PAUSE=" + point)
		wait := h.sshUntil("paused at "+point, "config:set", "cfgkill", "DOOMED=x")
		h.kill()
		wait()
		h.restartWith()
		h.waitBody(host, "v1", 30*time.Second)
		if vars := h.configOf("cfgkill"); vars["KEEP"] != "1" || vars["DOOMED"] != "" {
			t.Errorf("killed at %s: config after restart = %v, want KEEP=1 and no DOOMED", point, vars)
		}
		if got := h.envOf(host, "DOOMED"); got != "" {
			t.Errorf("killed at %s: the serving app has DOOMED=%q", point, got)
		}
	}

	// The next change ships itself, not the interrupted one.
	if out, stderr, err := h.ssh(h.key, "config:set", "cfgkill", "OTHER=2"); err != nil {
		t.Fatalf("config:set OTHER: %v\n%s%s", err, out, stderr)
	}
	vars := h.configOf("cfgkill")
	if len(vars) != 2 || vars["KEEP"] != "1" || vars["OTHER"] != "2" {
		t.Errorf("config after the next change = %v, want KEEP=1 OTHER=2", vars)
	}
	if got := h.envOf(host, "OTHER"); got != "2" {
		t.Errorf("serving app has OTHER=%q, want 2", got)
	}
	if got := h.envOf(host, "DOOMED"); got != "" {
		t.Errorf("the next change shipped the interrupted one: DOOMED=%q", got)
	}
	// Setting what is set already changes nothing and makes no release.
	before, _, _ := h.ssh(h.key, "releases", "cfgkill", "--json")
	out, stderr, err := h.ssh(h.key, "config:set", "cfgkill", "OTHER=2")
	if err != nil || !strings.Contains(out+stderr, "Nothing changed") {
		t.Errorf("config:set to the same value: %v\n%s%s", err, out, stderr)
	}
	if after, _, _ := h.ssh(h.key, "releases", "cfgkill", "--json"); after != before {
		t.Errorf("a no-op config:set made a release:\n%s", after)
	}
}

// TestKillMidDestroy SIGKILLs the daemon right after apps:destroy removed
// the app from the database: the next start finishes the destroy, and a new
// app of the same name sees nothing of the old one (its repository history,
// logs or images).
func TestKillMidDestroy(t *testing.T) {
	h := newHarness(t)
	host := "reuse." + baseDomain
	h.deployApp("reuse", "old")
	if code, _, err := h.getPath(host, "/print?msg=old-app-secret-line"); err != nil || code != 200 {
		t.Fatalf("print: %d %v", code, err)
	}
	waitFor(t, 30*time.Second, "the old app's line in its logs", func() bool {
		out, _, _ := h.ssh(h.key, "logs", "reuse", "-n", "100")
		return strings.Contains(out, "old-app-secret-line")
	})

	h.restartWith("XCLOUD_TEST_PAUSE=destroy")
	wait := h.sshUntil("paused at destroy", "apps:destroy", "reuse", "--force")
	h.kill()
	wait()
	repoDir := filepath.Join(h.dir, "data", "repos", "reuse.git")
	if _, err := os.Stat(repoDir); err != nil {
		t.Fatalf("the kill left no repository behind (%v): the test checks nothing", err)
	}

	h.restartWith()
	waitFor(t, 60*time.Second, "the interrupted destroy to finish", func() bool {
		_, err := os.Stat(repoDir)
		return os.IsNotExist(err) && len(h.appContainers("reuse")) == 0 &&
			podmanList(t, "images", "-q", "--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app=reuse") == ""
	})

	// A different history under the same name: accepted as a new repository
	// (the old main would make this push a non-fast-forward).
	r2 := appRepo(t, h)
	r2.setApp("new", "ok")
	r2.commit("new")
	if out, err := r2.push(h.remote("reuse"), "main"); err != nil {
		t.Fatalf("push of a new app under the old name: %v\n%s", err, out)
	}
	h.waitBody(host, "new", 10*time.Second)
	out, _, err := h.ssh(h.key, "logs", "reuse", "-n", "1000")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "old-app-secret-line") {
		t.Errorf("the new app's logs show the old app's output:\n%s", out)
	}
}

// TestRestartNever404 restarts the daemon after every app container was
// stopped (as after a host reboot), with one app that takes seconds to
// listen: the static site serves at once, SSH accepts at once, the slow app
// answers 503 with Retry-After until it is up, the fast one comes up without
// waiting for it, and no request gets a 404 or a 502.
func TestRestartNever404(t *testing.T) {
	h := newHarness(t)
	const slowDelay = 10 * time.Second
	h.deployApp("fast", "fast")
	if out, stderr, err := h.ssh(h.key, "apps:create", "slow"); err != nil {
		t.Fatalf("apps:create slow: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := h.ssh(h.key, "config:set", "slow", "HELLO_START_DELAY="+slowDelay.String()); err != nil {
		t.Fatalf("config:set slow: %v\n%s%s", err, out, stderr)
	}
	slow := appRepo(t, h)
	slow.setApp("slow", "ok")
	slow.commit("slow")
	if out, err := slow.push(h.remote("slow"), "main"); err != nil {
		t.Fatalf("push slow: %v\n%s", err, out)
	}
	site := newRepo(t, h, h.key)
	site.write("index.html", "site\n")
	site.commit("site")
	if out, err := site.push(h.remote("site"), "main"); err != nil {
		t.Fatalf("push site: %v\n%s", err, out)
	}
	for host, want := range map[string]string{"fast": "fast", "slow": "slow", "site": "site"} {
		h.waitBody(host+"."+baseDomain, want, 10*time.Second)
	}

	h.stop()
	if ids := podmanOut(t, "ps", "-q", "--filter", "label=xcloud.instance="+h.instance); ids != "" {
		podmanOut(t, append([]string{"stop", "-t", "0"}, strings.Fields(ids)...)...)
	}
	h.start() // returns once every door is bound

	if code, body, err := h.get("site." + baseDomain); err != nil || code != 200 || strings.TrimSpace(body) != "site" {
		t.Errorf("static site right after start: %d %q %v, want 200", code, body, err)
	}
	status := func(app string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+itoa(h.httpPort)+"/", nil)
		req.Host = app + "." + baseDomain
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", app, err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// SSH accepted while the slow app cannot be up yet.
	if code, retry := status("slow"); code != 503 || retry == "" {
		t.Errorf("slow app right after start: %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	if _, _, err := h.ssh(h.key, "version"); err != nil {
		t.Errorf("ssh right after start: %v", err)
	}

	up := map[string]time.Time{}
	deadline := time.Now().Add(90 * time.Second)
	for len(up) < 2 && time.Now().Before(deadline) {
		for _, app := range []string{"fast", "slow"} {
			if _, ok := up[app]; ok {
				continue
			}
			switch code, retry := status(app); {
			case code == 200:
				up[app] = time.Now()
			case code == 503 && retry != "":
			default:
				t.Fatalf("%s answered %d (Retry-After %q) while coming up; want only 503 with Retry-After, then 200", app, code, retry)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(up) < 2 {
		t.Fatalf("not every app came up within 90s: %v", up)
	}
	if !up["fast"].Before(up["slow"]) {
		t.Errorf("the fast app came up at %s, after the slow one (%s): apps are brought up one after another",
			up["fast"].Format(time.StampMilli), up["slow"].Format(time.StampMilli))
	}
}
