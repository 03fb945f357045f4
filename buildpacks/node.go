package buildpacks

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

var (
	// nextExportOutput finds `output: 'export'` in a Next.js config.
	nextExportOutput = regexp.MustCompile("output\\s*:\\s*[\"'`]export[\"'`]")
	// configOutDir finds `outDir: 'x'` in a Vite or Astro config.
	configOutDir = regexp.MustCompile("outDir\\s*:\\s*[\"'`]([^\"'`]+)[\"'`]")
	// devServerStart matches start scripts that only run a dev or preview
	// server of a static site generator.
	devServerStart = regexp.MustCompile(`^(vite|astro|react-scripts)(\s+(preview|dev|serve|start))?(\s|$)`)
	// leadingMajor finds the first number of a version range.
	leadingMajor = regexp.MustCompile(`\d+`)
	// pnpmVersion matches a pnpm version in packageManager.
	pnpmVersion = regexp.MustCompile(`^\d+(\.\d+){0,2}$`)
)

// packageJSON is the part of package.json the Node.js build needs.
type packageJSON struct {
	Main            string            `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	Engines         struct {
		Node string `json:"node"`
	} `json:"engines"`
	PackageManager string `json:"packageManager"`
}

// dep returns the version range of a dependency or dev dependency.
func (p *packageJSON) dep(name string) (string, bool) {
	if v, ok := p.Dependencies[name]; ok {
		return v, true
	}
	v, ok := p.DevDependencies[name]
	return v, ok
}

// nodePM is how one package manager installs and prunes dependencies.
type nodePM struct {
	lockfile string // "" for none
	install  string
	prune    string // drops dev dependencies after the build
}

// nodeApp is what the Node.js detector decided.
type nodeApp struct {
	name   string // Plan.Name
	build  string // build command, "" for none
	static string // output directory of a static export
	web    string // default web command of a server
	next   bool   // Next.js
}

// nodePlan builds a Node.js app: a server run on RunNode, or a static export
// whose output the daemon serves.
func (d *detector) nodePlan() (*Plan, error) {
	b, err := d.read("package.json")
	if err != nil {
		return nil, err
	}
	var pkg packageJSON
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, jsonError("package.json", b, err)
	}
	if err := d.nodeEngines(pkg.Engines.Node); err != nil {
		return nil, err
	}
	pm := d.nodePackageManager(&pkg)

	var app nodeApp
	switch {
	case has(&pkg, "next"):
		app = d.nextApp(&pkg)
	case has(&pkg, "astro"):
		app = d.spaApp(&pkg, "astro", "Astro", "dist", "astro.config")
	case has(&pkg, "react-scripts"):
		app = d.spaApp(&pkg, "react-scripts", "Create React App", "build", "")
	case has(&pkg, "vite"):
		app = d.spaApp(&pkg, "vite", "Vite", "dist", "vite.config")
	}
	if app.name == "" {
		if app, err = d.plainNodeApp(&pkg); err != nil {
			return nil, err
		}
	}

	plan := &Plan{Kind: KindNode, Name: app.name, Reason: "from package.json", StaticRoot: app.static}
	cmd := app.web
	if app.static == "" {
		if app.web != "" {
			plan.Processes = webProcesses(app.web)
		}
		if w, ok := d.procWeb(); ok {
			cmd = w
		}
	}

	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildNode)
	w.line("WORKDIR /src")
	if app.next {
		w.line("ENV NEXT_TELEMETRY_DISABLED=1")
	}
	manifests := []string{"package.json"}
	if pm.lockfile != "" {
		manifests = append(manifests, pm.lockfile)
	}
	for _, f := range []string{".npmrc", ".yarnrc", "pnpm-workspace.yaml"} {
		if d.exists(f) {
			manifests = append(manifests, f)
		}
	}
	w.line("COPY %s ./", strings.Join(manifests, " "))
	w.line("RUN %s", pm.install)
	w.line("COPY . .")
	if err := d.slugPrune(&w); err != nil {
		return nil, err
	}
	if app.build != "" {
		w.line("RUN %s", app.build)
	}
	if app.static == "" {
		// Only production dependencies go on to the runtime stage.
		w.line("RUN %s", pm.prune)
	}
	w.blank()

	if app.static != "" {
		w.line("FROM %s", s.Base)
		w.line("WORKDIR /app")
		w.line("ENV PORT=5000")
		w.line("COPY --from=build --chown=app:app %s", copyArgs("/src/"+app.static, "/app/"+app.static))
		w.line("USER app")
		plan.Generated = w.bytes()
		return plan, nil
	}

	// The whole tree goes on, as on Heroku: apps read templates, content
	// and config files from their working directory at run time.
	w.line("FROM %s", s.RunNode)
	w.line("WORKDIR /app")
	if app.next {
		w.line("ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=5000 PATH=/app/node_modules/.bin:$PATH")
	} else {
		w.line("ENV NODE_ENV=production PORT=5000 PATH=/app/node_modules/.bin:$PATH")
	}
	w.line("COPY --from=build --chown=app:app /src /app")
	w.line("USER app")
	if cmd != "" {
		w.cmd(cmd)
	}
	plan.Generated = w.bytes()
	return plan, nil
}

// nodeProcfilePlan runs a Node.js program that has no package.json, found
// by its Procfile's web command: nothing to install, the files as they are.
func (d *detector) nodeProcfilePlan(reason string) (*Plan, error) {
	plan := &Plan{Kind: KindNode, Name: "Node.js", Reason: reason}
	cmd, _ := d.procWeb()
	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildNode)
	w.line("WORKDIR /src")
	w.line("COPY . .")
	if err := d.slugPrune(&w); err != nil {
		return nil, err
	}
	w.blank()
	w.line("FROM %s", s.RunNode)
	w.line("WORKDIR /app")
	w.line("ENV NODE_ENV=production PORT=5000")
	w.line("COPY --from=build --chown=app:app /src /app")
	w.line("USER app")
	w.cmd(cmd)
	plan.Generated = w.bytes()
	return plan, nil
}

// has reports whether pkg depends on name.
func has(pkg *packageJSON, name string) bool {
	_, ok := pkg.dep(name)
	return ok
}

// nodeEngines fails when engines.node cannot be met by the stack's Node.js.
func (d *detector) nodeEngines(want string) error {
	if strings.TrimSpace(want) == "" {
		return nil
	}
	have := d.stack.NodeVersion
	line, ok := versionLine(have)
	if !ok {
		return nil
	}
	allows, ok := rangeAllows(want, line)
	switch {
	case !ok:
		d.note("cannot read package.json engines.node %q; building with Node.js %s", want, have)
	case !allows:
		return fmt.Errorf("package.json engines.node wants %s; the stack supplies Node.js %s (set [stack] images to use another)", want, have)
	}
	return nil
}

// nodePackageManager picks the package manager from the lockfile.
func (d *detector) nodePackageManager(pkg *packageJSON) nodePM {
	pnpm := "pnpm@9"
	if name, v, ok := strings.Cut(pkg.PackageManager, "@"); ok && name == "pnpm" {
		v, _, _ = strings.Cut(v, "+") // drop the "+sha512.…" hash
		if pnpmVersion.MatchString(v) {
			pnpm = "pnpm@" + v
		}
	}
	yarn := "npx --yes yarn@1"
	pms := []nodePM{
		{"package-lock.json", "npm ci", "npm prune --omit=dev"},
		{"npm-shrinkwrap.json", "npm ci", "npm prune --omit=dev"},
		{"yarn.lock", yarn + " install --frozen-lockfile", yarn + " install --frozen-lockfile --production --ignore-scripts --prefer-offline"},
		{"pnpm-lock.yaml", "npx --yes " + pnpm + " install --frozen-lockfile", "npx --yes " + pnpm + " prune --prod"},
	}
	var found []nodePM
	for _, pm := range pms {
		if d.exists(pm.lockfile) {
			found = append(found, pm)
		}
	}
	if len(found) == 0 {
		d.note("no lockfile (package-lock.json, yarn.lock or pnpm-lock.yaml): dependencies are resolved afresh on every build")
		return nodePM{"", "npm install", "npm prune --omit=dev"}
	}
	for _, pm := range found[1:] {
		d.note("%s also present; ignored because %s comes first", pm.lockfile, found[0].lockfile)
	}
	if found[0].lockfile == "yarn.lock" {
		if b, err := d.read("yarn.lock"); err == nil && strings.Contains(string(b), "__metadata:") {
			d.note("yarn.lock is from Yarn 2 or later; installing with Yarn 1 may fail (commit a package-lock.json or a Containerfile if it does)")
		}
	}
	return found[0]
}

// buildCommand returns "npm run build" when package.json has a build script,
// else fallback.
func buildCommand(pkg *packageJSON, fallback string) string {
	if _, ok := pkg.Scripts["build"]; ok {
		return "npm run build"
	}
	return fallback
}

// nextApp plans a Next.js app: a server, or a static export to out/.
func (d *detector) nextApp(pkg *packageJSON) nodeApp {
	v, _ := pkg.dep("next")
	name := "Next.js"
	if m := leadingMajor.FindString(v); m != "" {
		name += " " + m
	}
	app := nodeApp{next: true, build: buildCommand(pkg, "node_modules/.bin/next build")}

	export := false
	for _, ext := range []string{"js", "mjs", "cjs", "ts", "mts"} {
		if b, err := d.read("next.config." + ext); err == nil {
			export = export || nextExportOutput.Match(b)
		}
	}
	for _, s := range sortedKeys(pkg.Scripts) {
		if strings.Contains(pkg.Scripts[s], "next export") {
			export = true
			if s != "build" && !strings.Contains(pkg.Scripts["build"], "next export") {
				app.build += " && npm run " + s
			}
		}
	}
	if export {
		app.name, app.static = "Node.js ("+name+" static export)", "out"
		return app
	}
	app.name = "Node.js (" + name + ")"
	app.web = "next start"
	if start, ok := pkg.Scripts["start"]; ok && strings.TrimSpace(start) != "" {
		app.web = startCommand(start)
	}
	return app
}

// spaApp plans a site built by a static site generator (tool), unless its
// start script runs something other than the tool's dev server: then it is a
// plain Node.js server (name "" is returned).
func (d *detector) spaApp(pkg *packageJSON, tool, title, outDir, config string) nodeApp {
	if start, ok := pkg.Scripts["start"]; ok && !devServerStart.MatchString(strings.TrimSpace(start)) {
		return nodeApp{}
	}
	if config != "" {
		for _, ext := range []string{"js", "mjs", "cjs", "ts", "mts"} {
			b, err := d.read(config + "." + ext)
			if err != nil {
				continue
			}
			if m := configOutDir.FindSubmatch(b); m != nil {
				dir := path.Clean(string(m[1]))
				if path.IsAbs(dir) || dir == "." || strings.HasPrefix(dir, "..") {
					d.note("%s.%s sets outDir %q, outside the project; serving %s", config, ext, m[1], outDir)
				} else {
					outDir = dir
				}
			}
			break
		}
	}
	return nodeApp{
		name:   "Node.js (" + title + " static export)",
		build:  buildCommand(pkg, "node_modules/.bin/"+tool+" build"),
		static: outDir,
	}
}

// startCommand is the web command for a package.json start script. The
// script runs directly, as npm would run it (node_modules/.bin is on PATH in
// the image), but without npm: the run image carries no npm, npm would hold
// tens of megabytes per container, and it does not pass SIGTERM on, which
// zero-downtime swaps rely on.
func startCommand(script string) string { return strings.TrimSpace(script) }

// plainNodeApp plans a Node.js server started by its start script or node <file>.
func (d *detector) plainNodeApp(pkg *packageJSON) (nodeApp, error) {
	app := nodeApp{name: "Node.js", build: buildCommand(pkg, "")}
	for _, fw := range []struct{ dep, name string }{
		{"@nestjs/core", "NestJS"}, {"express", "Express"}, {"fastify", "Fastify"},
		{"koa", "Koa"}, {"@hapi/hapi", "hapi"}, {"hono", "Hono"},
	} {
		if has(pkg, fw.dep) {
			app.name = "Node.js (" + fw.name + ")"
			break
		}
	}
	if start, ok := pkg.Scripts["start"]; ok && strings.TrimSpace(start) != "" {
		app.web = startCommand(start)
		return app, nil
	}
	var tried []string
	if pkg.Main != "" {
		tried = append(tried, "main ("+pkg.Main+")")
		if f := path.Clean(pkg.Main); d.exists(f) {
			app.web = "node " + shellQuote(f)
			return app, nil
		}
	}
	for _, f := range []string{"server.js", "index.js"} {
		tried = append(tried, f)
		if d.exists(f) {
			app.web = "node " + f
			return app, nil
		}
	}
	if d.hasProc {
		return app, nil
	}
	return app, fmt.Errorf("package.json has no scripts.start and none of %s exists; add a start script or a Procfile with a web: line", quoteList(tried, "or"))
}
