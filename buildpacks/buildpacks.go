// Package buildpacks inspects a source tree and decides how to build it: which
// language or framework it is, why, the Containerfile that builds it and the
// process types it runs.
//
// The package is pure: it reads the tree through an fs.FS and returns a Plan.
// It runs nothing, touches no network and knows nothing of Podman or Caddy.
// Generated Containerfiles use only the local stack images named in Stack and
// are deterministic: the same tree and Stack give the same bytes.
package buildpacks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Stack names the local stack images generated Containerfiles build on, and
// the language versions they supply.
type Stack struct {
	Base        string // runtime base: ca-certificates, tzdata, user "app" (uid 1000), WORKDIR /app
	BuildGo     string // Base + Go toolchain + git
	BuildNode   string // Base + Node.js + npm
	RunNode     string // Base + Node.js
	BuildPython string // Base + python3, python3-venv, python3-pip
	RunPython   string // Base + python3

	GoVersion     string // Go version of BuildGo, e.g. "1.24"
	NodeVersion   string // Node.js version of BuildNode and RunNode, e.g. "20.19"
	NodeLTS       string // Node.js line for apps that ask for none, e.g. "26"; "" uses NodeVersion
	PythonVersion string // Python version of BuildPython and RunPython, e.g. "3.13"
}

// DefaultStack returns the stack built by default from Debian 13 "trixie".
func DefaultStack() Stack {
	return Stack{
		Base:          "localhost/xcloud/base:trixie",
		BuildGo:       "localhost/xcloud/build-go:trixie",
		BuildNode:     "localhost/xcloud/build-node:trixie",
		RunNode:       "localhost/xcloud/run-node:trixie",
		BuildPython:   "localhost/xcloud/build-python:trixie",
		RunPython:     "localhost/xcloud/run-python:trixie",
		GoVersion:     "1.24",
		NodeVersion:   "20.19",
		NodeLTS:       NodeLTS(now()),
		PythonVersion: "3.13",
	}
}

// Plan kinds.
const (
	KindContainerfile = "containerfile" // the repository's own Containerfile or Dockerfile
	KindGo            = "go"
	KindNode          = "node"
	KindPython        = "python"
	KindStatic        = "static" // plain files served by Caddy; nothing is built
)

// Plan is how to build and run one source tree.
//
// Kind containerfile: Containerfile names the repository's own file and
// Generated is nil. Kind static: StaticRoot is the directory served as is,
// Generated is nil and no container runs. Kinds go, node and python carry a
// generated multi-stage Containerfile in Generated whose final stage runs as
// the unprivileged user "app" in /app with PORT defaulting to 5000.
//
// A node plan with a non-empty StaticRoot is a static export (Next.js
// `output: 'export'`, Vite, Astro, Create React App): building the site needs
// Node.js, so Generated is still built, but its final stage only holds the
// output at /app/<StaticRoot> (e.g. /app/dist). The daemon copies that
// directory out of the image and serves it with Caddy; no container runs and
// Processes is nil.
type Plan struct {
	Kind          string // KindContainerfile, KindGo, KindNode, KindPython or KindStatic
	Name          string // for humans: "Go", "Node.js (Next.js 14)", "Python (FastAPI)", "static HTML"
	Reason        string // what decided it: "from go.mod", "Containerfile found"
	Containerfile string // Kind containerfile: path of the repository's file
	Generated     []byte // generated Containerfile; nil for kinds containerfile and static
	// NoLayerCache says the generated build keeps everything worth keeping
	// between builds in cache mounts, so it runs without Podman's layer
	// cache: no layer is committed per instruction, only the image.
	NoLayerCache bool
	// Go is the generated Go build as data, for a builder that runs it
	// without podman build (daemon/gobuild.go); nil when the build needs
	// the Containerfile's steps.
	Go         *GoBuild
	StaticRoot string // directory to serve: Kind static, or a node static export (see above)

	// Processes are the Procfile's entries in file order or, without a
	// Procfile, the detected web command. For Kind containerfile a missing
	// web entry (always the case without a Procfile) means the image's own
	// ENTRYPOINT/CMD is the web process; other entries override the CMD for
	// their process type. Nil for static sites.
	Processes []Process

	AppJSON *AppJSON      // parsed app.json; nil when absent
	Static  *StaticConfig // a static site's static.json; nil when absent
	Notes   []string      // remarks for the pusher, one line each
}

// Process is one process type: a Procfile entry or the detected web command.
type Process struct {
	Type    string // e.g. "web", "worker"; matches ^[a-zA-Z0-9_-]+$
	Command string // a shell command line, run with /bin/sh -c
}

// maxRead bounds how much of any one file is read.
const maxRead = 4 << 20

// detector carries the state of one Detect call.
type detector struct {
	fsys     fs.FS
	stack    Stack
	procfile []Process // nil without a Procfile
	hasProc  bool
	notes    []string
}

func (d *detector) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

// exists reports whether name is a regular file (or a symlink to one).
func (d *detector) exists(name string) bool {
	fi, err := fs.Stat(d.fsys, name)
	return err == nil && !fi.IsDir()
}

// isDir reports whether name is a directory.
func (d *detector) isDir(name string) bool {
	fi, err := fs.Stat(d.fsys, name)
	return err == nil && fi.IsDir()
}

// read returns the contents of name, at most maxRead bytes.
func (d *detector) read(name string) ([]byte, error) {
	f, err := d.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRead+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxRead {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxRead)
	}
	return b, nil
}

// procWeb returns the Procfile's web command, if any.
func (d *detector) procWeb() (string, bool) {
	for _, p := range d.procfile {
		if p.Type == "web" {
			return p.Command, true
		}
	}
	return "", false
}

// Detect inspects the repository in fsys and returns its build plan. The
// first of these at the root wins: Containerfile or Dockerfile; a .static
// marker; go.mod; package.json; requirements.txt, pyproject.toml or
// Pipfile; a GOPATH-era Go manifest (.godir, Godeps/Godeps.json, Gopkg.toml,
// glide.yaml); a Procfile whose web command runs node or python with that
// language's source files present; a Go main package at the root; index.html
// (or public/index.html). A Procfile and app.json are read whatever the kind.
func Detect(fsys fs.FS, stack Stack) (*Plan, error) {
	d := &detector{fsys: fsys, stack: stack}

	if d.exists("Procfile") {
		b, err := d.read("Procfile")
		if err != nil {
			return nil, err
		}
		procs, err := ParseProcfile(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		d.procfile, d.hasProc = procs, true
	}
	var app *AppJSON
	if d.exists("app.json") {
		b, err := d.read("app.json")
		if err != nil {
			return nil, err
		}
		if app, err = ParseAppJSON(b); err != nil {
			return nil, err
		}
	}

	winner, kind := d.detectMarkers()
	reason := "from " + winner
	if kind == "" || (kind == KindStatic && winner != ".static") {
		if w, k, why, because := d.inferKind(); k != "" {
			if winner != "" {
				d.note("%s also present; ignored because %s", winner, because)
			}
			winner, kind, reason = w, k, why
		}
	}

	var plan *Plan
	var err error
	switch {
	case kind == KindContainerfile:
		plan = &Plan{Kind: KindContainerfile, Name: winner, Reason: winner + " found", Containerfile: winner}
	case kind == KindGo && winner == "go.mod":
		plan, err = d.goPlan()
	case kind == KindGo:
		plan, err = d.goLegacyPlan(reason)
	case kind == KindNode && winner == "Procfile":
		plan, err = d.nodeProcfilePlan(reason)
	case kind == KindNode:
		plan, err = d.nodePlan()
	case kind == KindPython:
		plan, err = d.pythonPlan(reason)
	case kind == KindStatic:
		plan = d.staticPlan(winner)
	default:
		return nil, errors.New("no Containerfile, Dockerfile, go.mod, package.json, requirements.txt, pyproject.toml, Pipfile or index.html at the repository root; " +
			"a .static file, Go source, or a Procfile whose web command runs node or python with its source files would do too")
	}
	if err != nil {
		return nil, err
	}

	d.procfileMismatch(plan.Kind, plan.Name)
	if plan.StaticRoot != "" {
		if d.hasProc {
			d.note("Procfile ignored: a static site runs no processes")
		}
	} else if d.hasProc {
		// The Procfile replaces the detected default web command.
		plan.Processes = d.procfile
		if _, ok := d.procWeb(); !ok {
			if plan.Kind == KindContainerfile {
				d.note("Procfile has no web process type; web runs the image's own CMD")
			} else {
				d.note("Procfile has no web process type; nothing will receive HTTP requests")
			}
		}
	}
	if err := d.staticJSON(plan); err != nil {
		return nil, err
	}
	plan.AppJSON = app
	plan.Notes = d.notes
	return plan, nil
}

// inferKind looks past a missing manifest: the Procfile's web command
// running node or python with their source files, then a Go main package
// at the root, then the Go main package whose binary the Procfile runs.
// because says why that beats an index.html.
func (d *detector) inferKind() (winner, kind, reason, because string) {
	if k, why := d.procfileRuntime(); k != "" {
		return "Procfile", k, why, "the Procfile's web command comes first"
	}
	if d.goIsMain(".") {
		return goLegacyMarker, KindGo, "from the main package at the root", "of the Go main package at the root"
	}
	if dir := d.procfileGoMain(); dir != "" {
		return goLegacyMarker, KindGo, "from the Procfile's web command, which runs ./" + dir + "'s binary",
			"the Procfile's web command runs a Go program"
	}
	return "", "", "", ""
}

// goLegacyMarker stands for a Go main package at the root, which makes a
// Go program when no go.mod is there.
const goLegacyMarker = "*.go"

// detectMarkers returns the first marker file at the root and its kind, in
// this order: Containerfile or Dockerfile; .static; go.mod; package.json;
// requirements.txt, pyproject.toml or Pipfile; a GOPATH-era Go manifest
// (.godir, Godeps, dep, glide); index.html or public/index.html. Each other
// marker of another kind gets a note.
func (d *detector) detectMarkers() (winner, kind string) {
	markers := []struct{ file, kind string }{
		{"Containerfile", KindContainerfile},
		{"Dockerfile", KindContainerfile},
		{".static", KindStatic},
		{"go.mod", KindGo},
		{"package.json", KindNode},
		{"requirements.txt", KindPython},
		{"pyproject.toml", KindPython},
		{"Pipfile", KindPython},
		{".godir", KindGo},
		{"Godeps/Godeps.json", KindGo},
		{"Gopkg.toml", KindGo},
		{"glide.yaml", KindGo},
		{"static.json", KindStatic}, // Heroku's static buildpack
		{"index.html", KindStatic},
		{"public/index.html", KindStatic},
	}
	for _, m := range markers {
		if !d.exists(m.file) {
			continue
		}
		switch {
		case winner == "":
			winner, kind = m.file, m.kind
		case m.kind != kind:
			// Vite and Create React App keep an index.html at the root or in
			// public/: part of the Node.js build, not worth a remark.
			if m.kind == KindStatic && kind == KindNode {
				continue
			}
			if m.kind == KindStatic && m.file == "public/index.html" && d.exists("index.html") {
				continue
			}
			d.note("%s also present; ignored because %s comes first", m.file, winner)
		case kind == KindContainerfile:
			d.note("%s also present; ignored because %s comes first", m.file, winner)
		}
	}
	return winner, kind
}

// staticPlan serves the site marked by winner: the root, or public/ when
// only public/index.html is there.
func (d *detector) staticPlan(winner string) *Plan {
	root := "."
	if winner == "public/index.html" || (winner == ".static" && !d.exists("index.html") && d.exists("public/index.html")) {
		root = "public"
	}
	if winner == "static.json" && !d.exists("index.html") && !d.exists("public/index.html") && d.isDir("public_html") {
		root = "public_html" // Heroku's static buildpack's default
	}
	reason := "from " + winner
	if winner == ".static" {
		reason = "from the .static marker"
		if !d.exists(path.Join(root, "index.html")) {
			d.note(".static marks a static site, but it has no index.html; / answers 404")
		}
	}
	return &Plan{Kind: KindStatic, Name: "static HTML", Reason: reason, StaticRoot: root}
}

// webProcesses returns the default process list for a detected web command.
func webProcesses(cmd string) []Process {
	return []Process{{Type: "web", Command: cmd}}
}

// quoteList joins names as "a, b and c" (conj "and") or "a, b or c".
func quoteList(names []string, conj string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}
