package buildpacks

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// goPackageClause finds a Go file's package clause.
	goPackageClause = regexp.MustCompile(`(?m)^package\s+([A-Za-z_][A-Za-z0-9_]*)`)
	// goBuildIgnore finds a //go:build ignore constraint.
	goBuildIgnore = regexp.MustCompile(`(?m)^//go:build\s+ignore\s*$`)
)

// goPlan builds a Go module with the go command and runs the static binary
// on the base image.
func (d *detector) goPlan() (*Plan, error) {
	mod, err := d.read("go.mod")
	if err != nil {
		return nil, err
	}
	modPath, goLine, toolchain := parseGoMod(mod)
	d.goVersionNote(goLine, toolchain)

	// Which package(s) to build, and where the binaries land.
	var (
		pkgs []string // build arguments
		out  string   // -o argument
		web  string   // default web command, "" when it cannot be chosen
	)
	cmds := d.goCommands()
	switch {
	case d.goIsMain("."):
		pkgs, out, web = []string{"."}, "/out/app", "/app/app"
		d.note("building the main package at the repository root into /app/app")
	case len(cmds) == 1:
		pkgs, out, web = []string{"./cmd/" + cmds[0]}, "/out/app", "/app/app"
		d.note("building ./cmd/%s (the only command under cmd/) into /app/app", cmds[0])
	case len(cmds) > 1:
		out = "/out/"
		for _, c := range cmds {
			pkgs = append(pkgs, "./cmd/"+c)
		}
		d.note("building every command under cmd/ (%s) into /app/<name>", quoteList(cmds, "and"))
		for _, c := range []string{path.Base(modPath), "server", "web", "api"} {
			if slices.Contains(cmds, c) {
				web = "/app/" + c
				d.note("default web process: /app/%s; add a Procfile to run another", c)
				break
			}
		}
	default:
		return nil, fmt.Errorf("go.mod found but no main package at the repository root or under cmd/*/")
	}
	if web == "" && !d.hasProc {
		return nil, fmt.Errorf("several commands under cmd/ (%s) and none is the obvious web server; add a Procfile with a web: line, e.g. \"web: /app/%s\"", quoteList(cmds, "and"), cmds[0])
	}

	plan := &Plan{Kind: KindGo, Name: "Go", Reason: "from go.mod"}
	if web != "" {
		plan.Processes = webProcesses(web)
	}
	cmd := web
	if w, ok := d.procWeb(); ok {
		cmd = w
	}

	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildGo)
	w.line("WORKDIR /src")
	if d.exists("vendor/modules.txt") {
		d.note("using the vendor directory; no modules are downloaded")
		w.line("COPY . .")
	} else {
		if d.exists("go.sum") {
			w.line("COPY go.mod go.sum ./")
		} else {
			w.line("COPY go.mod ./")
		}
		w.line("RUN go mod download")
		w.line("COPY . .")
	}
	// The compile cache survives between builds in a cache mount, so a
	// code-only change recompiles only the changed packages, not the
	// standard library and every dependency.
	w.line(`RUN --mount=type=cache,target=/root/.cache/go-build CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o %s %s`, out, strings.Join(pkgs, " "))
	w.blank()
	w.line("FROM %s", s.Base)
	w.line("WORKDIR /app")
	w.line("ENV PORT=5000")
	if out == "/out/app" {
		w.line("COPY --from=build /out/app /app/app")
	} else {
		w.line("COPY --from=build /out/ /app/")
	}
	w.line("USER app")
	if cmd != "" {
		w.cmd(cmd)
	}
	plan.Generated = w.bytes()
	return plan, nil
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

// goCommands lists the directories under cmd/ holding a main package.
func (d *detector) goCommands() []string {
	entries, _ := fs.ReadDir(d.fsys, "cmd") // no cmd directory: no entries

	var cmds []string
	for _, e := range entries {
		if e.IsDir() && d.goIsMain("cmd/"+e.Name()) {
			cmds = append(cmds, e.Name())
		}
	}
	return cmds
}

// goIsMain reports whether dir holds a non-test Go file of package main.
func (d *detector) goIsMain(dir string) bool {
	entries, err := fs.ReadDir(d.fsys, dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := d.read(path.Join(dir, name))
		if err != nil {
			continue
		}
		if goBuildIgnore.Match(b) {
			continue
		}
		if m := goPackageClause.FindSubmatch(b); m != nil {
			return string(m[1]) == "main"
		}
	}
	return false
}
