package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyRealApp writes the test app in testdata/<name> into the repository.
func (r *repo) copyRealApp(name string) {
	r.t.Helper()
	root := filepath.Join("testdata", name)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		r.write(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		r.t.Fatalf("copy %s: %v", root, err)
	}
}

// pushRealApp pushes testdata/<dir> as app and checks the push says detected.
func pushRealApp(t *testing.T, h *harness, dir, app, detected string) string {
	t.Helper()
	r := newRepo(t, h, h.key)
	r.copyRealApp(dir)
	r.commit(dir)
	out, err := r.push(h.remote(app), "main")
	if err != nil || !strings.Contains(out, detected) {
		t.Fatalf("push %s: %v; want %q in:\n%s", dir, err, detected, out)
	}
	return out
}

// realAppServes polls path of host through the proxy until it answers 200
// with a body containing want.
func (h *harness) realAppServes(host, path, want string, within time.Duration) {
	h.t.Helper()
	waitFor(h.t, within, host+path+" answering "+want, func() bool {
		code, body, err := h.getPath(host, path)
		return err == nil && code == 200 && strings.Contains(body, want)
	})
}

// TestRealApps pushes apps laid out as Heroku users lay them out, none
// written for xcloud's detection: a Go web app that loads its templates at
// start and is started by its binary's name, Go programs without go.mod, a
// standard-library Python app and a Node.js app with only a Procfile, and a
// site marked static by a .static file.
func TestRealApps(t *testing.T) {
	requireStack(t)
	h := newHarness(t)

	t.Run("go app with templates, started by its binary's name", func(t *testing.T) {
		pushRealApp(t, h, "go-getting-started", "gogs", "Detected Go from go.mod")
		host := "gogs." + baseDomain
		h.realAppServes(host, "/", "<h1>Go getting started</h1><p>served from templates</p>", 10*time.Second)
		h.realAppServes(host, "/static/main.css", "rebeccapurple", 5*time.Second)

		// The repository is at /app less what .slugignore and
		// .dockerignore list; the binaries are in /app/bin, on PATH, and
		// the working dir is /app.
		out, errs, err := h.ssh(h.key, "run", "gogs", "sh", "-c", `'pwd; command -v go-getting-started; ls -A /app'`)
		if err != nil {
			t.Fatalf("run: %v\n%s%s", err, out, errs)
		}
		for _, want := range []string{"/app\n", "/app/bin/go-getting-started\n", "templates\n", "static\n", "main.go\n", "Procfile\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("run output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "design") || strings.Contains(out, "README.md") {
			t.Errorf(".slugignore's design/ or .dockerignore's *.md is in the run image:\n%s", out)
		}
	})

	t.Run("go program without go.mod, vendored, named by .godir", func(t *testing.T) {
		out := pushRealApp(t, h, "go-gopath", "gopath", "Detected Go from .godir (no go.mod)")
		if !strings.Contains(out, "GOPATH mode") {
			t.Errorf("push does not say how it builds:\n%s", out)
		}
		h.waitBody("gopath."+baseDomain, "hello from gopath", 10*time.Second)
	})

	t.Run("go program without go.mod or .godir", func(t *testing.T) {
		out := pushRealApp(t, h, "go-nomod", "nomod", "Detected Go from the main package at the root (no go.mod)")
		if !strings.Contains(out, "synthesising module nomod") {
			t.Errorf("push does not say which module it made:\n%s", out)
		}
		h.waitBody("nomod."+baseDomain, "hello from nomod", 10*time.Second)
	})

	t.Run("python standard-library app with only a Procfile", func(t *testing.T) {
		pushRealApp(t, h, "python-stdlib", "pystd", "Detected Python from the Procfile (web runs python3, web.py)")
		h.waitBody("pystd."+baseDomain, "hello from python", 10*time.Second)
	})

	t.Run("node app with only a Procfile", func(t *testing.T) {
		pushRealApp(t, h, "node-nopkg", "nodenopkg", "Detected Node.js from the Procfile (web runs node, server.js)")
		h.waitBody("nodenopkg."+baseDomain, "hello from node", 10*time.Second)
	})

	t.Run("static site marked by .static", func(t *testing.T) {
		out := pushRealApp(t, h, "static-marker", "marked", "Detected static HTML from the .static marker")
		if !strings.Contains(out, "package.json also present; ignored because .static comes first") || strings.Contains(out, "Building") {
			t.Errorf("push:\n%s", out)
		}
		h.realAppServes("marked."+baseDomain, "/", "static by marker", 5*time.Second)
		if cs := h.appContainers("marked"); len(cs) != 0 {
			t.Errorf("a static site runs containers: %v", cs)
		}
	})
}
