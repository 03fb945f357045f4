package buildpacks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/build/constraint"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

var (
	// goPackageClause finds a Go file's package clause.
	goPackageClause = lazyre.MustCompile(`(?m)^package\s+([A-Za-z_][A-Za-z0-9_]*)`)
	// goImportPathRE is what a synthesised module path may look like.
	goImportPathRE = lazyre.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~+-]*(/[A-Za-z0-9._~+-]+)*$`)
	// goMajorSuffix matches a major version path element, like v2.
	goMajorSuffix = lazyre.MustCompile(`^v[0-9]+$`)
	// herokuInstall finds go.mod's "// +heroku install" directive, which
	// Heroku's Go buildpack reads to choose the packages it builds.
	herokuInstall = lazyre.MustCompile(`(?m)^//\s*\+heroku\s+install\s+(.+)$`)
	// glidePackage finds glide.yaml's package line.
	glidePackage = lazyre.MustCompile(`(?m)^package:\s*["']?([^"'\s]+)`)
)

// goMode is how a Go program is built.
type goMode int

const (
	goModule goMode = iota // a go.mod: module mode, dependencies downloaded into a cache mount
	goInit                 // no go.mod: a module is synthesised with go mod init and go mod tidy
	goGOPATH               // no go.mod, vendored dependencies: GOPATH mode, nothing downloaded
)

// goMain is one main package to build: its directory and binary name.
type goMain struct{ dir, bin string }

// goApp is what the Go detector decided.
type goApp struct {
	mode    goMode
	path    string   // module path, or the import path in GOPATH mode
	mains   []goMain // root first
	web     string   // default web command; "" when none is obvious
	webNote string
	install []string // go.mod's "// +heroku install" package patterns; nil for every main package
}

// installs reports whether the "// +heroku install" patterns name the
// package in dir: ".", "./cmd/web", "./cmd/..." or the same as import paths.
func (app goApp) installs(dir string) bool {
	for _, pat := range app.install {
		if rest, ok := strings.CutPrefix(pat, app.path); ok {
			pat = "." + rest
		}
		p := strings.TrimPrefix(pat, "./")
		switch {
		case pat == "." || pat == "./":
			p = "."
		case p == "...":
			return true
		}
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if dir == base || strings.HasPrefix(dir, base+"/") {
				return true
			}
			continue
		}
		if dir == path.Clean(p) {
			return true
		}
	}
	return false
}

// goPlan builds a Go module with the go command. The run image holds the
// repository at /app and the binaries in /app/bin, on PATH, named as
// Heroku's Go buildpack names them: after their directory, the root package
// after the module path's last element.
func (d *detector) goPlan() (*Plan, error) {
	mod, err := d.read("go.mod")
	if err != nil {
		return nil, err
	}
	modPath, goLine, toolchain := parseGoMod(mod)
	if modPath == "" {
		return nil, fmt.Errorf("go.mod has no module line")
	}
	d.goVersionNote(goLine, toolchain)
	app := goApp{mode: goModule, path: modPath}
	if m := herokuInstall().FindSubmatch(mod); m != nil {
		app.install = strings.Fields(string(m[1]))
	}
	app, err = d.goMains(app, "go.mod found but no main package in the module")
	if err != nil {
		return nil, err
	}
	return d.goContainerfile(app, "from go.mod")
}

// goLegacyPlan builds a GOPATH-era Go program, one without go.mod. Its
// import path comes from .godir, Godeps/Godeps.json or glide.yaml, else
// from the Procfile's web binary, else it is "app". Vendored dependencies
// build in GOPATH mode; without them a module is synthesised and its
// requirements resolved through the module proxy.
func (d *detector) goLegacyPlan(reason string) (*Plan, error) {
	importPath, from, err := d.goImportPath()
	if err != nil {
		return nil, err
	}
	app := goApp{mode: goInit, path: importPath}
	if d.isDir("vendor") || d.isDir("Godeps/_workspace") {
		app.mode = goGOPATH
		d.note("no go.mod: building in GOPATH mode as %s (%s) with the vendored dependencies", importPath, from)
	} else {
		d.note("no go.mod: synthesising module %s (%s); its requirements come through the module proxy", importPath, from)
	}
	app, err = d.goMains(app, "no go.mod and no main package")
	if err != nil {
		return nil, err
	}
	return d.goContainerfile(app, reason+" (no go.mod)")
}

// goImportPath names a program without go.mod, and says where the name
// came from.
func (d *detector) goImportPath() (importPath, from string, err error) {
	check := func(p, from string) (string, string, error) {
		p = strings.Trim(strings.TrimSpace(p), "/")
		if !goImportPathRE().MatchString(p) || strings.Contains(p, "..") {
			return "", "", fmt.Errorf("%s: %q is not a Go import path", from, p)
		}
		return p, "named by " + from, nil
	}
	if d.exists(".godir") {
		b, err := d.read(".godir")
		if err != nil {
			return "", "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return check(line, ".godir")
	}
	if b, err := d.read("Godeps/Godeps.json"); err == nil {
		var g struct{ ImportPath string }
		if json.Unmarshal(b, &g) == nil && g.ImportPath != "" {
			return check(g.ImportPath, "Godeps/Godeps.json")
		}
	}
	if b, err := d.read("glide.yaml"); err == nil {
		if m := glidePackage().FindSubmatch(b); m != nil {
			return check(string(m[1]), "glide.yaml")
		}
	}
	if cmd, ok := d.procWeb(); ok {
		if bin := parseWebCommand(cmd).binary(); bin != "" {
			return bin, "after the Procfile's web binary", nil
		}
	}
	return "app", "no .godir names it", nil
}

// goMains finds the main packages to build and the default web command.
func (d *detector) goMains(app goApp, none string) (goApp, error) {
	app.mains = d.goMainPackages(app)
	if len(app.mains) == 0 {
		return app, errors.New(none + " at the repository root or below")
	}
	if len(app.install) > 0 {
		app.mains = slices.DeleteFunc(app.mains, func(m goMain) bool { return !app.installs(m.dir) })
		if len(app.mains) == 0 {
			return app, fmt.Errorf("go.mod's // +heroku install names %s, none of which is a main package", quoteList(app.install, "and"))
		}
		d.note("building the main packages go.mod's // +heroku install names (%s)", strings.Join(app.install, " "))
	}
	bins := make([]string, len(app.mains))
	for i, m := range app.mains {
		bins[i] = m.bin
	}
	switch {
	case app.mains[0].dir == ".":
		app.web = "/app/bin/" + app.mains[0].bin
	case len(app.mains) == 1:
		app.web = "/app/bin/" + app.mains[0].bin
	default:
		for _, c := range []string{goBinName(app.path, app.mode), "server", "web", "api"} {
			if slices.Contains(bins, c) {
				app.web = "/app/bin/" + c
				app.webNote = fmt.Sprintf("default web process: /app/bin/%s; add a Procfile to run another", c)
				break
			}
		}
	}
	if app.web == "" && !d.hasProc {
		return app, fmt.Errorf("several main packages (%s) and none is the obvious web server; add a Procfile with a web: line, e.g. \"web: %s\"", quoteList(bins, "and"), bins[0])
	}
	return app, nil
}

// goMainPackages walks the tree for main packages, skipping vendored,
// test, example and hidden directories and nested modules. The root comes
// first, then shallower before deeper; of two with the same binary name
// the first is built.
func (d *detector) goMainPackages(app goApp) []goMain {
	var dirs []string
	_ = fs.WalkDir(d.fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil // an unreadable directory holds nothing to build
		}
		if p != "." && (goSkipDir(e.Name()) || strings.Count(p, "/") >= goMaxDepth || d.exists(p+"/go.mod")) {
			return fs.SkipDir
		}
		if d.goIsMain(p) {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.SortStableFunc(dirs, func(a, b string) int { return goDepth(a) - goDepth(b) })
	var mains []goMain
	seen := map[string]string{}
	for _, dir := range dirs {
		bin := path.Base(dir)
		if dir == "." {
			bin = goBinName(app.path, app.mode)
		}
		if prev, dup := seen[bin]; dup {
			d.note("./%s is not built: its binary would be called %s, like ./%s's", dir, bin, prev)
			continue
		}
		seen[bin] = dir
		mains = append(mains, goMain{dir: dir, bin: bin})
	}
	return mains
}

// goDepth is 0 for the root and 1 more per directory level.
func goDepth(dir string) int {
	if dir == "." {
		return 0
	}
	return strings.Count(dir, "/") + 1
}

// goMaxDepth bounds how deep main packages are looked for.
const goMaxDepth = 6

// goSkipDir reports directories the go command ignores or that hold no
// program of the app's own.
func goSkipDir(name string) bool {
	switch name {
	case "vendor", "testdata", "Godeps", "node_modules", "example", "examples":
		return true
	}
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// goBinName is the name go build gives the root package's binary: the last
// element of the module path, or the one before a major version suffix.
func goBinName(modPath string, mode goMode) string {
	elems := strings.Split(modPath, "/")
	name := elems[len(elems)-1]
	if mode != goGOPATH && len(elems) > 1 && goMajorSuffix().MatchString(name) {
		name = elems[len(elems)-2]
	}
	return name
}

// goContainerfile writes the build of app.
func (d *detector) goContainerfile(app goApp, reason string) (*Plan, error) {
	pkgs := make([]string, len(app.mains))
	bins := make([]string, len(app.mains))
	for i, m := range app.mains {
		pkgs[i], bins[i] = "./"+m.dir, m.bin
		if m.dir == "." {
			pkgs[i] = "."
		}
	}
	switch {
	case pkgs[0] == "." && len(pkgs) == 1:
		d.note("building the main package at the repository root into /app/bin/%s", bins[0])
	case len(pkgs) == 1:
		d.note("building %s (the only main package) into /app/bin/%s", pkgs[0], bins[0])
	default:
		d.note("building every main package (%s) into /app/bin/ (%s)", quoteList(pkgs, "and"), quoteList(bins, "and"))
	}
	if app.webNote != "" {
		d.note("%s", app.webNote)
	}

	plan := &Plan{Kind: KindGo, Name: "Go", Reason: reason}
	if app.web != "" {
		plan.Processes = webProcesses(app.web)
	}
	cmd := app.web
	if w, ok := d.procWeb(); ok {
		cmd = w
		d.goProcfileBinary(w, bins)
	}

	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildGo)
	// The build stage assembles the run image's /app in its working
	// directory (the tree, bin/ and the compatibility links) so that the
	// run stage copies it in one step: under load every step costs, a
	// COPY most (Podman starts its copier for each).
	src := "/src"
	var prep, heading string // what the compile step does first, and its heading
	switch app.mode {
	case goModule:
		heading = "Compiling (go build)"
		if d.exists("vendor/modules.txt") {
			d.note("using the vendor directory; no modules are downloaded")
		} else {
			prep = "go mod download"
			heading = "Downloading dependencies and compiling (go mod download, go build)"
		}
		w.line("WORKDIR /src")
	case goGOPATH:
		heading = "Compiling (go build)"
		src = "/go/src/" + app.path
		gopath := "/go"
		if d.isDir("Godeps/_workspace") {
			gopath = src + "/Godeps/_workspace:/go"
		}
		w.line("ENV GO111MODULE=off GOPATH=%s", gopath)
		w.line("WORKDIR %s", src)
	case goInit:
		prep = "go mod init " + shellQuote(app.path) + " && go mod tidy -e"
		heading = "Resolving dependencies and compiling (go mod tidy, go build)"
		w.line("WORKDIR /src")
	}
	w.line("COPY . .")
	before := w.b.Len()
	if err := d.slugPrune(&w); err != nil {
		return nil, err
	}
	pruned := w.b.Len() != before
	// The compile cache survives between builds in a cache mount, so a
	// code-only change recompiles only the changed packages, not the
	// standard library and every dependency. The module cache is a cache
	// mount too, so dependencies download once, not per push, and their
	// download needs no step of its own: with both, no layer is worth
	// caching and the build runs without the layer cache
	// (Plan.NoLayerCache), which saves a layer commit per step.
	mounts := "--mount=type=cache,target=/root/.cache/go-build"
	if app.mode != goGOPATH {
		mounts += " " + goModCache
	}
	build := fmt.Sprintf(`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/ %s`, strings.Join(pkgs, " "))
	if prep != "" {
		build = prep + " \\\n && " + build
	}
	for name, bin := range d.goCompatLinks(app) {
		build += " && ln -s bin/" + bin + " " + name
	}
	w.heading(heading)
	w.line("RUN %s %s", mounts, build)
	w.blank()
	w.line("FROM %s", s.Base)
	w.line("WORKDIR /app")
	w.line("ENV PORT=5000 PATH=/app/bin:$PATH")
	runUser(&w, cmd)
	w.line("COPY --from=build --chown=app:app %s /app", src)
	plan.Generated = w.bytes()
	plan.NoLayerCache = true
	// The same build as data, for the daemon's builder: the modes that
	// compile in /src with nothing but the compile step between the copy
	// and the run stage. GOPATH mode (its own ENV and directory) and a
	// .slugignore's step keep to the Containerfile, and so does a tree
	// with an ignore file, which podman build applies to COPY . . .
	ignores := d.exists(".containerignore") || d.exists(".dockerignore")
	if app.mode != goGOPATH && !pruned && !ignores {
		plan.Go = &GoBuild{
			BuildImage: s.BuildGo,
			RunImage:   s.Base,
			Heading:    heading,
			Script:     build,
			Caches:     []string{"/root/.cache/go-build", "/go/pkg/mod"},
			Env:        []string{"PORT=5000", "PATH=/app/bin:$PATH"},
			User:       "app",
		}
		if cmd != "" {
			plan.Go.Cmd = cmdArgv(cmd)
		}
	}
	return plan, nil
}

// GoBuild is what a generated Go Containerfile does, as data: its build
// stage copies the tree to /src and runs Script there with the Caches as
// cache mounts, and its run stage is RunImage with WORKDIR /app, Env, User
// and Cmd, and /src copied to /app owned by User. A builder that does the
// same without podman build makes the same image.
type GoBuild struct {
	BuildImage string   // the build stage's image
	RunImage   string   // the run stage's image
	Heading    string   // the compile step's heading for the push output
	Script     string   // the compile step's shell command, run in /src
	Caches     []string // the compile step's cache mounts' targets
	// Env is the run stage's ENV, in order; $PATH stands for RunImage's.
	Env  []string
	User string   // the run stage's USER, which owns /app
	Cmd  []string // the run stage's CMD; nil for RunImage's
}

// goModCache is the RUN mount that keeps Go's module cache between builds.
const goModCache = "--mount=type=cache,target=/go/pkg/mod"

// goCompatLinks maps the paths under /app where earlier xcloud releases put
// the binaries to the binaries now in /app/bin, so that Procfiles written
// then still run: /app/app for one program, /app/NAME for each of several
// commands under cmd/. Names the repository uses itself are left alone.
func (d *detector) goCompatLinks(app goApp) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if app.mode != goModule {
			return // earlier releases built no program without go.mod
		}
		free := func(name string) bool { return !d.exists(name) && !d.isDir(name) && name != "bin" }
		var cmds []goMain
		for _, m := range app.mains {
			if m.dir == "cmd/"+m.bin {
				cmds = append(cmds, m)
			}
		}
		if app.mains[0].dir == "." || len(cmds) == 1 {
			bin := app.mains[0].bin
			if app.mains[0].dir != "." {
				bin = cmds[0].bin
			}
			if free("app") {
				yield("app", bin)
			}
			return
		}
		for _, m := range cmds {
			if free(m.bin) && !yield(m.bin, m.bin) {
				return
			}
		}
	}
}

// goProcfileBinary remarks when the Procfile's web command runs a binary
// from /app/bin that the build does not make.
func (d *detector) goProcfileBinary(cmd string, bins []string) {
	c := parseWebCommand(cmd)
	if !strings.Contains(c.program, "bin/") {
		return
	}
	if bin := c.binary(); bin != "" && !slices.Contains(bins, bin) && !d.exists(strings.TrimPrefix(c.program, "/app/")) {
		d.note("the Procfile's web command runs %s, but the build makes only %s in /app/bin", c.program, quoteList(bins, "and"))
	}
}

// goVersionNote remarks when go.mod wants a newer Go than the stack has.
func (d *detector) goVersionNote(goLine, toolchain string) {
	have := d.stack.GoVersion
	if goLine != "" && versionLess(have, goLine) {
		if toolchain != "" && versionLess(goLine, strings.TrimPrefix(toolchain, "go")) {
			d.note("go.mod asks for go %s and toolchain %s; the stack has %s, the go command will fetch the %s toolchain", goLine, toolchain, have, toolchain)
			return
		}
		d.note("go.mod asks for go %s; the stack has %s, the go command will fetch the %s toolchain", goLine, have, goLine)
		return
	}
	if tv := strings.TrimPrefix(toolchain, "go"); toolchain != "" && versionLess(have, tv) {
		d.note("go.mod asks for toolchain %s; the stack has %s, the go command will fetch it", toolchain, have)
	}
}

// parseGoMod returns the module path and the go and toolchain directives.
func parseGoMod(b []byte) (module, goLine, toolchain string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxRead)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "module":
			module = strings.Trim(f[1], `"`)
		case "go":
			goLine = f[1]
		case "toolchain":
			toolchain = f[1]
		}
	}
	return module, goLine, toolchain
}

// versionLess reports whether dotted version a is older than b. Missing
// components of a count as "any": 1.24 is not older than 1.24.3, as the
// stack's patch release is not known. Suffixes like rc1 are ignored.
func versionLess(a, b string) bool {
	av, bv := versionParts(a), versionParts(b)
	for i := 0; i < len(av) && i < len(bv); i++ {
		if av[i] != bv[i] {
			return av[i] < bv[i]
		}
	}
	return false
}

// versionParts returns the leading numbers of a dotted version.
func versionParts(v string) []int {
	var parts []int
	for _, p := range strings.Split(strings.TrimPrefix(v, "v"), ".") {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(p[:end])
		if err != nil {
			break
		}
		parts = append(parts, n)
		if end < len(p) {
			break
		}
	}
	return parts
}

// goIsMain reports whether dir holds a non-test Go file of package main.
func (d *detector) goIsMain(dir string) bool {
	entries, err := fs.ReadDir(d.fsys, dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || !goFileForLinux(name) {
			continue
		}
		b, err := d.read(path.Join(dir, name))
		if err != nil {
			continue
		}
		m := goPackageClause().FindSubmatchIndex(b)
		if m == nil || !goBuildsOnLinux(b[:m[0]]) {
			continue
		}
		return string(b[m[2]:m[3]]) == "main"
	}
	return false
}

// goBuildsOnLinux reports whether the //go:build line in a file's header
// lets it build where the image builds: linux/amd64 without cgo
// (CGO_ENABLED=0). "ignore", "tools" and other platforms' files do not.
func goBuildsOnLinux(header []byte) bool {
	for _, line := range strings.Split(string(header), "\n") {
		if !constraint.IsGoBuild(line) {
			continue
		}
		expr, err := constraint.Parse(line)
		if err != nil {
			return false // the go command refuses it too
		}
		return expr.Eval(func(tag string) bool {
			switch tag {
			case "linux", "unix", "amd64", "gc":
				return true
			}
			return strings.HasPrefix(tag, "go1.")
		})
	}
	return true
}

// goFileForLinux reports whether a file name's _GOOS or _GOARCH suffix, if
// any, lets it build on linux/amd64, as the go command reads those names.
func goFileForLinux(name string) bool {
	parts := strings.Split(strings.TrimSuffix(name, ".go"), "_")
	if len(parts) < 2 {
		return true
	}
	last, prev := parts[len(parts)-1], ""
	if len(parts) >= 3 {
		prev = parts[len(parts)-2]
	}
	if goKnownOS[prev] && goKnownArch[last] {
		return prev == "linux" && last == "amd64"
	}
	if goKnownOS[last] {
		return last == "linux"
	}
	if goKnownArch[last] {
		return last == "amd64"
	}
	return true
}

var (
	goKnownOS = setOf("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
		"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos")
	goKnownArch = setOf("386", "amd64", "amd64p32", "arm", "arm64", "arm64be", "armbe", "loong64", "mips",
		"mips64", "mips64le", "mips64p32", "mips64p32le", "mipsle", "ppc", "ppc64", "ppc64le", "riscv",
		"riscv64", "s390", "s390x", "sparc", "sparc64", "wasm")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
