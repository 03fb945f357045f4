package buildpacks

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseWebCommand(t *testing.T) {
	for _, tt := range []struct {
		cmd, program, script, module, binary string
	}{
		{cmd: "python3 -u web.py", program: "python3", script: "web.py", binary: "python3"},
		{cmd: "exec env DEBUG=1 python app/main.py --port $PORT", program: "python", script: "app/main.py", binary: "python"},
		{cmd: "python3 -m http.server $PORT", program: "python3", module: "http.server", binary: "python3"},
		{cmd: "python -mmyapp", program: "python", module: "myapp", binary: "python"},
		{cmd: "node /app/server.js", program: "node", script: "server.js", binary: "node"},
		{cmd: "./bin/web -port $PORT", program: "./bin/web", binary: "web"},
		{cmd: "bin/go-getting-started", program: "bin/go-getting-started", binary: "go-getting-started"},
		{cmd: "/app/bin/api", program: "/app/bin/api", binary: "api"},
		{cmd: "/usr/local/bin/thing", program: "/usr/local/bin/thing"},
		{cmd: "PORT=1 ", program: ""},
	} {
		c := parseWebCommand(tt.cmd)
		got := []string{c.program, c.script(".py", ".js"), c.module(), c.binary()}
		want := []string{tt.program, tt.script, tt.module, tt.binary}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: program, script, module, binary = %q, want %q", tt.cmd, got, want)
		}
	}
}

// TestProcfileRuntime checks which web commands make a language without
// its manifest.
func TestProcfileRuntime(t *testing.T) {
	for _, tt := range []struct {
		procfile string
		files    []string
		kind     string
	}{
		{"web: python3 -u web.py", []string{"web.py"}, KindPython},
		{"web: python3 server/web.py", []string{"server/web.py"}, KindPython},
		{"web: python3.13 -m myapp", []string{"myapp/__main__.py"}, KindPython},
		{"web: python -m http.server $PORT", []string{"index.html"}, ""},
		{"web: python3 web.py", []string{"helper.py"}, KindPython}, // a .py at the root will do
		{"web: node server.js", []string{"server.js"}, KindNode},
		{"web: nodejs index.mjs", []string{"index.mjs"}, KindNode},
		{"web: node server.js", []string{"README.md"}, ""},
		{"web: npm start", []string{"server.js"}, ""},
		{"worker: node worker.js", []string{"worker.js"}, ""},
	} {
		fsys := fstest.MapFS{"Procfile": {Data: []byte(tt.procfile + "\n")}}
		for _, f := range tt.files {
			fsys[f] = &fstest.MapFile{Data: []byte("x")}
		}
		plan, err := Detect(fsys, DefaultStack())
		kind := ""
		if err == nil {
			kind = plan.Kind
		}
		if kind != tt.kind && !(tt.kind == "" && kind == KindStatic) {
			t.Errorf("%q with %v: kind %q (err %v), want %q", tt.procfile, tt.files, kind, err, tt.kind)
		}
	}
}

func TestSlugignore(t *testing.T) {
	fsys := fstest.MapFS{
		".slugignore":         {Data: []byte("# comment\n\n*.psd\n/docs\nspec/\nassets/**/*.map\nbuild/tmp\n")},
		"logo.psd":            {},
		"img/hero.psd":        {},
		"docs/a.md":           {},
		"api/docs/keep.md":    {}, // /docs is anchored at the root
		"spec":                {}, // a file; spec/ matches directories only
		"lib/spec/x_test.rb":  {},
		"assets/app.js.map":   {},
		"assets/js/a/b.map":   {},
		"assets/app.js":       {},
		"build/tmp/cache.bin": {},
		"main.go":             {},
	}
	d := &detector{fsys: fsys}
	got, err := d.slugIgnored()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"assets/app.js.map", "assets/js/a/b.map", "build/tmp", "docs", "img/hero.psd", "lib/spec", "logo.psd"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("removed %q, want %q", got, want)
	}

	for _, bad := range []string{"/\n", "[z\n", "a/../b\n"} {
		d := &detector{fsys: fstest.MapFS{".slugignore": {Data: []byte(bad)}}}
		if _, err := d.slugIgnored(); err == nil || !strings.HasPrefix(err.Error(), ".slugignore line 1: ") {
			t.Errorf("%q: err %v, want one naming line 1", bad, err)
		}
	}
}

// TestGoBinaryNames checks the names binaries get in /app/bin, as Heroku's
// Go buildpack gives them.
func TestGoBinaryNames(t *testing.T) {
	for _, tt := range []struct {
		mod  string
		mode goMode
		want string
	}{
		{"github.com/heroku/go-getting-started", goModule, "go-getting-started"},
		{"example.com/shop/v2", goModule, "shop"},
		{"hello", goModule, "hello"},
		{"example.com/tool/v3", goGOPATH, "v3"},
	} {
		if got := goBinName(tt.mod, tt.mode); got != tt.want {
			t.Errorf("goBinName(%q) = %q, want %q", tt.mod, got, tt.want)
		}
	}
	fsys := fstest.MapFS{
		"go.mod":                   {Data: []byte("module example.com/shop/v2\n")},
		"main.go":                  {Data: []byte("package main\n")},
		"cmd/worker/main.go":       {Data: []byte("package main\n")},
		"internal/lib/lib.go":      {Data: []byte("package lib\n")},
		"tools/worker/main.go":     {Data: []byte("package main\n")}, // same name as cmd/worker: not built
		"examples/demo/main.go":    {Data: []byte("package main\n")},
		"_old/main.go":             {Data: []byte("package main\n")},
		"gen/gen.go":               {Data: []byte("//go:build ignore\n\npackage main\n")},
		"plugins/x/go.mod":         {Data: []byte("module example.com/x\n")},
		"plugins/x/main.go":        {Data: []byte("package main\n")},
		"vendor/a.com/b/main.go":   {Data: []byte("package main\n")},
		"cmd/worker/main_test.go":  {Data: []byte("package main_test\n")},
		"testdata/fixture/main.go": {Data: []byte("package main\n")},
		// Platform and tag constraints, as the go command reads them.
		"winsvc/main_windows.go":   {Data: []byte("package main\n")},
		"macos/main.go":            {Data: []byte("//go:build darwin\n\npackage main\n")},
		"withcgo/main.go":          {Data: []byte("// Copyright.\n\n//go:build cgo\n\npackage main\n")},
		"tools/tools.go":           {Data: []byte("//go:build tools\n\npackage main\n")},
		"unixy/main.go":            {Data: []byte("//go:build linux || darwin\n\npackage main\n")},
		"armonly/main_arm64.go":    {Data: []byte("package main\n")},
		"both/main_linux_amd64.go": {Data: []byte("package main\n")},
	}
	plan, err := Detect(fsys, DefaultStack())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plan.Processes, web("/app/bin/shop")) {
		t.Errorf("Processes = %q", plan.Processes)
	}
	if !strings.Contains(string(plan.Generated), "-o bin/ . ./both ./unixy ./cmd/worker && ln -s bin/shop app\n") {
		t.Errorf("build line:\n%s", plan.Generated)
	}
	if !containsSub(plan.Notes, "./tools/worker is not built: its binary would be called worker, like ./cmd/worker's") {
		t.Errorf("notes %q", plan.Notes)
	}
}

// TestGoHerokuInstall checks that go.mod's "// +heroku install" chooses the
// packages built, as Heroku's Go buildpack does.
func TestGoHerokuInstall(t *testing.T) {
	for _, tt := range []struct {
		install, build, err string
	}{
		{install: "./cmd/...", build: "-o bin/ ./cmd/api ./cmd/worker "},
		{install: ". ./cmd/worker", build: "-o bin/ . ./cmd/worker "},
		{install: "github.com/acme/shop/cmd/api", build: "-o bin/ ./cmd/api "},
		{install: "./...", build: "-o bin/ . ./cmd/api ./cmd/worker "},
		{install: "./internal/...", err: "go.mod's // +heroku install names ./internal/..., none of which is a main package"},
	} {
		fsys := fstest.MapFS{
			"go.mod":             {Data: []byte("// +heroku goVersion go1.24\n// +heroku install " + tt.install + "\nmodule github.com/acme/shop\n")},
			"main.go":            {Data: []byte("package main\n")},
			"cmd/api/main.go":    {Data: []byte("package main\n")},
			"cmd/worker/main.go": {Data: []byte("package main\n")},
			"internal/x/x.go":    {Data: []byte("package x\n")},
			"Procfile":           {Data: []byte("web: api\n")},
		}
		plan, err := Detect(fsys, DefaultStack())
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: err %v, want %q", tt.install, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.install, err)
		}
		if !strings.Contains(string(plan.Generated), tt.build) {
			t.Errorf("%s: no %q in\n%s", tt.install, tt.build, plan.Generated)
		}
	}
}

func TestStaticMarker(t *testing.T) {
	for _, tt := range []struct {
		files      []string
		kind, root string
		note       string
	}{
		{files: []string{".static", "public/index.html"}, kind: KindStatic, root: "public"},
		{files: []string{".static", "index.html", "public/index.html"}, kind: KindStatic, root: "."},
		{files: []string{".static", "about.html"}, kind: KindStatic, root: ".", note: ".static marks a static site, but it has no index.html"},
		{files: []string{".static", "requirements.txt", "app.py"}, kind: KindStatic, root: ".", note: "requirements.txt also present; ignored because .static comes first"},
		{files: []string{".static", "Dockerfile", "index.html"}, kind: KindContainerfile, note: ".static also present; ignored because Dockerfile comes first"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range tt.files {
			fsys[f] = &fstest.MapFile{}
		}
		plan, err := Detect(fsys, DefaultStack())
		if err != nil {
			t.Fatalf("%v: %v", tt.files, err)
		}
		if plan.Kind != tt.kind || plan.StaticRoot != tt.root {
			t.Errorf("%v: kind %q root %q, want %q %q", tt.files, plan.Kind, plan.StaticRoot, tt.kind, tt.root)
		}
		if tt.note != "" && !containsSub(plan.Notes, tt.note) {
			t.Errorf("%v: notes %q lack %q", tt.files, plan.Notes, tt.note)
		}
	}
}
