package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// fakeGoRuntime records what the Go builder asks of Podman. Its builder's
// tree is what was copied in; the compile "makes" bin/app.
type fakeGoRuntime struct {
	Runtime

	mu       sync.Mutex
	builder  podman.BuilderSpec
	tree     map[string]string // path in the builder → content
	exec     []string          // dir, env…, script
	trees    []string          // trees removed by rm -rf
	code     int               // the compile's exit code
	layer    podman.LayerSpec
	appFiles []string // names copied into the run container, with owner chown
	changes  []string
	removed  []string
	failOn   string // a method that fails
	others   []podman.Container
}

// List lists the containers of others, and the run container if it exists.
func (f *fakeGoRuntime) List(_ context.Context, labels map[string]string) ([]podman.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := slices.Clone(f.others)
	if f.layer.Name != "" && !slices.Contains(f.removed, "layer1") {
		cs = append(cs, podman.Container{ID: "layer1", Name: f.layer.Name})
	}
	return cs, nil
}

func (f *fakeGoRuntime) fail(method string) error {
	if f.failOn == method {
		return errors.New(method + " failed")
	}
	return nil
}

func (f *fakeGoRuntime) EnsureBuilder(_ context.Context, b podman.BuilderSpec) (string, error) {
	f.builder = b
	return "builder1", f.fail("EnsureBuilder")
}

func (f *fakeGoRuntime) CopyInto(_ context.Context, id, dir string, r io.Reader, chown bool) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(tr)
		f.mu.Lock()
		if id == "builder1" {
			if f.tree == nil {
				f.tree = map[string]string{}
			}
			f.tree[dir+"/"+hdr.Name] = string(b)
		} else {
			f.appFiles = append(f.appFiles, dir+"/"+hdr.Name+" chown="+map[bool]string{true: "yes", false: "no"}[chown])
		}
		f.mu.Unlock()
	}
	return f.fail("CopyInto")
}

// ExecIn "compiles" (says so on stderr) and, as the script's tar does,
// writes the tree in dir with bin/app added to stdout, named "./…".
func (f *fakeGoRuntime) ExecIn(_ context.Context, id, dir string, env, cmd []string, stdout, stderr io.Writer) (int, error) {
	if cmd[0] == "rm" {
		f.mu.Lock()
		f.trees = append(f.trees, cmd[len(cmd)-1])
		f.mu.Unlock()
		return 0, nil
	}
	f.exec = append(append([]string{dir}, env...), cmd[len(cmd)-1])
	io.WriteString(stderr, "compiling\n")
	if err := f.fail("ExecIn"); err != nil || f.code != 0 {
		return f.code, err
	}
	files := map[string]string{"bin/app": "binary"}
	for name, content := range f.tree {
		if rest, ok := strings.CutPrefix(name, dir+"/"); ok {
			files[rest] = content
		}
	}
	tw := tar.NewWriter(stdout)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, name := range slices.Sorted(maps.Keys(files)) {
		tw.WriteHeader(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name]))})
		io.WriteString(tw, files[name])
	}
	return 0, tw.Close()
}

func (f *fakeGoRuntime) CreateLayer(_ context.Context, l podman.LayerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.layer = l
	return "layer1", nil
}

func (f *fakeGoRuntime) CommitLayer(_ context.Context, id, tag string, changes []string) (string, error) {
	f.changes = changes
	return "image1", f.fail("CommitLayer")
}

func (f *fakeGoRuntime) ImageConfigOf(context.Context, string) (podman.ImageConfig, error) {
	return podman.ImageConfig{Cmd: []string{"/bin/bash"}, Env: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}}, nil
}

func (f *fakeGoRuntime) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

type fakeTree map[string]string

func (t fakeTree) WriteTar(_ context.Context, w io.Writer, extra map[string][]byte) error {
	tw := tar.NewWriter(w)
	all := map[string]string{}
	for k, v := range t {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = string(v)
	}
	for k, v := range all {
		if err := tw.WriteHeader(&tar.Header{Name: k, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(v))}); err != nil {
			return err
		}
		io.WriteString(tw, v)
	}
	return tw.Close()
}

func goTestBuild() *buildpacks.GoBuild {
	return &buildpacks.GoBuild{
		BuildImage: "build-go", RunImage: "base", Heading: "Compiling (go build)",
		Script: "go build -o bin/ .", Caches: []string{"/root/.cache/go-build"},
		Env: []string{"PORT=5000", "PATH=/app/bin:$PATH"}, User: "app", Cmd: []string{"/app/bin/app"},
	}
}

func goTestJob(t *testing.T, out io.Writer) goBuildJob {
	return goBuildJob{
		app: "web", buildID: 7, ref: "localhost/xcloud/web:b7",
		src:   fakeTree{"main.go": "package main"},
		extra: map[string][]byte{".xcloud.Containerfile": []byte("FROM x\n")},
		env:   map[string]string{"B": "2", "A": "1"}, labels: map[string]string{"xcloud.app": "web"},
		out: out, cacheRoot: t.TempDir(),
	}
}

func TestGoBuild(t *testing.T) {
	rt := &fakeGoRuntime{}
	d := &Daemon{rt: rt, opts: Options{Instance: "test"}, log: slog.New(slog.DiscardHandler)}
	var out bytes.Buffer
	id, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, &out))
	if err != nil || id != "image1" {
		t.Fatalf("goBuild: %q, %v", id, err)
	}
	if rt.builder.Name != "xcloud-test-go-builder" || rt.builder.Image != "build-go" || len(rt.builder.Mounts) != 1 ||
		rt.builder.Mounts[0].Path != "/root/.cache/go-build" || !strings.HasSuffix(rt.builder.Mounts[0].HostDir, "/root/.cache/go-build") {
		t.Errorf("builder: %+v", rt.builder)
	}
	dir := "/tmp/xcloud-build/web/b7"
	if rt.tree[dir+"/main.go"] != "package main" || rt.tree[dir+"/.xcloud.Containerfile"] != "FROM x\n" {
		t.Errorf("tree in the builder: %v", rt.tree)
	}
	if got := strings.Join(rt.exec[:3], " "); got != dir+" A=1 B=2" || !strings.Contains(rt.exec[3], "; { go build -o bin/ .\n} >&2 && exec tar -cf - .") {
		t.Errorf("exec: %q", rt.exec)
	}
	if len(rt.trees) != 1 || rt.trees[0] != dir {
		t.Errorf("trees removed from the builder: %q, want %q", rt.trees, dir)
	}
	if want := "-----> Compiling (go build)\n       compiling\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if want := []string{"LANG=C.UTF-8", "PORT=5000", "PATH=/app/bin:/usr/bin:/bin"}; !slices.Equal(rt.layer.Env, want) || rt.layer.User != "app" || rt.layer.Base != "base" {
		t.Errorf("layer %+v, want env %q", rt.layer, want)
	}
	slices.Sort(rt.appFiles)
	if want := []string{"/app/.xcloud.Containerfile chown=yes", "/app/bin/app chown=yes", "/app/main.go chown=yes"}; !slices.Equal(rt.appFiles, want) {
		t.Errorf("/app: %q, want %q", rt.appFiles, want)
	}
	if want := []string{"WORKDIR /app", "USER app", `CMD ["/app/bin/app"]`, "LABEL xcloud.app=web"}; !slices.Equal(rt.changes, want) {
		t.Errorf("changes %q, want %q", rt.changes, want)
	}
	if !slices.Equal(rt.removed, []string{"layer1"}) {
		t.Errorf("removed %q, want the layer's container", rt.removed)
	}
}

// TestGoBuildErrors: the app's compile failure is a *compileError (no
// second build); the builder's own failures are not, and leave no
// container behind.
func TestGoBuildErrors(t *testing.T) {
	for _, c := range []struct {
		failOn  string
		code    int
		compile bool
	}{{"", 1, true}, {"EnsureBuilder", 0, false}, {"ExecIn", 0, false}, {"CopyInto", 0, false}, {"CommitLayer", 0, false}} {
		rt := &fakeGoRuntime{failOn: c.failOn, code: c.code}
		d := &Daemon{rt: rt, opts: Options{Instance: "test"}, log: slog.New(slog.DiscardHandler)}
		_, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, io.Discard))
		var ce *compileError
		if err == nil || errors.As(err, &ce) != c.compile {
			t.Errorf("%s fails, exit %d: %v, want compile error %v", c.failOn, c.code, err, c.compile)
		}
		if !slices.Contains(rt.removed, "layer1") {
			t.Errorf("%s fails: the layer's container is left: removed %q", c.failOn, rt.removed)
		}
	}
	rt := &fakeGoRuntime{}
	d := &Daemon{rt: rt, opts: Options{Instance: "test"}, log: slog.New(slog.DiscardHandler)}
	job := goTestJob(t, io.Discard)
	job.labels = map[string]string{"odd": "a b"}
	if _, err := d.goBuild(context.Background(), rt, goTestBuild(), job); err == nil {
		t.Error("a label with a space went to the builder")
	}
}

func TestRunEnv(t *testing.T) {
	got := runEnv([]string{"PATH=/usr/bin", "LANG=C", "PORT=1"}, []string{"PORT=5000", "PATH=/app/bin:$PATH", "X=${LANG}-$NOPE"})
	want := []string{"LANG=C", "PORT=5000", "PATH=/app/bin:/usr/bin", "X=C-"}
	if !slices.Equal(got, want) {
		t.Errorf("runEnv = %q, want %q", got, want)
	}
}

func TestParentDirs(t *testing.T) {
	if got, want := parentDirs("xcloud-build/web/b1/"), []string{"xcloud-build/", "xcloud-build/web/", "xcloud-build/web/b1/"}; !slices.Equal(got, want) {
		t.Errorf("parentDirs = %q, want %q", got, want)
	}
}

// TestCopyTreePadded: GNU tar pads an archive with zeros past its end
// marker; copyTree reads them rather than fail the writer on a closed pipe.
func TestCopyTreePadded(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("a"))
	tw.Close()
	b.Write(make([]byte, 9216))
	var names []string
	err := copyTree(context.Background(), func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err },
		func(r io.Reader) error {
			tr := tar.NewReader(r)
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					_, err = io.Copy(io.Discard, r)
					return err
				}
				if err != nil {
					return err
				}
				names = append(names, hdr.Name)
			}
		},
		func(name string) (string, bool) { name = strings.TrimPrefix(name, "./"); return name, name != "" }, nil)
	if err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("copyTree: %v, entries %q", err, names)
	}
}

// TestGoBuilderOneBuildAtATime: a build that finds the builder in use says
// so at once (the deploy then uses podman build) and touches nothing.
func TestGoBuilderOneBuildAtATime(t *testing.T) {
	rt := &fakeGoRuntime{}
	d := &Daemon{rt: rt, opts: Options{Instance: "test"}, log: slog.New(slog.DiscardHandler)}
	release, _, err := d.acquireGoBuilder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, io.Discard)); !errors.Is(err, errBuilderBusy) {
		t.Fatalf("a second build: %v, want errBuilderBusy", err)
	}
	if rt.builder.Name != "" || rt.layer.Base != "" || len(rt.removed) != 0 {
		t.Errorf("a busy builder's refusal did something: builder %q, layer %+v, removed %q", rt.builder.Name, rt.layer, rt.removed)
	}
	release()
	if _, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, io.Discard)); err != nil {
		t.Fatalf("after the first build let go: %v", err)
	}
}

// TestGoBuilderLeftovers: the first build of a run removes the run
// containers an earlier run of the daemon left, and nothing else; the
// builder goes when the daemon stops, once.
func TestGoBuilderLeftovers(t *testing.T) {
	rt := &fakeGoRuntime{others: []podman.Container{
		{ID: "old", Name: "xcloud-test-go-layer-0123456789ab-b3"},
		{ID: "app", Name: "xcloud-test-web-web-1"},
		{ID: "otherinstance", Name: "xcloud-prod-go-layer-0123456789ab-b3"},
		{ID: "builder1", Name: "xcloud-test-go-builder"},
	}}
	d := &Daemon{rt: rt, opts: Options{Instance: "test"}, log: slog.New(slog.DiscardHandler)}
	d.closeGoBuilder()
	if len(rt.removed) != 0 {
		t.Fatalf("a daemon that built nothing removed %q", rt.removed)
	}
	if _, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, io.Discard)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rt.layer.Name, "xcloud-test-go-layer-"+d.goBuilder.run+"-b7") {
		t.Errorf("run container named %q", rt.layer.Name)
	}
	slices.Sort(rt.removed)
	if want := []string{"layer1", "old"}; !slices.Equal(rt.removed, want) {
		t.Errorf("removed %q, want %q", rt.removed, want)
	}
	if _, err := d.goBuild(context.Background(), rt, goTestBuild(), goTestJob(t, io.Discard)); err != nil {
		t.Fatal(err)
	}
	if n := len(rt.removed); n != 3 {
		t.Errorf("the second build removed %q, want its own run container alone", rt.removed[2:])
	}
	d.closeGoBuilder()
	d.closeGoBuilder()
	if got := rt.removed[3:]; !slices.Equal(got, []string{"xcloud-test-go-builder"}) {
		t.Errorf("closing removed %q, want the builder once", got)
	}
}
