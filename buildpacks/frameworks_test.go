package buildpacks

import (
	"slices"
	"strings"
	"testing"
)

// The cases below come from the compatibility corpus
// (cmd/xcloud/testdata/corpus): starters as their generators write them.

func TestDetectFrameworkStarters(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		kind   string
		title  string   // Plan.Name
		static string   // Plan.StaticRoot
		web    string   // the web command; "" for none
		want   []string // lines the Containerfile has
		notes  []string // substrings, each in some note
		err    string   // substring of the error
	}{{
		// fastify-cli's generated app: `fastify start` listens on
		// localhost unless given an address, which no proxy reaches.
		name: "fastify start without an address",
		files: map[string]string{
			"package.json": `{"scripts": {"start": "fastify start -l info app.js"}, "dependencies": {"fastify": "^5.0.0", "fastify-cli": "^8.0.2"}}`,
			"app.js":       "",
		},
		kind: KindNode, title: "Node.js (Fastify)", web: "fastify start -l info app.js",
		want:  []string{"ENV FASTIFY_ADDRESS=0.0.0.0"},
		notes: []string{"fastify start listens on localhost unless told otherwise; FASTIFY_ADDRESS=0.0.0.0 makes it reachable"},
	}, {
		name: "fastify start with an address",
		files: map[string]string{
			"package.json": `{"scripts": {"start": "fastify start -a 0.0.0.0 -p $PORT app.js"}, "dependencies": {"fastify": "^5.0.0", "fastify-cli": "^8.0.2"}}`,
		},
		kind: KindNode, title: "Node.js (Fastify)", web: "fastify start -a 0.0.0.0 -p $PORT app.js",
	}, {
		// nest new's starter: start runs the Nest CLI (a devDependency).
		name: "NestJS start and start:prod",
		files: map[string]string{
			"package.json": `{"scripts": {"build": "nest build", "start": "nest start", "start:dev": "nest start --watch", "start:prod": "node dist/main"}, "dependencies": {"@nestjs/core": "^11.0.1"}, "devDependencies": {"@nestjs/cli": "^11.0.0"}}`,
		},
		kind: KindNode, title: "Node.js (NestJS)", web: "node dist/main",
		want:  []string{"RUN npm run build"},
		notes: []string{`package.json's start runs "nest start", which needs the Nest CLI, a devDependency; start:prod runs the built app instead`},
	}, {
		name: "NestJS without start:prod",
		files: map[string]string{
			"package.json": `{"scripts": {"build": "nest build", "start": "nest start"}, "dependencies": {"@nestjs/core": "^11.0.1"}, "devDependencies": {"@nestjs/cli": "^11.0.0"}}`,
		},
		kind: KindNode, title: "Node.js (NestJS)", web: "nest start",
	}, {
		// ng new's starter: start runs the dev server, the application
		// builder writes dist/<project>/browser.
		name: "Angular",
		files: map[string]string{
			"package.json": `{"scripts": {"ng": "ng", "start": "ng serve", "build": "ng build"}, "dependencies": {"@angular/core": "^21.2.0"}, "devDependencies": {"@angular/cli": "^21.2.27"}}`,
			"angular.json": `{"version": 1, "projects": {"app": {"projectType": "application", "architect": {"build": {"builder": "@angular/build:application", "options": {"browser": "src/main.ts"}}}}}}`,
		},
		kind: KindNode, title: "Node.js (Angular 21 static export)", static: "dist/app/browser",
		want: []string{"RUN npm run build"},
	}, {
		name: "Angular, older builder and outputPath",
		files: map[string]string{
			"package.json": `{"scripts": {"start": "ng serve"}, "dependencies": {"@angular/core": "^17.0.0"}}`,
			"angular.json": `{"defaultProject": "shop", "projects": {"shop": {"projectType": "application", "architect": {"build": {"builder": "@angular-devkit/build-angular:browser", "options": {"outputPath": "dist/shop-web"}}}}}}`,
		},
		kind: KindNode, title: "Node.js (Angular 17 static export)", static: "dist/shop-web",
		want: []string{"RUN node_modules/.bin/ng build"},
	}, {
		name: "Angular with server-side rendering",
		files: map[string]string{
			"package.json": `{"scripts": {"start": "ng serve", "build": "ng build", "serve:ssr:app": "node dist/app/server/server.mjs"}, "dependencies": {"@angular/core": "^21.2.0", "@angular/ssr": "^21.2.0"}}`,
			"angular.json": `{"projects": {"app": {"projectType": "application", "architect": {"build": {"builder": "@angular/build:application", "options": {"ssr": {"entry": "src/server.ts"}}}}}}}`,
		},
		kind: KindNode, title: "Node.js (Angular 21, server-side rendering)", web: "node dist/app/server/server.mjs",
	}, {
		// HTML5 Boilerplate: start runs webpack's dev server, build
		// bundles the site into dist/.
		name: "webpack dev server start",
		files: map[string]string{
			"package.json":           `{"scripts": {"start": "webpack serve --open --config webpack.config.dev.js", "build": "webpack --config webpack.config.prod.js"}, "devDependencies": {"webpack": "^5.91.0", "webpack-cli": "^5.1.4", "webpack-dev-server": "^5.0.4"}}`,
			"webpack.common.js":      "module.exports = { entry: { app: './js/app.js' }, output: { path: path.resolve(__dirname, 'dist'), clean: true } };",
			"webpack.config.prod.js": "module.exports = merge(common, { mode: 'production' });",
			"index.html":             "<p>Hello world!</p>",
		},
		kind: KindNode, title: "Node.js (webpack static export)", static: "dist",
		want: []string{"RUN npm run build", "COPY --from=build --chown=app:app /src/dist /app/dist"},
	}, {
		name: "webpack output elsewhere",
		files: map[string]string{
			"package.json":      `{"scripts": {"start": "webpack-dev-server --mode development"}, "devDependencies": {"webpack": "^5.0.0", "webpack-dev-server": "^5.0.0"}}`,
			"webpack.config.js": "module.exports = { output: { path: path.join(__dirname, 'public/build') } };",
		},
		kind: KindNode, title: "Node.js (webpack static export)", static: "public/build",
		want: []string{"RUN node_modules/.bin/webpack --mode production"},
	}, {
		name: "webpack app served by its own server",
		files: map[string]string{
			"package.json": `{"scripts": {"start": "node server.js", "build": "webpack"}, "dependencies": {"express": "^4.0.0"}, "devDependencies": {"webpack": "^5.0.0"}}`,
			"server.js":    "",
		},
		kind: KindNode, title: "Node.js (Express)", web: "node server.js",
	}, {
		name: "SvelteKit with adapter-node",
		files: map[string]string{
			"package.json":   `{"type": "module", "scripts": {"build": "vite build", "preview": "vite preview"}, "devDependencies": {"@sveltejs/adapter-node": "^5.5.4", "@sveltejs/kit": "^2.63.0", "vite": "^8.0.16"}}`,
			"vite.config.ts": "import adapter from '@sveltejs/adapter-node';\nexport default defineConfig({ plugins: [sveltekit({ adapter: adapter() })] });",
		},
		kind: KindNode, title: "Node.js (SvelteKit 2, adapter-node)", web: "node build",
		want: []string{"RUN npm run build", `CMD ["node", "build"]`},
	}, {
		name: "SvelteKit with adapter-node writing elsewhere",
		files: map[string]string{
			"package.json":     `{"scripts": {"build": "vite build"}, "devDependencies": {"@sveltejs/adapter-node": "^5.0.0", "@sveltejs/kit": "^2.0.0", "vite": "^6.0.0"}}`,
			"svelte.config.js": "import adapter from '@sveltejs/adapter-node';\nexport default { kit: { adapter: adapter({ out: 'server' }) } };",
		},
		kind: KindNode, title: "Node.js (SvelteKit 2, adapter-node)", web: "node server",
	}, {
		name: "SvelteKit with adapter-static",
		files: map[string]string{
			"package.json":     `{"scripts": {"build": "vite build"}, "devDependencies": {"@sveltejs/adapter-static": "^3.0.0", "@sveltejs/kit": "^2.0.0", "vite": "^6.0.0"}}`,
			"svelte.config.js": "import adapter from '@sveltejs/adapter-static';\nexport default { kit: { adapter: adapter({ pages: 'site' }) } };",
		},
		kind: KindNode, title: "Node.js (SvelteKit 2 static export)", static: "site",
	}, {
		// sv create's default: adapter-auto knows hosted platforms only.
		name: "SvelteKit with adapter-auto",
		files: map[string]string{
			"package.json":   `{"scripts": {"build": "vite build"}, "devDependencies": {"@sveltejs/adapter-auto": "^7.0.1", "@sveltejs/kit": "^2.63.0", "vite": "^8.0.16"}}`,
			"vite.config.ts": "import adapter from '@sveltejs/adapter-auto';",
		},
		err: "SvelteKit's adapter-auto (in vite.config.ts) builds for hosting platforms it recognises, not for a server of its own: use @sveltejs/adapter-node in its place (npm i -D @sveltejs/adapter-node), or @sveltejs/adapter-static for a static site",
	}, {
		// create-next-app's layout loads the Geist fonts from Google Fonts
		// while building.
		name: "Next.js with next/font/google",
		files: map[string]string{
			"package.json":  `{"scripts": {"build": "next build", "start": "next start"}, "dependencies": {"next": "16.4.3"}}`,
			"app/layout.js": "import { Geist } from \"next/font/google\";\n",
		},
		kind: KindNode, title: "Node.js (Next.js 16)", web: "next start",
		notes: []string{"app/layout.js loads fonts with next/font/google, which downloads them from Google Fonts while building: a build host that reaches only package registries fails there; next/font/local avoids it"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Detect(mapFS(tt.files), DefaultStack())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Kind != tt.kind || plan.Name != tt.title || plan.StaticRoot != tt.static {
				t.Errorf("plan = %s %q static %q, want %s %q static %q", plan.Kind, plan.Name, plan.StaticRoot, tt.kind, tt.title, tt.static)
			}
			var web string
			for _, p := range plan.Processes {
				if p.Type == "web" {
					web = p.Command
				}
			}
			if web != tt.web {
				t.Errorf("web = %q, want %q", web, tt.web)
			}
			lines := strings.Split(string(plan.Generated), "\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("Containerfile lacks %q:\n%s", w, plan.Generated)
				}
			}
			for _, n := range tt.notes {
				if !containsSub(plan.Notes, n) {
					t.Errorf("notes lack %q: %q", n, plan.Notes)
				}
			}
			if tt.notes == nil && strings.Contains(string(plan.Generated), "FASTIFY_ADDRESS") {
				t.Errorf("FASTIFY_ADDRESS set for %s:\n%s", tt.name, plan.Generated)
			}
		})
	}
}

func TestExplainBuildFailure(t *testing.T) {
	lock := `{"name": "app", "lockfileVersion": 3, "packages": {
	  "": {"dependencies": {"left-pad": "1.3.0"}},
	  "node_modules/left-pad": {"version": "1.3.0", "resolved": "https://registry.example/left-pad/-/left-pad-1.3.0.tgz", "integrity": "sha512-WANTED"}}}`
	tests := []struct {
		name  string
		log   string
		files map[string]string
		want  string
	}{{
		name: "npm ci, package found in the lockfile",
		log: "npm error code EINTEGRITY\n" +
			"npm error sha512-WANTED integrity checksum failed when using sha512: wanted sha512-WANTED but got sha512-GOT. (1234 bytes)\n" +
			"npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log\n",
		files: map[string]string{"package-lock.json": lock},
		want:  "npm: the tarball of left-pad@1.3.0 does not match the integrity package-lock.json records for it (wanted sha512-WANTED, got sha512-GOT): the lockfile was made against another registry or the package was republished; regenerate package-lock.json (delete it, run npm install), commit it and push again",
	}, {
		name: "npm 9 wording (Debian's npm)",
		log: "npm ERR! code EINTEGRITY\n" +
			"npm ERR! Integrity checksum failed when using sha512: wanted sha512-WANTED== but got sha512-GOT==.\n",
		files: map[string]string{"package-lock.json": strings.ReplaceAll(lock, "sha512-WANTED", "sha512-WANTED==")},
		want:  "npm: the tarball of left-pad@1.3.0 does not match the integrity package-lock.json records for it (wanted sha512-WANTED==, got sha512-GOT==): the lockfile was made against another registry or the package was republished; regenerate package-lock.json (delete it, run npm install), commit it and push again",
	}, {
		name: "npm 6 wording, package not in the lockfile",
		log: "npm ERR! code EINTEGRITY\n" +
			"npm ERR! sha512-OTHER integrity checksum failed when using sha512: wanted sha512-OTHER but got sha512-GOT. (99 bytes)\n",
		files: map[string]string{"package-lock.json": lock},
		want:  "npm: a package's tarball does not match the integrity package-lock.json records for it (wanted sha512-OTHER, got sha512-GOT): the lockfile was made against another registry or the package was republished; regenerate package-lock.json (delete it, run npm install), commit it and push again",
	}, {
		name: "yarn",
		log:  "error https://registry.example/left-pad/-/left-pad-1.3.0.tgz: Integrity check failed for \"left-pad\" (computed integrity doesn't match our records, got \"sha512-GOT\")\n",
		want: "yarn: the tarball of left-pad does not match the integrity yarn.lock records for it (got sha512-GOT): the lockfile was made against another registry or the package was republished; regenerate yarn.lock (delete it, run yarn install), commit it and push again",
	}, {
		name: "pnpm",
		log:  " ERR_PNPM_TARBALL_INTEGRITY  Got unexpected checksum for \"https://registry.example/left-pad/-/left-pad-1.3.0.tgz\". Wanted \"sha512-WANTED\". Got \"sha512-GOT\".\n",
		want: "pnpm: the tarball https://registry.example/left-pad/-/left-pad-1.3.0.tgz does not match the integrity pnpm-lock.yaml records for it (wanted sha512-WANTED, got sha512-GOT): the lockfile was made against another registry or the package was republished; regenerate pnpm-lock.yaml (delete it, run pnpm install), commit it and push again",
	}, {
		name: "anything else",
		log:  "npm error code E404\n",
		want: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExplainBuildFailure([]byte(tt.log), mapFS(tt.files))
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("more than one line: %q", got)
			}
		})
	}
}

// TestInstalledNodeNPM checks that a build on an installed Node.js uses
// npmVersion, not the stack's npm, which fails to resolve ng new's
// starter (corpus app "angular").
func TestInstalledNodeNPM(t *testing.T) {
	plan, err := Detect(mapFS(map[string]string{
		"package.json": `{"scripts": {"start": "node server.js"}, "engines": {"node": "22.x"}}`,
	}), DefaultStack())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" && npm install --no-save --no-audit --no-fund --loglevel=error --prefix /opt/npm npm@" + npmVersion + " \\",
		"/opt/npm/node_modules/npm/bin/%s-cli.js"} {
		if !strings.Contains(string(plan.Generated), want) {
			t.Errorf("Containerfile lacks %q:\n%s", want, plan.Generated)
		}
	}
}
