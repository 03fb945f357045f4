package buildpacks

import (
	"strings"
	"testing"
)

func TestPythonVersion(t *testing.T) {
	s := DefaultStack() // Python 3.13
	for _, tt := range []struct {
		files map[string]string
		err   string // "" for the stack's Python
		note  string
	}{
		{files: map[string]string{".python-version": "3.13\n"}},
		{files: map[string]string{".python-version": "3.13.1\n"}},
		{files: map[string]string{".python-version": "# pinned\n3.12\n"},
			err: ".python-version asks for Python 3.12; the stack has Python 3.13 only: ask for 3.13, or point [stack] build_python and run_python in xcloud.toml at images with Python 3.12"},
		{files: map[string]string{".python-version": "pypy3.10"}, note: `.python-version "pypy3.10" is not a CPython version`},
		{files: map[string]string{"runtime.txt": "python-3.13.2\n"}},
		{files: map[string]string{"runtime.txt": "python-3.11.9"}, err: "runtime.txt asks for Python 3.11.9; the stack has Python 3.13 only"},
		{files: map[string]string{"runtime.txt": "3.13"}, err: `runtime.txt: want python-3.X or python-3.X.Y, got "3.13"`},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.9,<4\"\n"}},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"~=3.10\"\n"}},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"==3.13.*\"\n"}},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.8, !=3.9.*\"\n"}},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"~=3.11.2\"\n"},
			err: "pyproject.toml requires-python asks for Python ~=3.11.2; the stack has Python 3.13 only"},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.14\"\n"},
			err: "pyproject.toml requires-python asks for Python >=3.14"},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"<3.13\"\n"},
			err: "pyproject.toml requires-python asks for Python <3.13"},
		{files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"3 point 9\"\n"},
			note: `cannot read pyproject.toml requires-python "3 point 9"`},
	} {
		d := &detector{fsys: mapFS(tt.files), stack: s}
		err := d.pythonVersion()
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%v: %v", tt.files, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("%v: error %v, want %q", tt.files, err, tt.err)
		}
		if tt.note != "" && !containsSub(d.notes, tt.note) {
			t.Errorf("%v: notes %q, want %q", tt.files, d.notes, tt.note)
		}
	}
}
