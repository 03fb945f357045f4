package buildpacks

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the generated Containerfiles")

func web(cmd string) []Process { return []Process{{"web", cmd}} }

func TestDetect(t *testing.T) {
	tests := []struct {
		repo       string
		kind, name string
		reason     string
		procs      []Process
		static     string
		notes      []string // substrings, each found in some note
		err        string   // substring of the error; "" for success
	}{
		{repo: "containerfile", kind: KindContainerfile, name: "Containerfile", reason: "Containerfile found",
			notes: []string{"Dockerfile also present; ignored because Containerfile comes first"}},
		{repo: "dockerfile-procfile", kind: KindContainerfile, name: "Dockerfile", reason: "Dockerfile found",
			procs: []Process{{"web", "/app/server --port $PORT"}, {"release", "/app/server migrate"}}},
		{repo: "go-simple", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("/app/bin/hello"),
			notes: []string{"main package at the repository root into /app/bin/hello"}},
		{repo: "go-cmd-dir", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("/app/bin/shopd"),
			notes: []string{"./cmd/shopd (the only main package) into /app/bin/shopd"}},
		{repo: "go-multi-cmd", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("/app/bin/api"),
			notes: []string{"every main package (./cmd/api and ./cmd/worker)", "default web process: /app/bin/api"}},
		{repo: "go-newer-toolchain", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("/app/bin/new"),
			notes: []string{"go.mod asks for go 1.25.0 and toolchain go1.25.3; the stack has 1.24, the go command will fetch the go1.25.3 toolchain"}},
		{repo: "node-express", kind: KindNode, name: "Node.js (Express)", reason: "from package.json", procs: web("node server.js"),
			notes: []string{"Node.js 20.19, the stack's, satisfies package.json engines.node >=18"}},
		{repo: "node-next", kind: KindNode, name: "Node.js (Next.js 14)", reason: "from package.json", procs: web("next start")},
		{repo: "node-next-export", kind: KindNode, name: "Node.js (Next.js 15 static export)", reason: "from package.json", static: "out"},
		{repo: "node-vite", kind: KindNode, name: "Node.js (Vite static export)", reason: "from package.json", static: "dist"},
		{repo: "node-yarn", kind: KindNode, name: "Node.js (Fastify)", reason: "from package.json", procs: web("node app.js")},
		{repo: "node-pnpm", kind: KindNode, name: "Node.js (Koa)", reason: "from package.json", procs: web("node dist/index.js")},
		{repo: "node-engines-too-new", kind: KindNode, name: "Node.js", reason: "from package.json", procs: web("node index.js"),
			notes: []string{"Node.js >=22: package.json engines.node; the stack's Node.js 20.19 does not satisfy it, so the newest matching release is installed"}},
		{repo: "node-nvmrc", kind: KindNode, name: "Node.js", reason: "from package.json", procs: web("node server.js"),
			notes: []string{"Node.js lts/hydrogen: .nvmrc; the stack's Node.js 20.19 does not satisfy it"}},
		{repo: "node-install-script", kind: KindNode, name: "Node.js", reason: "from package.json", procs: web("node server.js"),
			notes: []string{"Node.js 20.19, the stack's, satisfies .nvmrc lts/iron", "package.json has an install script, so the whole tree is copied before installing"}},
		{repo: "node-engines-bad", err: `package.json engines.node "the latest please": not a version range`},
		{repo: "python-version-unavailable", err: ".python-version asks for Python 3.12; the stack has Python 3.13 only: ask for 3.13, or point [stack] build_python and run_python in xcloud.toml at images with Python 3.12"},
		{repo: "python-runtime-txt", kind: KindPython, name: "Python (Flask)", reason: "from requirements.txt",
			procs: web("gunicorn --bind 0.0.0.0:$PORT app:app")},
		{repo: "node-no-start", err: "package.json has no scripts.start and none of server.js or index.js exists"},
		{repo: "python-fastapi", kind: KindPython, name: "Python (FastAPI)", reason: "from requirements.txt",
			procs: web("uvicorn main:app --host 0.0.0.0 --port $PORT")},
		{repo: "python-flask-gunicorn", kind: KindPython, name: "Python (Flask)", reason: "from requirements.txt",
			procs: web("gunicorn --bind 0.0.0.0:$PORT app:application")},
		{repo: "python-django", kind: KindPython, name: "Python (Django)", reason: "from requirements.txt",
			procs: web("gunicorn --bind 0.0.0.0:$PORT mysite.wsgi")},
		{repo: "python-pyproject", kind: KindPython, name: "Python (FastAPI)", reason: "from pyproject.toml",
			procs: web("uvicorn app.main:api --host 0.0.0.0 --port $PORT"),
			notes: []string{"uvicorn is not among the dependencies; installing it"}},
		{repo: "python-pyproject-package", kind: KindPython, name: "Python (Flask)", reason: "from pyproject.toml",
			procs: web("gunicorn --bind 0.0.0.0:$PORT 'app:create_app()'"),
		},
		{repo: "python-pipfile", kind: KindPython, name: "Python (Flask)", reason: "from Pipfile",
			procs: web("flask --app main run --host 0.0.0.0 --port $PORT"),
			notes: []string{"Pipfile package mylib is not from the index", "Pipfile.lock is not used", "running Flask's development server"}},
		{repo: "python-no-framework", err: "add a Procfile with a web: line"},
		{repo: "static-root", kind: KindStatic, name: "static HTML", reason: "from index.html", static: "."},
		{repo: "static-public", kind: KindStatic, name: "static HTML", reason: "from public/index.html", static: "public"},
		{repo: "ambiguous-go-node", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("/app/bin/both"),
			notes: []string{"package.json also present; ignored because go.mod comes first", "index.html also present; ignored because go.mod comes first"}},
		{repo: "nothing",
			err: "no Containerfile, Dockerfile, go.mod, package.json, requirements.txt, pyproject.toml, Pipfile or index.html at the repository root"},
		{repo: "procfile-web-worker", kind: KindNode, name: "Node.js (Express)", reason: "from package.json",
			procs: []Process{{"web", "node server.js --port $PORT"}, {"worker", "node worker.js"}}},
		{repo: "procfile-bad", err: `Procfile line 2: want "type: command", got "worker ./worker"`},
		{repo: "appjson-bad", err: "app.json cron[0].schedule: want 5 fields"},

		// Detection as wide as the Procfile, GOPATH-era Go and .static.
		{repo: "python-procfile-stdlib", kind: KindPython, name: "Python", reason: "from the Procfile (web runs python3, web.py)",
			procs: web("python3 -u web.py")},
		{repo: "node-procfile-nopkg", kind: KindNode, name: "Node.js", reason: "from the Procfile (web runs node, server.js)",
			procs: web("node server.js")},
		{repo: "procfile-index-python", kind: KindPython, name: "Python", reason: "from the Procfile (web runs python, app.py)",
			procs: web("python app.py"), notes: []string{"index.html also present; ignored because the Procfile's web command comes first"}},
		{repo: "procfile-python-nosource", err: "a .static file, Go source, or a Procfile whose web command runs node or python with its source files would do too"},
		{repo: "procfile-mismatch", kind: KindNode, name: "Node.js", reason: "from package.json", procs: web("python3 app.py"),
			notes: []string{"the Procfile's web command runs python3, but the app builds as Node.js"}},
		{repo: "static-marker", kind: KindStatic, name: "static HTML", reason: "from the .static marker", static: ".",
			notes: []string{"package.json also present; ignored because .static comes first"}},
		{repo: "go-godir-vendor", kind: KindGo, name: "Go", reason: "from .godir (no go.mod)", procs: web("hello"),
			notes: []string{"GOPATH mode as github.com/example/hello (named by .godir)", "root into /app/bin/hello"}},
		{repo: "go-no-gomod", kind: KindGo, name: "Go", reason: "from the main package at the root (no go.mod)", procs: web("./bin/greeter"),
			notes: []string{"synthesising module greeter (after the Procfile's web binary)"}},
		{repo: "go-godir-bad", err: `.godir: "../evil" is not a Go import path`},
		{repo: "go-procfile-cmd", kind: KindGo, name: "Go", reason: "from the Procfile's web command, which runs ./cmd/web's binary (no go.mod)",
			procs: []Process{{"web", "./bin/web"}, {"worker", "worker"}}, notes: []string{"synthesising module web (after the Procfile's web binary)"}},
		{repo: "go-godeps-workspace", kind: KindGo, name: "Go", reason: "from Godeps/Godeps.json (no go.mod)", procs: web("go-getting-started"),
			notes: []string{"GOPATH mode as github.com/heroku/go-getting-started (named by Godeps/Godeps.json)"}},
		{repo: "go-heroku-layout", kind: KindGo, name: "Go", reason: "from go.mod", procs: web("go-getting-started"),
			notes: []string{"every main package (. and ./cmd/migrate) into /app/bin/ (go-getting-started and migrate)",
				".slugignore line 4: negated patterns are not supported", ".slugignore removes 2 paths"}},
		{repo: "slugignore-bad", err: `.slugignore line 2: bad pattern "[abc"`},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.repo] = true
		t.Run(tt.repo, func(t *testing.T) {
			plan, err := Detect(os.DirFS(filepath.Join("testdata", "repos", tt.repo)), DefaultStack())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Kind != tt.kind || plan.Name != tt.name || plan.Reason != tt.reason {
				t.Errorf("Kind, Name, Reason = %q, %q, %q; want %q, %q, %q", plan.Kind, plan.Name, plan.Reason, tt.kind, tt.name, tt.reason)
			}
			if !reflect.DeepEqual(plan.Processes, tt.procs) {
				t.Errorf("Processes = %q, want %q", plan.Processes, tt.procs)
			}
			if plan.StaticRoot != tt.static {
				t.Errorf("StaticRoot = %q, want %q", plan.StaticRoot, tt.static)
			}
			for _, want := range tt.notes {
				if !containsSub(plan.Notes, want) {
					t.Errorf("no note contains %q; notes: %q", want, plan.Notes)
				}
			}
			switch plan.Kind {
			case KindContainerfile:
				if plan.Containerfile == "" || plan.Generated != nil {
					t.Errorf("Containerfile = %q, Generated = %d bytes", plan.Containerfile, len(plan.Generated))
				}
			case KindStatic:
				if plan.Generated != nil {
					t.Errorf("static plan with a generated Containerfile")
				}
			default:
				checkGenerated(t, tt.repo, plan.Generated)
			}
		})
	}
	// Every fixture is in the table.
	entries, err := os.ReadDir(filepath.Join("testdata", "repos"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !seen[e.Name()] {
			t.Errorf("fixture %s is not tested", e.Name())
		}
	}
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// checkGenerated checks the invariants of a generated Containerfile and
// compares it with its golden file.
func checkGenerated(t *testing.T, repo string, got []byte) {
	t.Helper()
	if len(got) == 0 {
		t.Fatal("no generated Containerfile")
	}
	s := string(got)
	if strings.Count(s, "\nFROM ") < 2 {
		t.Errorf("not multi-stage:\n%s", s)
	}
	final := s[strings.LastIndex(s, "\nFROM "):]
	if !strings.Contains(final, "\nUSER app\n") {
		t.Errorf("final stage does not run as app:\n%s", final)
	}
	if !strings.Contains(final, "PORT=5000") {
		t.Errorf("final stage sets no PORT:\n%s", final)
	}
	if strings.Contains(s, ":latest") {
		t.Errorf("uses a latest tag")
	}
	golden := filepath.Join("testdata", "golden", repo+".Containerfile")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("generated Containerfile differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

func TestDetectAppJSON(t *testing.T) {
	plan, err := Detect(os.DirFS(filepath.Join("testdata", "repos", "containerfile")), DefaultStack())
	if err != nil {
		t.Fatal(err)
	}
	want := &AppJSON{
		Healthchecks: map[string][]Healthcheck{"web": {{Type: "startup", Name: "web check", Path: "/health", Content: "ok", Attempts: 5, Wait: 2, Timeout: 5}}},
		Cron:         []CronJob{{Command: "/app/app cleanup", Schedule: "*/5 * * * *"}},
		Scripts:      Scripts{Predeploy: "/app/app migrate", Postdeploy: "/app/app warm"},
	}
	if !reflect.DeepEqual(plan.AppJSON, want) {
		t.Errorf("AppJSON = %+v, want %+v", plan.AppJSON, want)
	}
	plan, err = Detect(os.DirFS(filepath.Join("testdata", "repos", "go-simple")), DefaultStack())
	if err != nil || plan.AppJSON != nil {
		t.Errorf("without app.json: AppJSON = %v, err = %v", plan.AppJSON, err)
	}
}

// TestDetectStackNames checks that the generated files use the stack given.
func TestDetectStackNames(t *testing.T) {
	s := Stack{Base: "B", BuildGo: "BG", BuildNode: "BN", RunNode: "RN", BuildPython: "BP", RunPython: "RP",
		GoVersion: "1.26", NodeVersion: "22", PythonVersion: "3.14"}
	for repo, want := range map[string][]string{
		"go-newer-toolchain":   {"FROM BG AS build\n", "FROM B\n"},
		"node-express":         {"FROM BN AS build\n", "FROM RN\n"},
		"node-vite":            {"FROM BN AS build\n", "FROM B\n"},
		"python-fastapi":       {"FROM BP AS build\n", "FROM RP\n"},
		"node-engines-too-new": {"FROM BN AS build\n"},
	} {
		plan, err := Detect(os.DirFS(filepath.Join("testdata", "repos", repo)), s)
		if err != nil {
			t.Errorf("%s: %v", repo, err)
			continue
		}
		for _, w := range want {
			if !strings.Contains(string(plan.Generated), w) {
				t.Errorf("%s: no %q in\n%s", repo, w, plan.Generated)
			}
		}
		if repo == "go-newer-toolchain" && len(plan.Notes) > 0 && containsSub(plan.Notes, "fetch") {
			t.Errorf("%s: toolchain note with Go 1.26: %q", repo, plan.Notes)
		}
	}
}

func TestDetectDeterministic(t *testing.T) {
	fsys := os.DirFS(filepath.Join("testdata", "repos", "python-django"))
	a, err := Detect(fsys, DefaultStack())
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		b, err := Detect(fsys, DefaultStack())
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("second Detect differs: %v", err)
		}
	}
}

func TestDetectMapFS(t *testing.T) {
	fsys := fstest.MapFS{
		"Procfile":         {Data: []byte("worker: python worker.py\n")},
		"requirements.txt": {Data: []byte("redis\n")},
		"worker.py":        {Data: []byte("")},
	}
	plan, err := Detect(fsys, DefaultStack())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Name != "Python" || !reflect.DeepEqual(plan.Processes, []Process{{"worker", "python worker.py"}}) {
		t.Errorf("Name = %q, Processes = %q", plan.Name, plan.Processes)
	}
	if !containsSub(plan.Notes, "Procfile has no web process type") {
		t.Errorf("notes %q", plan.Notes)
	}
	if bytes.Contains(plan.Generated, []byte("\nCMD")) {
		t.Errorf("CMD without a web process:\n%s", plan.Generated)
	}
}

func TestNodeEngines(t *testing.T) {
	line, ok := versionLine("20")
	if !ok {
		t.Fatal("versionLine(20) failed")
	}
	for r, want := range map[string]bool{
		">=18": true, ">=22": false, "22.x": false, "^21": false, "^20.11": true, "20": true, "18 || 20": true,
		">=16 <21": true, ">= 18.0.0": true, "<20": false, "<=20": true, ">20": false, "~20.1.2": true,
		"18 - 20": true, "14 - 19": false, "*": true, "": true, "x": true, ">=20.0.0-rc.1": true, "^18 || ^22": false,
		"<20.0.0": false, ">19.9999": true,
	} {
		ivs, ok := parseRange(r)
		if got := admits(ivs, line); !ok || got != want {
			t.Errorf("parseRange(%q) admits 20: %v, %v; want %v", r, got, ok, want)
		}
	}
	for _, bad := range []string{"latest", "lts/*", ">=abc", "node"} {
		if _, ok := parseRange(bad); ok {
			t.Errorf("parseRange(%q) parsed", bad)
		}
	}
}

func TestCmdForm(t *testing.T) {
	for cmd, want := range map[string]string{
		"/app/app":                   `CMD ["/app/app"]`,
		"npm start":                  `CMD ["npm", "start"]`,
		"uvicorn m:app --port $PORT": `CMD ["/bin/sh", "-c", "exec uvicorn m:app --port $PORT"]`,
		"FOO=1 ./run":                `CMD ["/bin/sh", "-c", "exec FOO=1 ./run"]`,
		`echo "<a&b>"`:               `CMD ["/bin/sh", "-c", "exec echo \"<a&b>\""]`,
	} {
		var w cfWriter
		w.cmd(cmd)
		if got := strings.TrimSpace(string(w.bytes())); got != want {
			t.Errorf("cmd(%q) = %s, want %s", cmd, got, want)
		}
	}
}

func TestCopyArgs(t *testing.T) {
	if got := copyArgs("a/b.txt", "a/b.txt"); got != "a/b.txt a/b.txt" {
		t.Errorf("plain: %s", got)
	}
	if got := copyArgs("my reqs.txt", "my reqs.txt"); got != `["my reqs.txt", "my reqs.txt"]` {
		t.Errorf("space: %s", got)
	}
}
