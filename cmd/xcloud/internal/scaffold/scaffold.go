// Package scaffold is `xcloud init`: small, ready-to-push apps embedded in
// the binary, so scaffolding needs no network.
package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/client"
)

// The go: files of the templates end in .tmpl, so that the Go tool neither
// builds them nor takes go.mod for a nested module (which embed refuses).
//
//go:embed all:templates
var files embed.FS

// placeholder is replaced by the app's name in every file.
const placeholder = "__APP__"

var (
	// ErrUnknownTemplate is returned for a template that is not embedded.
	ErrUnknownTemplate = errors.New("unknown template")
	// ErrNotEmpty is returned when the target directory holds anything.
	ErrNotEmpty = errors.New("directory is not empty")
)

// Template is one app template.
type Template struct {
	Name        string
	Description string
}

// Templates lists the templates in the order init --list shows them.
func Templates() []Template {
	return []Template{
		{"static", "plain HTML served by the proxy, no container"},
		{"go", "Go web server, standard library only (Go buildpack)"},
		{"node", "Express on Node.js (Node.js buildpack; npm install at build)"},
		{"nextjs", "minimal Next.js app, next build + next start (Node.js buildpack)"},
		{"python", "Python web server, standard library only (Python buildpack)"},
		{"dockerfile", "a Dockerfile built as is, on the local stack images"},
	}
}

// Unavailable names templates the design lists that are left out, and why.
var Unavailable = map[string]string{
	"fastapi": "needs packages from PyPI at build time, which builds here cannot reach without a PyPI mirror; use python",
	"flask":   "needs packages from PyPI at build time, which builds here cannot reach without a PyPI mirror; use python",
}

// File is one rendered file.
type File struct {
	Path string // slash-separated, relative to the app's directory
	Data []byte
	Mode fs.FileMode
}

// Render returns template name's files with app filled in.
func Render(name, app string) ([]File, error) {
	if !slices.ContainsFunc(Templates(), func(t Template) bool { return t.Name == name }) {
		if why, ok := Unavailable[name]; ok {
			return nil, fmt.Errorf("%w %q: not available: %s", ErrUnknownTemplate, name, why)
		}
		return nil, fmt.Errorf("%w %q; xcloud init --list shows them", ErrUnknownTemplate, name)
	}
	root := "templates/" + name
	var out []File
	err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		out = append(out, File{Path: rel, Data: bytes.ReplaceAll(b, []byte(placeholder), []byte(app)), Mode: 0o644})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", name, err)
	}
	return out, nil
}

var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// AppName derives an app name from a directory's name: lower case, runs
// of other characters as one dash, starting with a letter.
func AppName(dir string) string {
	n := notName.ReplaceAllString(strings.ToLower(filepath.Base(filepath.Clean(dir))), "-")
	n = strings.Trim(n, "-")
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "app-" + n
	}
	if len(n) > 63 {
		n = n[:63]
	}
	return strings.TrimRight(n, "-")
}

// Options are Init's arguments.
type Options struct {
	Dir      string
	Template string
	Remote   string    // URL of the xcloud remote to add; "" adds none
	Log      io.Writer // git's output and the next steps
}

// Init writes the template into Dir (which must be missing or empty),
// makes it a git repository with one commit and adds the remote. On any
// failure it removes what it wrote.
func Init(ctx context.Context, o Options) (err error) {
	app := AppName(o.Dir)
	rendered, err := Render(o.Template, app)
	if err != nil {
		return err
	}
	if o.Remote != "" {
		if _, err := client.ParseRemote(o.Remote); err != nil {
			return fmt.Errorf("--remote %q: %w; want ssh://xcloud@HOST:PORT/APP.git or xcloud@HOST:APP.git", o.Remote, err)
		}
	}
	if _, err := exec.LookPath("git"); err != nil {
		return errors.New("git is not installed")
	}
	created := false
	switch entries, rerr := os.ReadDir(o.Dir); {
	case errors.Is(rerr, fs.ErrNotExist):
		created = true
	case rerr != nil:
		return fmt.Errorf("read %s: %w", o.Dir, rerr)
	case len(entries) > 0:
		return fmt.Errorf("%s: %w", o.Dir, ErrNotEmpty)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.Dir, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(o.Dir)
			return
		}
		entries, _ := os.ReadDir(o.Dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(o.Dir, e.Name()))
		}
	}()
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", o.Dir, err)
	}
	defer root.Close()
	for _, f := range rendered {
		if dir := path.Dir(f.Path); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
		}
		if err := root.WriteFile(f.Path, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = o.Dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := git("init", "-q", "-b", "main"); err != nil {
		return err
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	commit := []string{"commit", "-q", "-m", "xcloud init: " + o.Template + " template"}
	if exec.CommandContext(ctx, "git", "-C", o.Dir, "config", "user.email").Run() != nil {
		// No identity configured: one for this commit only, so init
		// works on a fresh machine; the user's own applies from then on.
		commit = append([]string{"-c", "user.name=xcloud init", "-c", "user.email=init@xcloud.invalid"}, commit...)
	}
	if err := git(commit...); err != nil {
		return err
	}
	if o.Remote != "" {
		if err := git("remote", "add", "xcloud", o.Remote); err != nil {
			return err
		}
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "Created %s from the %s template (app %s), with a first commit.\n", o.Dir, o.Template, app)
		if o.Remote == "" {
			fmt.Fprintf(o.Log, "Next: cd %s && git remote add xcloud ssh://xcloud@HOST:2222/%s.git && xcloud deploy\n", o.Dir, app)
		} else {
			fmt.Fprintf(o.Log, "Next: cd %s && xcloud deploy\n", o.Dir)
		}
	}
	return nil
}
