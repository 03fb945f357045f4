package buildpacks

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

var (
	// pyRequirement finds the project name and extras of a requirement.
	pyRequirement = lazyre.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?`)
	// pyEgg finds the project name of a VCS or URL requirement.
	pyEgg = lazyre.MustCompile(`[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)`)
	// pyNameSeparators are what PEP 503 normalisation folds into "-".
	pyNameSeparators = lazyre.MustCompile(`[-_.]+`)
	// fastAPIApp finds `app = FastAPI(`.
	fastAPIApp = lazyre.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]+)?=\s*(?:fastapi\.)?FastAPI\(`)
	// flaskApp finds `app = Flask(`.
	flaskApp = lazyre.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]+)?=\s*(?:flask\.)?Flask\(`)
	// flaskFactory finds an application factory.
	flaskFactory = lazyre.MustCompile(`(?m)^def\s+create_app\s*\(`)
	// djangoSettings finds the settings module named in manage.py.
	djangoSettings = lazyre.MustCompile(`DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][A-Za-z0-9_.]*)["']`)
)

// pyDeps maps normalised project names to their requested extras.
type pyDeps map[string][]string

// add records the requirement string req, if it names a project.
func (deps pyDeps) add(req string) {
	name, extras := "", ""
	if m := pyEgg().FindStringSubmatch(req); m != nil {
		name = m[1]
	} else if m := pyRequirement().FindStringSubmatch(strings.TrimSpace(req)); m != nil {
		name, extras = m[1], m[2]
	}
	if name == "" {
		return
	}
	key := pyNameSeparators().ReplaceAllString(strings.ToLower(name), "-")
	for _, e := range strings.Split(extras, ",") {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			deps[key] = append(deps[key], e)
		}
	}
	if _, ok := deps[key]; !ok {
		deps[key] = nil
	}
}

func (deps pyDeps) has(name string) bool {
	_, ok := deps[name]
	return ok
}

// pyInstall is how the build stage installs the dependencies.
type pyInstall struct {
	source   string   // the file dependencies come from
	copy     []string // files copied before installing; nil copies the whole tree first
	install  string   // pip command line; "" for nothing to install
	needTree bool     // install needs the whole source tree
	deps     pyDeps
}

// pyProjectFile is the part of pyproject.toml the build needs.
type pyProjectFile struct {
	Project struct {
		Dependencies   []string `toml:"dependencies"`
		RequiresPython string   `toml:"requires-python"`
	} `toml:"project"`
	BuildSystem map[string]any `toml:"build-system"`
	Tool        struct {
		Poetry struct {
			Dependencies map[string]any `toml:"dependencies"`
		} `toml:"poetry"`
	} `toml:"tool"`
}

// pythonPlan builds a Python app into a virtual environment and runs it on
// RunPython. Without requirements.txt, pyproject.toml or Pipfile (a
// standard-library app found by its Procfile) nothing is installed, but the
// virtual environment still provides "python".
func (d *detector) pythonPlan(reason string) (*Plan, error) {
	inst := pyInstall{deps: pyDeps{}}
	if !strings.HasPrefix(reason, "from the Procfile") {
		var err error
		if inst, err = d.pythonInstall(); err != nil {
			return nil, err
		}
	}
	if err := d.pythonVersion(); err != nil {
		return nil, err
	}

	name, web, err := d.pythonWeb(inst.deps)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Kind: KindPython, Name: name, Reason: reason}
	if web != "" {
		plan.Processes = webProcesses(web)
	}
	cmd := web
	if w, ok := d.procWeb(); ok {
		cmd = w
	}
	addUvicorn := inst.deps.has("fastapi") && !inst.deps.has("uvicorn") &&
		!slices.Contains(inst.deps["fastapi"], "standard") && !slices.Contains(inst.deps["fastapi"], "all")
	if addUvicorn && strings.HasPrefix(web, "uvicorn ") {
		d.note("uvicorn is not among the dependencies; installing it to serve the FastAPI app")
	} else {
		addUvicorn = false
	}

	s := d.stack
	var w cfWriter
	w.header(plan.Name, plan.Reason)
	w.line("FROM %s AS build", s.BuildPython)
	// Empty defaults: Podman warns about an ARG without a value, and pip
	// ignores empty settings, using its default index.
	w.line("ARG PIP_INDEX_URL=")
	w.line("ARG PIP_TRUSTED_HOST=")
	w.line("ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore")
	w.heading("Creating the virtual environment")
	if inst.source == "" {
		// Nothing to install: the environment only provides "python", and
		// pip would add ten megabytes to the run image for nothing.
		w.line("RUN python3 -m venv --without-pip /venv")
	} else {
		w.line("RUN python3 -m venv /venv")
	}
	w.line("ENV PATH=/venv/bin:$PATH")
	w.line("WORKDIR /src")
	if inst.needTree {
		w.line("COPY . .")
	} else {
		for _, f := range inst.copy {
			w.line("COPY %s", copyArgs(f, f))
		}
	}
	if inst.install != "" {
		cmd := inst.install
		if len(cmd) > 40 { // a Pipfile's or pyproject.toml's whole list
			cmd = "pip install, from " + inst.source
		}
		w.heading("Installing dependencies (" + cmd + ")")
		w.line("RUN %s", inst.install)
	}
	if addUvicorn {
		w.heading("Installing uvicorn")
		w.line("RUN pip install uvicorn")
	}
	if !inst.needTree {
		w.line("COPY . .")
	}
	if err := d.slugPrune(&w); err != nil {
		return nil, err
	}
	w.blank()
	w.line("FROM %s", s.RunPython)
	w.line("WORKDIR /app")
	w.line("ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PORT=5000")
	runUser(&w, cmd)
	w.line("COPY --from=build /venv /venv")
	w.line("COPY --from=build --chown=app:app /src /app")
	plan.Generated = w.bytes()
	return plan, nil
}

// pythonInstall decides where the dependencies come from: requirements.txt,
// else pyproject.toml, else Pipfile.
func (d *detector) pythonInstall() (pyInstall, error) {
	inst := pyInstall{deps: pyDeps{}}
	switch {
	case d.exists("requirements.txt"):
		inst.source = "requirements.txt"
		inst.install = "pip install -r requirements.txt"
		if err := d.readRequirements("requirements.txt", &inst, 0); err != nil {
			return inst, err
		}
		for _, f := range []string{"pyproject.toml", "Pipfile"} {
			if d.exists(f) {
				d.note("%s also present; dependencies are installed from requirements.txt", f)
			}
		}
	case d.exists("pyproject.toml"):
		inst.source = "pyproject.toml"
		b, err := d.read("pyproject.toml")
		if err != nil {
			return inst, err
		}
		var pp pyProjectFile
		if _, err := toml.Decode(string(b), &pp); err != nil {
			return inst, fmt.Errorf("pyproject.toml: %w", err)
		}
		for _, r := range pp.Project.Dependencies {
			inst.deps.add(r)
		}
		for _, n := range sortedKeys(pp.Tool.Poetry.Dependencies) {
			if n != "python" {
				inst.deps.add(n)
			}
		}
		if d.exists("Pipfile") {
			d.note("Pipfile also present; dependencies are installed from pyproject.toml")
		}
		switch {
		case pp.BuildSystem != nil:
			// A package: let its build backend (PEP 517) install it and its
			// dependencies.
			inst.needTree, inst.install = true, "pip install ."
		case len(pp.Project.Dependencies) > 0:
			// An application without a build backend: install its
			// dependencies only; the source runs from /app.
			args := make([]string, len(pp.Project.Dependencies))
			for i, r := range pp.Project.Dependencies {
				args[i] = shellQuote(r)
			}
			inst.install = "pip install " + strings.Join(args, " ")
		default:
			d.note("pyproject.toml lists no dependencies and no build-system; nothing to install")
		}
	default:
		inst.source = "Pipfile"
		b, err := d.read("Pipfile")
		if err != nil {
			return inst, err
		}
		var pf struct {
			Packages map[string]any `toml:"packages"`
		}
		if _, err := toml.Decode(string(b), &pf); err != nil {
			return inst, fmt.Errorf("Pipfile: %w", err)
		}
		var args []string
		for _, n := range sortedKeys(pf.Packages) {
			req, ok := pipfileRequirement(n, pf.Packages[n])
			if !ok {
				d.note("Pipfile package %s is not from the index; skipped (use requirements.txt for it)", n)
				continue
			}
			inst.deps.add(req)
			args = append(args, shellQuote(req))
		}
		d.note("installing the Pipfile's [packages] with pip; Pipfile.lock is not used")
		if len(args) > 0 {
			inst.install = "pip install " + strings.Join(args, " ")
		}
	}
	return inst, nil
}

// readRequirements records the requirements of file and of the files it
// includes with -r or -c.
func (d *detector) readRequirements(file string, inst *pyInstall, depth int) error {
	if slices.Contains(inst.copy, file) {
		return nil
	}
	if depth > 5 {
		return fmt.Errorf("%s: requirement files nest more than 5 deep", file)
	}
	b, err := d.read(file)
	if err != nil {
		return fmt.Errorf("%s (included by a requirements file): %w", file, err)
	}
	inst.copy = append(inst.copy, file)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxRead)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case optionArg(line, "-r", "--requirement") != "" || optionArg(line, "-c", "--constraint") != "":
			inc := optionArg(line, "-r", "--requirement") + optionArg(line, "-c", "--constraint")
			if err := d.readRequirements(path.Join(path.Dir(file), inc), inst, depth+1); err != nil {
				return err
			}
		case optionArg(line, "-e", "--editable") != "":
			arg := optionArg(line, "-e", "--editable")
			if strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "file:") {
				inst.needTree = true
			}
			inst.deps.add(arg)
		case strings.HasPrefix(line, "-"):
			// Other pip options (--index-url, --hash ...): pip's business.
		case strings.HasPrefix(line, ".") || strings.HasPrefix(line, "file:"):
			inst.needTree = true
		default:
			inst.deps.add(line)
		}
	}
	return nil
}

// optionArg returns the argument of the pip option short or long on line,
// written "-r x", "-rx", "--requirement x" or "--requirement=x"; "" when line
// is not that option.
func optionArg(line, short, long string) string {
	var rest string
	switch {
	case strings.HasPrefix(line, long):
		rest = line[len(long):]
		if rest != "" && rest[0] != ' ' && rest[0] != '=' && rest[0] != '\t' {
			return ""
		}
	case strings.HasPrefix(line, short):
		rest = line[len(short):]
	default:
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "="))
}

// pipfileRequirement turns a Pipfile [packages] entry into a pip
// requirement; ok is false for VCS and path entries.
func pipfileRequirement(name string, v any) (req string, ok bool) {
	switch v := v.(type) {
	case string:
		if v == "*" || v == "" {
			return name, true
		}
		return name + v, true
	case map[string]any:
		if _, vcs := v["git"]; vcs {
			return "", false
		}
		if _, local := v["path"]; local {
			return "", false
		}
		req = name
		if ex, ok := v["extras"].([]any); ok {
			var names []string
			for _, e := range ex {
				if s, ok := e.(string); ok {
					names = append(names, s)
				}
			}
			if len(names) > 0 {
				req += "[" + strings.Join(names, ",") + "]"
			}
		}
		if ver, ok := v["version"].(string); ok && ver != "*" {
			req += ver
		}
		return req, true
	}
	return "", false
}

// pythonWeb recognises the framework and its default web command. web is
// "" when a Procfile is present and no default could be found.
func (d *detector) pythonWeb(deps pyDeps) (name, web string, err error) {
	missing := func(what string) (string, string, error) {
		if d.hasProc {
			return name, "", nil
		}
		return "", "", fmt.Errorf("%s; add a Procfile with a web: line", what)
	}
	switch {
	case deps.has("django"):
		name = "Python (Django)"
		b, err := d.read("manage.py")
		if err != nil {
			return missing("Django app without manage.py at the repository root")
		}
		m := djangoSettings().FindSubmatch(b)
		if m == nil {
			return missing("manage.py does not name DJANGO_SETTINGS_MODULE")
		}
		project, _, _ := strings.Cut(string(m[1]), ".")
		if !d.exists(project + "/wsgi.py") {
			d.note("%s/wsgi.py not found; the web command assumes it", project)
		}
		if deps.has("gunicorn") {
			return name, "gunicorn --bind 0.0.0.0:$PORT " + project + ".wsgi", nil
		}
		d.note("gunicorn is not among the dependencies: running Django's development server; add gunicorn for production")
		return name, "python manage.py runserver 0.0.0.0:$PORT", nil

	case deps.has("fastapi"):
		name = "Python (FastAPI)"
		mod, app := d.pythonApp(fastAPIApp(), nil, "main.py", "app.py", "server.py", "api.py", "asgi.py", "app/main.py", "app/__init__.py", "src/main.py")
		if mod == "" {
			return missing("no main.py or app.py creating FastAPI()")
		}
		return name, "uvicorn " + mod + ":" + app + " --host 0.0.0.0 --port $PORT", nil

	case deps.has("flask"):
		name = "Python (Flask)"
		mod, app := d.pythonApp(flaskApp(), flaskFactory(), "app.py", "main.py", "wsgi.py", "server.py", "application.py", "app/__init__.py", "src/app.py")
		if mod == "" {
			return missing("no app.py or main.py creating Flask() or defining create_app()")
		}
		if deps.has("gunicorn") {
			return name, "gunicorn --bind 0.0.0.0:$PORT " + shellQuote(mod+":"+app), nil
		}
		d.note("gunicorn is not among the dependencies: running Flask's development server; add gunicorn for production")
		return name, "flask --app " + mod + " run --host 0.0.0.0 --port $PORT", nil
	}
	name = "Python"
	if d.hasProc {
		return name, "", nil
	}
	return "", "", fmt.Errorf("no Django, FastAPI or Flask among the Python dependencies, so no way to start the app is known; add a Procfile with a web: line, e.g. \"web: python app.py\"")
}

// pythonApp finds the first of files that defines an app with the pattern
// app (or, failing that, factory) and returns its module and the object:
// "main", "app" or, for a factory, "app", "create_app()".
func (d *detector) pythonApp(app, factory *regexp.Regexp, files ...string) (module, object string) {
	for _, f := range files {
		b, err := d.read(f)
		if err != nil {
			continue
		}
		if m := app.FindSubmatch(b); m != nil {
			object = string(m[1])
		} else if factory != nil && factory.Match(b) {
			object = "create_app()"
		} else {
			continue
		}
		module = strings.TrimSuffix(strings.TrimSuffix(f, ".py"), "/__init__")
		return strings.ReplaceAll(module, "/", "."), object
	}
	return "", ""
}

// pythonVersion checks the Python the app asks for (.python-version,
// runtime.txt, pyproject.toml requires-python) against the stack's: the
// stack has one Python, so a request it cannot meet fails the build before
// it starts, saying what is available and how to use another image.
func (d *detector) pythonVersion() error {
	have := d.stack.PythonVersion
	line, ok := versionLine(have)
	if !ok {
		return nil
	}
	fail := func(source, want string) error {
		return fmt.Errorf("%s asks for Python %s; the stack has Python %s only: ask for %s, or point [stack] build_python and run_python in xcloud.toml at images with Python %s",
			source, want, have, have, want)
	}
	if b, err := d.read(".python-version"); err == nil {
		want := firstLine(b)
		if v, ok := pythonMinor(want); !ok {
			d.note(".python-version %q is not a CPython version; building with Python %s", want, have)
		} else if !admits([]interval{v}, line) {
			return fail(".python-version", want)
		}
	}
	if b, err := d.read("runtime.txt"); err == nil {
		want := firstLine(b)
		v, ok := pythonMinor(strings.TrimPrefix(want, "python-"))
		if !ok || !strings.HasPrefix(want, "python-") {
			return fmt.Errorf("runtime.txt: want python-3.X or python-3.X.Y, got %q", want)
		}
		if !admits([]interval{v}, line) {
			return fail("runtime.txt", strings.TrimPrefix(want, "python-"))
		}
	}
	if b, err := d.read("pyproject.toml"); err == nil {
		var pp pyProjectFile
		if _, err := toml.Decode(string(b), &pp); err == nil && pp.Project.RequiresPython != "" {
			spec := pp.Project.RequiresPython
			if iv, ok := pep440Range(spec); !ok {
				d.note("cannot read pyproject.toml requires-python %q; building with Python %s", spec, have)
			} else if !admits([]interval{iv}, line) {
				return fail("pyproject.toml requires-python", spec)
			}
		}
	}
	return nil
}

// pythonMinor returns the versions a pinned Python version stands for. Only
// major.minor counts: the stack's patch release serves any pin of its minor,
// as Heroku serves the newest patch of a minor.
func pythonMinor(v string) (interval, bool) {
	p := versionParts(v)
	if len(p) < 2 {
		return interval{}, false
	}
	return versionLine(fmt.Sprintf("%d.%d", p[0], p[1]))
}

// pep440Range turns a requires-python specifier (">=3.9,<4", "~=3.10",
// "==3.12.*") into the interval it admits; != clauses are ignored.
func pep440Range(spec string) (interval, bool) {
	all := interval{hi: infinity()}
	for _, c := range strings.Split(spec, ",") {
		c = strings.TrimSpace(c)
		var iv interval
		var ok bool
		switch {
		case c == "" || strings.HasPrefix(c, "!="):
			continue
		case strings.HasPrefix(c, "~="):
			// ~=3.10 is >=3.10,==3.*; ~=3.10.2 is >=3.10.2,==3.10.*.
			p := versionParts(strings.TrimSpace(c[2:]))
			if len(p) < 2 || len(p) > 3 {
				return interval{}, false
			}
			var lo partial
			lo.n = copy(lo.v[:], p)
			up := lo
			up.n--
			iv, ok = interval{lo.v, up.next()}, true
		case strings.HasPrefix(c, "==="):
			iv, ok = versionLine(strings.TrimSpace(c[3:]))
		case strings.HasPrefix(c, "=="):
			iv, ok = versionLine(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(c[2:]), "*"), "."))
		default:
			iv, ok = parseComparator(strings.ReplaceAll(c, " ", ""))
		}
		if !ok {
			return interval{}, false
		}
		all = all.intersect(iv)
	}
	return all, true
}
