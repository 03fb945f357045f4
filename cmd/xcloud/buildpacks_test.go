package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireStack skips (fails under CI) when the stack images are missing.
func requireStack(t *testing.T) {
	t.Helper()
	// A listing, tried again: it fails while another test removes an image.
	out := podmanList(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
	for _, img := range []string{"localhost/xcloud/build-go:trixie", "localhost/xcloud/build-node:trixie", "localhost/xcloud/run-node:trixie", "localhost/xcloud/base:trixie", "localhost/xcloud/build-python:trixie", "localhost/xcloud/run-python:trixie"} {
		if !strings.Contains(out, img) {
			missing(t, img+" is missing; run: make deps (xcloud stack build)")
		}
	}
}

// TestBuildpacks pushes ordinary repositories without a Containerfile over
// real git+ssh and fetches each through the proxy.
func TestBuildpacks(t *testing.T) {
	requireStack(t)
	h := newHarness(t)

	t.Run("go with a module dependency, cached on a code-only change", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("go.mod", "module example.com/goapp\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n")
		main := func(msg string) string {
			return `package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/google/uuid"
)

func main() {
	_ = uuid.New()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "` + msg + `") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`
		}
		r.write("main.go", main("go one"))
		tidy := exec.Command("go", "mod", "tidy")
		tidy.Dir = r.dir
		if out, err := tidy.CombinedOutput(); err != nil {
			t.Fatalf("go mod tidy: %v\n%s", err, out)
		}
		r.commit("go one")
		out, err := r.push(h.remote("goapp"), "main")
		if err != nil || !strings.Contains(out, "Detected Go from go.mod") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		h.waitBody("goapp."+baseDomain, "go one", 10*time.Second)

		r.write("main.go", main("go two"))
		r.commit("go two")
		out, err = r.push(h.remote("goapp"), "main")
		if err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		// The modules come from the module cache mount: the step that
		// downloads and compiles fetches nothing (it would say what it
		// downloads).
		if !strings.Contains(out, "-----> Downloading dependencies and compiling (go mod download, go build)\n") || strings.Contains(out, "go: downloading") {
			t.Errorf("code-only change downloaded modules again:\n%s", out)
		}
		h.waitBody("goapp."+baseDomain, "go two", 10*time.Second)
	})

	t.Run("node with express", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("package.json", `{"name": "nodeapp", "version": "1.0.0", "scripts": {"start": "node server.js"}, "dependencies": {"express": "^4.21.0"}, "engines": {"node": ">=18"}}`)
		r.write("server.js", "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send('node ok'));\napp.listen(process.env.PORT);\n")
		r.commit("node")
		out, err := r.push(h.remote("nodeapp"), "main")
		if err != nil || !strings.Contains(out, "Detected Node.js") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		h.waitBody("nodeapp."+baseDomain, "node ok", 10*time.Second)

		// A code-only change: the tree goes to the run stage on top of
		// the installed dependencies, which come from the layer cache.
		r.write("server.js", "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send('node two'));\napp.listen(process.env.PORT);\n")
		r.commit("node two")
		out, err = r.push(h.remote("nodeapp"), "main")
		if err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		if !strings.Contains(out, "-----> Installing dependencies (npm install)\n       Using cache\n") {
			t.Errorf("code-only change installed the dependencies again:\n%s", out)
		}
		h.waitBody("nodeapp."+baseDomain, "node two", 10*time.Second)
	})

	t.Run("python with a Procfile web and worker", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("requirements.txt", "# no dependencies\n")
		r.write("index.html", "python ok\n")
		r.write("worker.py", "import time\nwhile True:\n    time.sleep(60)\n")
		r.write("Procfile", "web: python3 -m http.server $PORT --bind 0.0.0.0\nworker: python3 worker.py\n")
		r.commit("python")
		out, err := r.push(h.remote("pyapp"), "main")
		if err != nil || !strings.Contains(out, "Detected Python") || !strings.Contains(out, "Starting 1 worker container") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		h.waitBody("pyapp."+baseDomain, "python ok", 10*time.Second)
		cs := h.appContainers("pyapp")
		if len(cs) != 2 || !strings.Contains(strings.Join(cs, " "), "-worker-") {
			t.Errorf("want a web and a worker container, have %v", cs)
		}
	})

	t.Run("static site served by the proxy", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("index.html", "static ok\n")
		r.commit("static")
		out, err := r.push(h.remote("site"), "main")
		if err != nil || !strings.Contains(out, "static") || strings.Contains(out, "Building") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		h.waitBody("site."+baseDomain, "static ok", 5*time.Second)
		if cs := h.appContainers("site"); len(cs) != 0 {
			t.Errorf("a static site runs containers: %v", cs)
		}
		r.write("index.html", "static two\n")
		r.commit("static two")
		if out, err := r.push(h.remote("site"), "main"); err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		h.waitBody("site."+baseDomain, "static two", 5*time.Second)
	})

	t.Run("vite site built by node and served by the proxy", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("package.json", `{"name": "site", "private": true, "scripts": {"build": "vite build"}, "devDependencies": {"vite": "^5.4.0"}}`)
		r.write("index.html", "<!doctype html><title>vite</title><script type=\"module\" src=\"/main.js\"></script><p>vite ok</p>\n")
		r.write("main.js", "console.log('hi')\n")
		r.commit("vite")
		out, err := r.push(h.remote("vite"), "main")
		if err != nil || !strings.Contains(out, "Vite static export") || !strings.Contains(out, "Publishing dist") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		waitFor(t, 10*time.Second, "the built site", func() bool {
			code, body, err := h.get("vite." + baseDomain)
			return err == nil && code == 200 && strings.Contains(body, "vite ok") && strings.Contains(body, "/assets/")
		})
		if cs := h.appContainers("vite"); len(cs) != 0 {
			t.Errorf("a static export runs containers: %v", cs)
		}
	})

	t.Run("nothing to detect", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("notes.txt", "hi\n")
		r.commit("nothing")
		out, err := r.push(h.remote("nothing"), "main")
		if err == nil || !strings.Contains(out, "no Containerfile, Dockerfile, go.mod, package.json, requirements.txt, pyproject.toml, Pipfile or index.html") {
			t.Errorf("push: %v\n%s", err, out)
		}
	})
}

// TestNPMIntegrity pushes a Node.js app whose package-lock.json records an
// integrity hash that the registry's tarball does not have: the push fails
// with one line naming the package and what to do, not npm's stack of
// "npm ERR!" lines.
func TestNPMIntegrity(t *testing.T) {
	requireStack(t)
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	// engines 20.x: the stack's Node.js, so nothing else is downloaded.
	r.write("package.json", `{"name": "eint", "version": "1.0.0", "engines": {"node": "20.x"}, "dependencies": {"left-pad": "1.3.0"}, "scripts": {"start": "node server.js"}}`)
	r.write("package-lock.json", `{"name": "eint", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": {
  "": {"name": "eint", "version": "1.0.0", "dependencies": {"left-pad": "1.3.0"}},
  "node_modules/left-pad": {"version": "1.3.0", "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQTQ7Ht4m+b8S3HmFoFFc2U/mb3Y1D+Rmvg/2YwWadMbeUfn=="}}}
`)
	r.write("server.js", "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)\n")
	r.commit("stale lockfile")
	out, err := r.push(h.remote("eint"), "main")
	want := " ! deploy failed: build failed: npm: the tarball of left-pad@1.3.0 does not match the integrity package-lock.json records for it " +
		"(wanted sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQTQ7Ht4m+b8S3HmFoFFc2U/mb3Y1D+Rmvg/2YwWadMbeUfn==, got sha512-"
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("push: %v; want a line starting %q in:\n%s", err, want, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) && !strings.HasSuffix(l, "regenerate package-lock.json (delete it, run npm install), commit it and push again") {
			t.Errorf("the failure line does not say what to do: %s", l)
		}
	}
}
