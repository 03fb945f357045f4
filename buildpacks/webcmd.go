package buildpacks

import (
	"io/fs"
	"path"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

var (
	// envAssignment matches a leading VAR=value word of a shell command.
	envAssignment = lazyre.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	// pythonProgram matches python, python3 and python3.12.
	pythonProgram = lazyre.MustCompile(`^python(3(\.\d+)?)?$`)
	// binaryName is what a program built into /app/bin may be called.
	binaryName = lazyre.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
)

// webCommand is a Procfile command split into the program it starts and its
// arguments, past any leading "exec", "env" and VAR=value words.
type webCommand struct {
	program string
	args    []string
}

func parseWebCommand(cmd string) webCommand {
	words := strings.Fields(cmd)
	for len(words) > 0 && (words[0] == "exec" || words[0] == "env" || envAssignment().MatchString(words[0])) {
		words = words[1:]
	}
	if len(words) == 0 {
		return webCommand{}
	}
	return webCommand{program: words[0], args: words[1:]}
}

// script returns the first argument ending in one of exts, cleaned, or "".
func (c webCommand) script(exts ...string) string {
	for _, a := range c.args {
		for _, e := range exts {
			if strings.HasSuffix(a, e) && !strings.HasPrefix(a, "-") {
				return path.Clean(strings.TrimPrefix(a, "/app/"))
			}
		}
	}
	return ""
}

// module returns the argument of python's -m option, or "".
func (c webCommand) module() string {
	for i, a := range c.args {
		if a == "-m" && i+1 < len(c.args) {
			return c.args[i+1]
		}
		if strings.HasPrefix(a, "-m") && len(a) > 2 && !strings.HasPrefix(a, "--") {
			return a[2:]
		}
	}
	return ""
}

// binary returns the name of the program when it is one a Go build puts in
// /app/bin: "web" for "./bin/web", "bin/web", "/app/bin/web" or a bare "web".
func (c webCommand) binary() string {
	name := c.program
	for _, p := range []string{"/app/bin/", "./bin/", "bin/"} {
		if strings.HasPrefix(name, p) {
			name = name[len(p):]
			break
		}
	}
	if !binaryName().MatchString(name) {
		return ""
	}
	return name
}

// procfileRuntime infers the language of a repository without a manifest
// from its Procfile's web command: node, or python with Python source
// files. It returns the kind and the reason, or "" when the command tells
// nothing (Go programs without go.mod are found by their source instead).
func (d *detector) procfileRuntime() (kind, reason string) {
	cmd, ok := d.procWeb()
	if !ok {
		return "", ""
	}
	c := parseWebCommand(cmd)
	prog := path.Base(c.program)
	var src string
	switch {
	case prog == "node" || prog == "nodejs":
		kind, src = KindNode, d.sourceFor(c.script(".js", ".mjs", ".cjs"), ".js", ".mjs", ".cjs")
	case pythonProgram().MatchString(prog):
		s := c.script(".py")
		if s == "" {
			if m := c.module(); m != "" {
				s = d.pythonModuleFile(m)
			}
		}
		kind, src = KindPython, d.sourceFor(s, ".py")
	}
	if src == "" {
		return "", ""
	}
	return kind, "from the Procfile (web runs " + prog + ", " + src + ")"
}

// procfileGoMain returns the directory of the main package whose binary the
// Procfile's web command runs ("./bin/web" or "web" for cmd/web), or "".
func (d *detector) procfileGoMain() string {
	cmd, ok := d.procWeb()
	if !ok {
		return ""
	}
	bin := parseWebCommand(cmd).binary()
	if bin == "" {
		return ""
	}
	for _, m := range d.goMainPackages(goApp{mode: goInit, path: bin}) {
		if m.bin == bin {
			return m.dir
		}
	}
	return ""
}

// sourceFor returns script when that file exists, else the first root file
// with one of exts, else "".
func (d *detector) sourceFor(script string, exts ...string) string {
	if script != "" && d.exists(script) {
		return script
	}
	entries, _ := fs.ReadDir(d.fsys, ".")
	for _, e := range entries {
		for _, ext := range exts {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ext) {
				return e.Name()
			}
		}
	}
	return ""
}

// pythonModuleFile returns the file that python -m module runs from the
// repository, or "" when it is not there (a standard library module).
func (d *detector) pythonModuleFile(module string) string {
	p := strings.ReplaceAll(module, ".", "/")
	for _, f := range []string{p + ".py", p + "/__main__.py"} {
		if d.exists(f) {
			return f
		}
	}
	return ""
}

// procfileMismatch remarks when the Procfile's web command starts another
// language's runtime than the stack the app is built on: it will not find it.
func (d *detector) procfileMismatch(kind, name string) {
	cmd, ok := d.procWeb()
	if !ok {
		return
	}
	prog := path.Base(parseWebCommand(cmd).program)
	other := ""
	switch {
	case (prog == "node" || prog == "nodejs") && kind != KindNode:
		other = "Node.js"
	case pythonProgram().MatchString(prog) && kind != KindPython:
		other = "Python"
	}
	if other != "" && kind != KindContainerfile {
		d.note("the Procfile's web command runs %s, but the app builds as %s, whose image has no %s; commit a Containerfile to combine them", prog, name, other)
	}
}
