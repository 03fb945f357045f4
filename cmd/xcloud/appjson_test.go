package main

import (
	"strings"
	"testing"
	"time"
)

// appJSONv1 is an app.json as Dokku reads it: comments and trailing
// commas, Dokku's and Heroku's scripts, env and formation.
const appJSONv1 = `// Dokku accepts comments.
{
  "name": "hooks", /* metadata */
  "scripts": {
    "dokku": {
      // What predeploy writes stays in the image the app runs.
      "predeploy": "echo \"$GREETING from predeploy\" > /predeployed.txt",
      "postdeploy": "echo postdeploy ran; exit 4",
    },
    "postdeploy": "echo first deploy only",
  },
  "env": {
    "GREETING": {"description": "what predeploy writes", "value": "seeded"},
    "SESSION_SECRET": {"generator": "secret"},
  },
  "formation": {"web": {"quantity": 2}},
  "addons": ["heroku-postgresql"],
}
`

// TestAppJSONScripts: an app.json with comments seeds config vars, sets
// the initial scale, runs predeploy in the new image (the app serves the
// file it wrote), runs postdeploy after the swap (its failure is reported,
// the release serves) and Heroku's postdeploy once; a failing predeploy
// leaves the old release serving.
func TestAppJSONScripts(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	host := "hooks." + baseDomain
	r.write("app.json", appJSONv1)
	r.setApp("v1", "ok")
	r.commit("v1")
	out, err := r.push(h.remote("hooks"), "main")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	for _, want := range []string{
		"app.json addons is not supported; ignored",
		"Setting config vars from app.json: GREETING, SESSION_SECRET",
		"Running predeploy (app.json scripts.dokku.predeploy)",
		`postdeploy (app.json scripts.dokku.postdeploy) "echo postdeploy ran; exit 4" exited with status 4; v1 keeps serving`,
		"postdeploy ran",
		"first deploy only",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	h.waitBody(host, "v1", 10*time.Second)
	if code, body, err := h.getPath(host, "/file?path=/predeployed.txt"); err != nil || code != 200 || strings.TrimSpace(body) != "seeded from predeploy" {
		t.Errorf("file predeploy wrote: %d %q %v", code, body, err)
	}
	vars := h.configOf("hooks")
	if vars["GREETING"] != "seeded" || len(vars["SESSION_SECRET"]) != 64 {
		t.Errorf("config after the first deploy = %v, want GREETING=seeded and a generated SESSION_SECRET", vars)
	}
	if cs := h.appContainers("hooks"); len(cs) != 2 {
		t.Errorf("formation web=2: have containers %v", cs)
	}
	// The committed image must not carry the config vars predeploy ran with.
	for _, c := range h.appContainers("hooks") {
		img := podmanOut(t, "inspect", "--format", "{{.Image}}", c)
		env := podmanOut(t, "image", "inspect", "--format", "{{.Config.Env}}", img)
		if strings.Contains(env, "seeded") || strings.Contains(env, vars["SESSION_SECRET"]) {
			t.Errorf("image %s of %s holds config values: %s", img, c, env)
		}
	}

	// A failing predeploy fails the push; v1 serves on.
	r.write("app.json", strings.Replace(appJSONv1, `"predeploy": "echo`, `"predeploy": "exit 5; echo`, 1))
	r.setApp("v2", "ok")
	r.commit("v2")
	out, err = r.push(h.remote("hooks"), "main")
	if err == nil || !strings.Contains(out, `predeploy (app.json scripts.dokku.predeploy) "exit 5; echo`) || !strings.Contains(out, "exited with status 5") {
		t.Fatalf("push with a failing predeploy: %v\n%s", err, out)
	}
	h.waitBody(host, "v1", time.Second)

	// Later deploys: no first-deploy script, and the scale set stays.
	r.write("app.json", strings.Replace(appJSONv1, `"quantity": 2`, `"quantity": 3`, 1))
	r.setApp("v3", "ok")
	r.commit("v3")
	out, err = r.push(h.remote("hooks"), "main")
	if err != nil {
		t.Fatalf("push v3: %v\n%s", err, out)
	}
	if strings.Contains(out, "first deploy only") || strings.Contains(out, "Setting config vars") {
		t.Errorf("a later deploy ran first-deploy steps:\n%s", out)
	}
	if !strings.Contains(out, "app.json formation.web (3) not applied: web is scaled to 2") {
		t.Errorf("push output lacks the formation note:\n%s", out)
	}
	h.waitBody(host, "v3", 10*time.Second)
	if cs := h.appContainers("hooks"); len(cs) != 2 {
		t.Errorf("after v3: have containers %v, want 2; push output:\n%s", cs, out)
	}
}

// TestAppJSONPredeployTimeout: a predeploy that hangs is stopped at the
// build timeout; the push fails saying so, the old release serves on and no
// container of the hung step is left.
func TestAppJSONPredeployTimeout(t *testing.T) {
	h := newHarness(t, "[build]\ntimeout = \"1m\"")
	host := "hang." + baseDomain
	r := h.deployApp("hang", "v1")
	r.write("app.json", `{"scripts": {"dokku": {"predeploy": "sleep 600"}}}`)
	r.setApp("v2", "ok")
	r.commit("v2")
	out, err := r.push(h.remote("hang"), "main")
	if err == nil || !strings.Contains(out, `predeploy (app.json scripts.dokku.predeploy) "sleep 600" did not finish within 1m0s (the build timeout)`) {
		t.Fatalf("push with a hanging predeploy: %v\n%s", err, out)
	}
	h.waitBody(host, "v1", time.Second)
	if cs := h.appContainers("hang"); len(cs) != 1 || !strings.Contains(cs[0], "-web-v1-") {
		t.Errorf("containers after the timeout: %v, want v1's web container only", cs)
	}
}

// TestAppJSONRequiredEnv: a required env var without a value fails the
// first deploy, naming it, before anything is built; once set, the push
// deploys.
func TestAppJSONRequiredEnv(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	r.write("app.json", `{"env": {"API_KEY": {"description": "the API's key"}, "DEBUG": {"required": false}}}`)
	r.setApp("needs-key", "ok")
	r.commit("v1")
	out, err := r.push(h.remote("needy"), "main")
	if err == nil || !strings.Contains(out, "app.json env: API_KEY required and not set; set with: config:set needy API_KEY=…") {
		t.Fatalf("push without API_KEY: %v\n%s", err, out)
	}
	if strings.Contains(out, "Building") {
		t.Errorf("the push built before failing on the missing var:\n%s", out)
	}
	if o, stderr, err := h.ssh(h.key, "config:set", "needy", "API_KEY=k1"); err != nil {
		t.Fatalf("config:set: %v\n%s%s", err, o, stderr)
	}
	if out, err := r.push(h.remote("needy"), "main"); err != nil {
		t.Fatalf("push with API_KEY set: %v\n%s", err, out)
	}
	h.waitBody("needy."+baseDomain, "needs-key", 10*time.Second)
}

// TestLivenessReplacesContainer: a web container whose liveness check
// starts failing is replaced by a fresh one without dropping a request,
// and a process:unhealthy event is stored.
func TestLivenessReplacesContainer(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	host := "lively." + baseDomain
	r.write("app.json", `{"healthchecks": {"web": [
	  {"type": "startup", "path": "/health", "content": "ok"},
	  {"type": "liveness", "name": "alive", "path": "/health", "content": "ok", "attempts": 2, "wait": 1, "timeout": 2},
	]}}`)
	r.setApp("lively", "ok")
	r.commit("v1")
	if out, err := r.push(h.remote("lively"), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	h.waitBody(host, "lively", 10*time.Second)
	before := h.appContainers("lively")
	if len(before) != 1 {
		t.Fatalf("containers = %v, want 1", before)
	}

	stop := make(chan struct{})
	res := h.load(host, 2, stop)
	if code, _, err := h.getPath(host, "/sick"); err != nil || code != 200 {
		t.Fatalf("GET /sick: %d %v", code, err)
	}
	var events string
	waitFor(t, 60*time.Second, "a process:unhealthy event", func() bool {
		events, _, _ = h.ssh(h.key, "events", "lively")
		return strings.Contains(events, "process:unhealthy")
	})
	waitFor(t, 30*time.Second, "the unhealthy container to be gone", func() bool {
		cs := h.appContainers("lively")
		return len(cs) == 1 && cs[0] != before[0]
	})
	close(stop)
	got := <-res
	if got.failed > 0 || got.ok == 0 {
		t.Errorf("load during the replacement: %d ok, %d failed: %v", got.ok, got.failed, got.errs)
	}
	if !strings.Contains(events, "failed liveness check alive 2 times in a row") || !strings.Contains(events, "replaced by") {
		t.Errorf("events lack the unhealthy container's story:\n%s", events)
	}
	if code, body, err := h.getPath(host, "/health"); err != nil || code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /health after the replacement: %d %q %v", code, body, err)
	}
}
