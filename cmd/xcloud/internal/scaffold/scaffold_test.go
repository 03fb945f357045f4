package scaffold

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRender: every template has the files an app needs, the app's name
// filled in everywhere, and a web process that listens on $PORT.
func TestRender(t *testing.T) {
	for _, tpl := range Templates() {
		files, err := Render(tpl.Name, "hello-app")
		if err != nil {
			t.Fatalf("%s: %v", tpl.Name, err)
		}
		got := map[string]string{}
		for _, f := range files {
			got[f.Path] = string(f.Data)
			if strings.Contains(string(f.Data), placeholder) {
				t.Errorf("%s/%s still holds %s", tpl.Name, f.Path, placeholder)
			}
			if strings.HasSuffix(f.Path, ".tmpl") {
				t.Errorf("%s/%s keeps its .tmpl suffix", tpl.Name, f.Path)
			}
		}
		for _, must := range []string{".gitignore", "README.md"} {
			if _, ok := got[must]; !ok {
				t.Errorf("%s has no %s", tpl.Name, must)
			}
		}
		if tpl.Name == "static" {
			if !strings.Contains(got["index.html"], "hello-app") {
				t.Errorf("static: index.html does not name the app")
			}
			continue
		}
		var app struct {
			Healthchecks map[string][]struct{ Path string } `json:"healthchecks"`
		}
		if err := json.Unmarshal([]byte(got["app.json"]), &app); err != nil || len(app.Healthchecks["web"]) == 0 {
			t.Errorf("%s: app.json has no web health check (%v):\n%s", tpl.Name, err, got["app.json"])
		}
		port := false
		for p, data := range got {
			if strings.Contains(data, "PORT") && !strings.HasSuffix(p, ".md") {
				port = true
			}
		}
		if !port {
			t.Errorf("%s: no file reads PORT", tpl.Name)
		}
	}
	if _, err := Render("rails", "x"); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("rails: %v", err)
	}
	if _, err := Render("flask", "x"); err == nil || !strings.Contains(err.Error(), "PyPI") {
		t.Errorf("flask: %v; want it named as not available", err)
	}
}

func TestAppName(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/My App":  "my-app",
		"hello":        "hello",
		"./42":         "app-42",
		"web_site.com": "web-site-com",
		"/x/--a--/":    "a",
	} {
		if got := AppName(in); got != want {
			t.Errorf("AppName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInit: a new directory gets the files, one commit and the remote; a
// non-empty directory or unknown template is refused with nothing written.
func TestInit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "shop")
	if err := Init(ctx, Options{Dir: dir, Template: "go", Remote: "ssh://xcloud@h:2222/shop.git"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", dir, "log", "--format=%s", "--name-only").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "xcloud init: go template") || !strings.Contains(string(out), "main.go") || !strings.Contains(string(out), ".gitignore") {
		t.Errorf("git log: %v\n%s", err, out)
	}
	if out, _ := exec.Command("git", "-C", dir, "remote", "get-url", "xcloud").Output(); strings.TrimSpace(string(out)) != "ssh://xcloud@h:2222/shop.git" {
		t.Errorf("remote: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !strings.HasPrefix(string(b), "module shop\n") {
		t.Errorf("go.mod: %q", b)
	}

	if err := Init(ctx, Options{Dir: dir, Template: "static"}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("init into a non-empty directory: %v", err)
	}
	empty := t.TempDir()
	if err := Init(ctx, Options{Dir: empty, Template: "rails"}); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("unknown template: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	if err := Init(ctx, Options{Dir: fresh, Template: "static", Remote: "not a url\n"}); err == nil {
		t.Errorf("a bad remote was accepted")
	}
	for _, d := range []string{empty, fresh} {
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			t.Errorf("a refused init left %d entries in %s", len(entries), d)
		}
	}
}
