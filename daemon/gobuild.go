package daemon

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/gitsrc"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// The Go builder runs a generated Go Containerfile's two stages without
// podman build, whose every instruction costs a runtime container, a
// copier pass or a commit: the compile step runs by exec in a builder
// container kept running (from the stack's build image, with the same
// caches as the Containerfile's cache mounts), and the run image is the
// stack's base with one layer, /app, committed with the run stage's
// configuration. The image is the one the Containerfile makes (same files,
// owners, modes and config; TestGoBuilderSameImage), and the Containerfile
// stays the definition: ps:rebuild, and any build the builder cannot do,
// use podman build.

// goRuntime is what the Go builder needs of the runtime besides Runtime;
// a runtime without it (the unit tests' fake) builds with podman build.
type goRuntime interface {
	EnsureBuilder(ctx context.Context, b podman.BuilderSpec) (string, error)
	ExecIn(ctx context.Context, id, dir string, env, cmd []string, stdout, stderr io.Writer) (int, error)
	CopyInto(ctx context.Context, id, dir string, r io.Reader, chown bool) error
	CreateLayer(ctx context.Context, l podman.LayerSpec) (string, error)
	CommitLayer(ctx context.Context, id, tag string, changes []string) (string, error)
}

var _ goRuntime = (*podman.Client)(nil)

// goBuildRoot is where the builder keeps the source trees it compiles, one
// directory per app; the parent exists in every image.
const goBuildRoot = "/tmp/xcloud-build"

// compileError is the compile step's own failure, which podman build would
// have failed with as well: no second build.
type compileError struct{ code int }

func (e *compileError) Error() string {
	return fmt.Sprintf("the compile step exited with status %d", e.code)
}

type viaContainerfileKey struct{}

// withContainerfileBuild marks a deploy that must build with podman build
// (ps:rebuild: the image from its definition).
func withContainerfileBuild(ctx context.Context) context.Context {
	return context.WithValue(ctx, viaContainerfileKey{}, true)
}

func viaContainerfile(ctx context.Context) bool {
	v, _ := ctx.Value(viaContainerfileKey{}).(bool)
	return v
}

// goBuildJob is one build for the Go builder.
type goBuildJob struct {
	app     string
	buildID int64
	ref     string
	src     treeWriter
	extra   map[string][]byte // files added to the tree (the generated Containerfile)
	env     map[string]string // the build args, which the compile step sees as environment
	labels  map[string]string
	out     io.Writer // the pusher's view and the build log
	log     io.Writer // the build log alone: the builder's own steps; nil for none
	// cacheRoot holds the caches' host directories (buildahCacheRoot).
	cacheRoot string
}

// treeWriter writes a pushed tree as a tar, with extra files added;
// *gitsrc.Source is one.
type treeWriter interface {
	WriteTar(ctx context.Context, w io.Writer, extra map[string][]byte) error
}

var _ treeWriter = (*gitsrc.Source)(nil)

// goBuilderName names the instance's builder container.
func (d *Daemon) goBuilderName() string { return "xcloud-" + d.opts.Instance + "-go-builder" }

// roleGoBuilder is the builder container's role (labelRole).
const roleGoBuilder = "go-builder"

// errBuilderBusy: another build uses the builder.
var errBuilderBusy = errors.New("the Go builder is busy with another build")

// goBuilderState is the daemon's side of its one builder container. One
// build at a time uses it: each build then has the builder's memory and CPU
// caps to itself, as a podman build has, and the first builds after a start
// cannot race to create it. A Go build that finds it busy goes through
// podman build rather than wait behind a compile of unknown length.
type goBuilderState struct {
	mu sync.Mutex // held by the build using the builder
	// run names this daemon's run on the run images' containers it creates
	// ("" until its first build); containers with another run's name were
	// left by a crash.
	run  string
	used atomic.Bool
}

// acquireGoBuilder takes the builder for one build; release gives it back.
// first is true for the first build since the daemon started.
func (d *Daemon) acquireGoBuilder() (release func(), first bool, err error) {
	g := &d.goBuilder
	if !g.mu.TryLock() {
		return nil, false, errBuilderBusy
	}
	if g.run == "" {
		g.run, first = rand.Text()[:12], true
	}
	return g.mu.Unlock, first, nil
}

// goLayerName names a run image's container: this daemon's run and the
// build. It is found by its name, as labels on it would go into the image
// its commit makes, and from there into the app's containers.
func (d *Daemon) goLayerName(run string, buildID int64) string {
	return fmt.Sprintf("%s%s-b%d", d.goLayerPrefix(), run, buildID)
}

func (d *Daemon) goLayerPrefix() string { return "xcloud-" + d.opts.Instance + "-go-layer-" }

// sweepGoLayers removes, beside the first Go build since the daemon
// started, the run images' containers an earlier run left (a crash
// between a container's creation and its removal). Called with the
// builder held.
func (d *Daemon) sweepGoLayers(ctx context.Context) {
	prefix := d.goLayerPrefix()
	ours := prefix + d.goBuilder.run + "-"
	d.cleanUpBeside(ctx, func(ctx context.Context) {
		cs, err := d.rt.List(ctx, nil)
		if err != nil {
			d.log.Warn("look for the Go builder's leftover containers", "err", err)
			return
		}
		for _, c := range cs {
			if strings.HasPrefix(c.Name, prefix) && !strings.HasPrefix(c.Name, ours) {
				d.log.Info("removing a container the Go builder left", "container", c.Name)
				if err := d.rt.Remove(ctx, c.ID); err != nil {
					d.log.Warn("remove a leftover container of the Go builder", "container", c.Name, "err", err)
				}
			}
		}
	})
}

// closeGoBuilder removes the builder when the daemon stops, if this run
// used one: nothing of the daemon's keeps running without it but the apps
// (and services). A compile running then is cut short.
func (d *Daemon) closeGoBuilder() {
	if !d.goBuilder.used.Swap(false) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.removeGoBuilder(ctx)
}

// goBuild builds job as g says and returns the image's ID. An error that is
// not a *compileError is the builder's own, which podman build may not have.
func (d *Daemon) goBuild(ctx context.Context, rt goRuntime, g *buildpacks.GoBuild, job goBuildJob) (string, error) {
	if err := goLabelsPlain(job.labels); err != nil {
		return "", err
	}
	release, first, err := d.acquireGoBuilder()
	if err != nil {
		return "", err
	}
	defer release()
	if first {
		d.sweepGoLayers(ctx)
	}
	ph := phasesOf(ctx)
	// The run image's container does not depend on the compile: it is
	// made meanwhile.
	run := make(chan runLayer, 1)
	go func() { run <- d.goRunLayer(ctx, rt, g, d.goLayerName(d.goBuilder.run, job.buildID)) }()
	var layer runLayer
	received := false
	defer func() {
		if !received {
			layer = <-run
		}
		d.removeRunLayer(ctx, layer.id)
	}()

	spec := podman.BuilderSpec{
		Name:        d.goBuilderName(),
		Image:       g.BuildImage,
		Labels:      map[string]string{labelInstance: d.opts.Instance, labelRole: roleGoBuilder},
		MemoryBytes: d.opts.BuildMemoryBytes,
		CPUs:        d.opts.BuildCPUs,
	}
	for _, target := range g.Caches {
		dir, err := cacheDir(job.cacheRoot, target)
		if err != nil {
			return "", err
		}
		spec.Mounts = append(spec.Mounts, podman.Mount{HostDir: dir, Path: target})
	}
	d.goBuilder.used.Store(true)
	builder, err := rt.EnsureBuilder(ctx, spec)
	if err != nil {
		return "", err
	}
	ph.mark("build builder")
	blog := job.log
	if blog == nil {
		blog = io.Discard
	}
	// The build log keeps what podman build's output would have said.
	fmt.Fprintf(blog, "Go builder %s (%s), caches %s\n", spec.Name, spec.Image, strings.Join(g.Caches, ", "))

	leaf := fmt.Sprintf("b%d", job.buildID)
	appDir := path.Join(goBuildRoot, job.app)
	dir := path.Join(appDir, leaf)
	// The tree goes in under its own directory: the tar names the
	// directories above it, so no exec has to make them.
	parents := strings.TrimPrefix(dir, "/tmp/") + "/"
	if err := copyTree(ctx, func(w io.Writer) error { return job.src.WriteTar(ctx, w, job.extra) },
		func(r io.Reader) error { return rt.CopyInto(ctx, builder, "/tmp", r, false) },
		func(name string) (string, bool) { return parents + name, true }, parentDirs(parents)); err != nil {
		return "", err
	}
	// Off the push's path once the build ends: the tree leaves the
	// builder, which every app's Go builds share.
	defer d.removeBuildTree(ctx, rt, builder, dir)
	ph.mark("build source in")

	layer, received = <-run, true
	if layer.err != nil {
		return "", layer.err
	}
	ph.mark("build run container")

	fmt.Fprintf(job.out, "-----> %s\n", g.Heading)
	env := make([]string, 0, len(job.env))
	for _, k := range slices.Sorted(maps.Keys(job.env)) {
		env = append(env, k+"="+job.env[k])
	}
	// One exec compiles, its output on stderr for the pusher, and then
	// writes the assembled tree as a tar on stdout, which streams into the
	// run image's container as /app, owned by its user: no copy out of the
	// builder of its own. The app's earlier trees go first, in case a
	// removal after a build (removeBuildTree) did not happen.
	script := fmt.Sprintf("find %s -mindepth 1 -maxdepth 1 ! -name %s -exec rm -rf {} + ; { %s\n} >&2 && exec tar -cf - .", appDir, leaf, g.Script)
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		err := copyTree(ctx, func(w io.Writer) error { _, err := io.Copy(w, pr); return err },
			func(r io.Reader) error { return rt.CopyInto(ctx, layer.id, "/app", r, true) },
			func(name string) (string, bool) {
				name = strings.TrimPrefix(name, "./")
				return name, name != "" && name != "."
			}, nil)
		pr.CloseWithError(err) // a failed copy reads no more
		copied <- err
	}()
	fmt.Fprintf(blog, "exec in %s: %s\n", dir, g.Script)
	code, err := rt.ExecIn(ctx, builder, dir, env, []string{"/bin/sh", "-c", script},
		&onFirstWrite{w: pw, fn: func() { ph.mark("build compile") }}, &indenter{w: job.out, bol: true})
	switch {
	case err != nil:
		pw.CloseWithError(err)
	case code != 0:
		pw.CloseWithError(&compileError{code})
	default:
		pw.Close()
	}
	cerr := <-copied
	if ctx.Err() != nil {
		// A compile cut short may still run in the builder: remove it.
		d.removeGoBuilder(ctx)
		return "", ctx.Err()
	}
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", &compileError{code}
	}
	if cerr != nil {
		return "", cerr
	}
	ph.mark("build /app copy")

	changes := []string{"WORKDIR /app", "USER " + g.User, "CMD " + podman.JSONArray(layer.cmd)}
	for _, k := range slices.Sorted(maps.Keys(job.labels)) {
		changes = append(changes, "LABEL "+k+"="+job.labels[k])
	}
	for _, c := range changes {
		fmt.Fprintf(blog, "%s\n", c)
	}
	fmt.Fprintf(blog, "COMMIT %s (%s plus /app, owned by %s)\n", job.ref, g.RunImage, g.User)
	id, err := rt.CommitLayer(ctx, layer.id, job.ref, changes)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(blog, "--> %s\n", id)
	ph.mark("build commit")
	return id, nil
}

// onFirstWrite calls fn before the first write to w.
type onFirstWrite struct {
	w    io.Writer
	fn   func()
	done bool
}

func (o *onFirstWrite) Write(b []byte) (int, error) {
	if !o.done {
		o.done = true
		o.fn()
	}
	return o.w.Write(b)
}

// removeRunLayer removes the run image's container once committed (or
// given up), beside the deploy.
func (d *Daemon) removeRunLayer(ctx context.Context, id string) {
	if id == "" {
		return
	}
	d.cleanUpBeside(ctx, func(ctx context.Context) {
		if err := d.rt.Remove(ctx, id); err != nil {
			d.log.Warn("remove the Go build's run container", "id", id, "err", err)
		}
	})
}

// removeBuildTree removes a build's tree from the builder, beside the
// deploy.
func (d *Daemon) removeBuildTree(ctx context.Context, rt goRuntime, builder, dir string) {
	d.cleanUpBeside(ctx, func(ctx context.Context) {
		if code, err := rt.ExecIn(ctx, builder, "/", nil, []string{"rm", "-rf", dir}, io.Discard, io.Discard); err != nil || code != 0 {
			d.log.Warn("remove the Go build's tree from the builder", "dir", dir, "exit", code, "err", err)
		}
	})
}

// cleanUpBeside runs clean-up work the deploy need not wait for: in the
// background (for a minute at most) when the daemon runs background work,
// else at once.
func (d *Daemon) cleanUpBeside(ctx context.Context, fn func(context.Context)) {
	if d.bgctx == nil {
		fn(context.WithoutCancel(ctx))
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(d.bgctx), time.Minute)
		defer cancel()
		fn(rctx)
	}()
}

// runLayer is the created container of a Go build's run image, and the
// command the image gets.
type runLayer struct {
	id  string
	cmd []string
	err error
}

func (d *Daemon) goRunLayer(ctx context.Context, rt goRuntime, g *buildpacks.GoBuild, name string) runLayer {
	base, err := d.rt.ImageConfigOf(ctx, g.RunImage)
	if err != nil {
		return runLayer{err: err}
	}
	l := runLayer{cmd: g.Cmd}
	if l.cmd == nil {
		l.cmd = base.Cmd
	}
	l.id, l.err = rt.CreateLayer(ctx, podman.LayerSpec{Base: g.RunImage, User: g.User, Env: runEnv(base.Env, g.Env),
		Name: name})
	return l
}

// removeGoBuilder removes the builder, which the next build makes anew.
func (d *Daemon) removeGoBuilder(ctx context.Context) {
	if err := d.rt.Remove(context.WithoutCancel(ctx), d.goBuilderName()); err != nil {
		d.log.Warn("remove the Go builder", "err", err)
	}
}

// buildahCacheRoot is where Buildah keeps the cache mounts of podman
// build (a cache mount with no id is the directory named by its target),
// so that the builder and podman build share their caches.
func buildahCacheRoot() string {
	root := "/var/tmp/buildah-cache"
	if uid := os.Geteuid(); uid != 0 {
		root = fmt.Sprintf("%s-%d", root, uid)
	}
	return root
}

// cacheDir is the host directory of the cache mount with this target under
// root; it is made if missing.
func cacheDir(root, target string) (string, error) {
	dir := filepath.Join(root, filepath.Clean(target))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build cache: %w", err)
	}
	return dir, nil
}

// runEnv is the run image's environment: base's, with each of set (the run
// stage's ENV, in order, $PATH standing for the value so far) moved to the
// end as ENV does.
func runEnv(base, set []string) []string {
	env := slices.Clone(base)
	lookup := func(k string) string {
		for _, e := range env {
			if name, v, _ := strings.Cut(e, "="); name == k {
				return v
			}
		}
		return ""
	}
	for _, e := range set {
		k, v, _ := strings.Cut(e, "=")
		v = os.Expand(v, lookup)
		env = slices.DeleteFunc(env, func(e string) bool { name, _, _ := strings.Cut(e, "="); return name == k })
		env = append(env, k+"="+v)
	}
	return env
}

// goLabelsPlain refuses labels a commit's LABEL change might read other
// than podman build does; the Containerfile path takes them.
func goLabelsPlain(labels map[string]string) error {
	for k, v := range labels {
		if k == "" || strings.ContainsAny(k, " \t\r\n\"'\\=$") || strings.ContainsAny(v, " \t\r\n\"'\\$") {
			return fmt.Errorf("label %q=%q needs quoting", k, v)
		}
	}
	return nil
}

// parentDirs are tar entries for the directories of prefix ("a/b/"),
// outermost first.
func parentDirs(prefix string) []string {
	var dirs []string
	p := ""
	for _, el := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
		p += el + "/"
		dirs = append(dirs, p)
	}
	return dirs
}

// copyTree streams the tar that write makes into read, renaming its
// entries (dropping those rename refuses) and starting with the directory
// entries dirs.
func copyTree(ctx context.Context, write func(io.Writer) error, read func(io.Reader) error, rename func(string) (string, bool), dirs []string) error {
	wr, ww := io.Pipe()
	rr, rw := io.Pipe()
	var wg sync.WaitGroup
	var werr, terr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		werr = write(ww)
		ww.CloseWithError(werr)
	}()
	go func() {
		defer wg.Done()
		terr = retar(ctx, wr, rw, rename, dirs)
		wr.CloseWithError(terr) // stop the writer when the rewrite stops
		rw.CloseWithError(terr)
	}()
	rerr := read(rr)
	rr.CloseWithError(errors.New("copy finished"))
	wg.Wait()
	return errors.Join(werr, terr, rerr)
}

func retar(ctx context.Context, r io.Reader, w io.Writer, rename func(string) (string, bool), dirs []string) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// GNU tar pads its archive to a whole record after the end
			// marker: read it, or its writer fails on a closed pipe.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return fmt.Errorf("read tar: %w", err)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, ok := rename(hdr.Name)
		if !ok {
			continue
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, ok = rename(hdr.Linkname); !ok {
				return fmt.Errorf("tar: hard link %s to %s outside the tree", hdr.Name, hdr.Linkname)
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
