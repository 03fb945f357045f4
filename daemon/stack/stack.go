// Package stack builds the images apps are built on and run in (the "stack"):
// a Debian base made with debootstrap and imported into Podman's local
// storage, and build and run images for Go, Node.js and Python derived from
// it, and the service images (PostgreSQL, Valkey) apps link to. No
// container registry is involved at any point.
//
// Building is idempotent: every image carries a label with a hash of what it
// was built from, and an image whose label matches is left alone, so a run
// with nothing to do takes a few Podman inspect calls.
package stack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// Defaults for Options.
const (
	DefaultSuite  = "trixie"
	DefaultHostCA = "/etc/ssl/certs/ca-certificates.crt"
	DefaultAptDir = "/etc/apt"
)

// Podman is what the builder needs from the container engine; *podman.Client
// implements it.
type Podman interface {
	// InspectImage returns a local image; found is false when it is absent.
	InspectImage(ctx context.Context, ref string) (img podman.Image, found bool, err error)
	// ImportImage makes image ref from a root filesystem tarball.
	ImportImage(ctx context.Context, rootfs io.Reader, ref string, changes []string) (string, error)
	// Build builds an image from a tar stream (with the configured ulimits).
	Build(ctx context.Context, b podman.BuildSpec) (string, error)
}

// Names are the stack's image names.
type Names struct {
	Base        string
	BuildGo     string
	BuildNode   string
	RunNode     string
	BuildPython string
	RunPython   string
	// The service images (services:create).
	Postgres string
	Redis    string
}

// DefaultNames returns the default image names for the trixie stack.
func DefaultNames() Names {
	return Names{
		Base:        "localhost/xcloud/base:trixie",
		BuildGo:     "localhost/xcloud/build-go:trixie",
		BuildNode:   "localhost/xcloud/build-node:trixie",
		RunNode:     "localhost/xcloud/run-node:trixie",
		BuildPython: "localhost/xcloud/build-python:trixie",
		RunPython:   "localhost/xcloud/run-python:trixie",
		Postgres:    "localhost/xcloud/postgres:trixie",
		Redis:       "localhost/xcloud/redis:trixie",
	}
}

// All returns every name, base first.
func (n Names) All() []string {
	return []string{n.Base, n.BuildGo, n.BuildNode, n.RunNode, n.BuildPython, n.RunPython, n.Postgres, n.Redis}
}

// RootfsName is the name the imported debootstrap root filesystem gets: the
// base name's repository with "-rootfs" appended, same tag
// (localhost/xcloud/base:trixie → localhost/xcloud/base-rootfs:trixie).
func RootfsName(base string) string {
	repo, tag := base, ""
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		repo, tag = base[:i], base[i:]
	}
	return repo + "-rootfs" + tag
}

// Options configure a Builder. Zero values take the documented defaults.
type Options struct {
	Podman Podman
	Logger *slog.Logger // default slog.Default()
	Out    io.Writer    // progress lines and build output; default io.Discard
	Names  Names        // empty names take DefaultNames
	// DataDir holds the cached root filesystem tarball under stack/.
	DataDir string
	// Mirror is the Debian archive for debootstrap; empty: the host's apt
	// sources (see HostMirror), else DefaultMirror.
	Mirror string
	// TrustHostCA copies HostCAFile over the base image's CA bundle.
	TrustHostCA bool
	HostCAFile  string // default DefaultHostCA
	AptDir      string // where the host's apt sources are; default DefaultAptDir
	Suite       string // Debian suite; default DefaultSuite
	// Force rebuilds every image and the root filesystem tarball.
	Force bool
}

// Builder builds the stack images.
type Builder struct {
	opts Options
	log  *slog.Logger
	out  io.Writer

	// Replaced in tests.
	geteuid   func() int
	bootstrap func(ctx context.Context, dir, suite, mirror string, out io.Writer) error
}

// New returns a Builder; it does nothing until Build or Missing is called.
func New(opts Options) *Builder {
	d := DefaultNames()
	for _, p := range []struct {
		dst *string
		def string
	}{
		{&opts.Names.Base, d.Base}, {&opts.Names.BuildGo, d.BuildGo}, {&opts.Names.BuildNode, d.BuildNode},
		{&opts.Names.RunNode, d.RunNode}, {&opts.Names.BuildPython, d.BuildPython}, {&opts.Names.RunPython, d.RunPython},
		{&opts.Names.Postgres, d.Postgres}, {&opts.Names.Redis, d.Redis},
		{&opts.HostCAFile, DefaultHostCA}, {&opts.AptDir, DefaultAptDir}, {&opts.Suite, DefaultSuite},
	} {
		if *p.dst == "" {
			*p.dst = p.def
		}
	}
	b := &Builder{opts: opts, log: opts.Logger, out: opts.Out, geteuid: os.Geteuid, bootstrap: debootstrap}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.out == nil {
		b.out = io.Discard
	}
	return b
}

// Missing returns the names of the stack images not in local storage.
func (b *Builder) Missing(ctx context.Context) ([]string, error) {
	var missing []string
	for _, name := range b.opts.Names.All() {
		_, found, err := b.opts.Podman.InspectImage(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("check stack image: %w", err)
		}
		if !found {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// RootfsTarball is where the debootstrap root filesystem is cached.
func (b *Builder) RootfsTarball() string {
	return filepath.Join(b.opts.DataDir, "stack", "rootfs-"+b.opts.Suite+".tar")
}

// Build builds every stack image that is missing or out of date (all of
// them with Force), base first.
func (b *Builder) Build(ctx context.Context) error {
	start := time.Now()
	files := map[string][]byte{}
	if b.opts.TrustHostCA {
		ca, err := os.ReadFile(b.opts.HostCAFile)
		if err != nil {
			return fmt.Errorf("read the host's CA bundle (stack.trust_host_ca): %w", err)
		}
		files[hostCAName] = ca
	}
	names := b.opts.Names
	rootfs := RootfsName(names.Base)
	baseCF := BaseContainerfile(rootfs, b.opts.TrustHostCA)
	baseVersion := VersionHash(baseCF, files, "suite="+b.opts.Suite)
	baseID, built, err := b.ensure(ctx, "base", names.Base, baseCF, files, baseVersion, func() error {
		return b.ensureRootfs(ctx, rootfs)
	})
	if err != nil {
		return err
	}
	ids := map[string]string{names.Base: baseID}
	for _, img := range Images(names) {
		cf := DerivedContainerfile(img)
		files := img.contextFiles()
		v := VersionHash(cf, files, "base="+ids[img.From])
		id, ok, err := b.ensure(ctx, img.Role, img.Name, cf, files, v, nil)
		if err != nil {
			return err
		}
		ids[img.Name] = id
		built = built || ok
	}
	if built {
		fmt.Fprintf(b.out, "-----> stack ready in %s\n", time.Since(start).Round(time.Second))
	}
	return nil
}

// ensure builds name unless it exists with version (and Force is off); prepare
// runs first when a build is needed. It returns the image's ID and whether it
// was built.
func (b *Builder) ensure(ctx context.Context, role, name, containerfile string, files map[string][]byte,
	version string, prepare func() error) (string, bool, error) {
	img, found, err := b.opts.Podman.InspectImage(ctx, name)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", role, err)
	}
	if found && !b.opts.Force && img.Labels[LabelVersion] == version {
		fmt.Fprintf(b.out, "-----> %s: up to date\n", role)
		return img.ID, false, nil
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return "", false, fmt.Errorf("%s: %w", role, err)
		}
	}
	why := "missing"
	if found {
		why = "out of date"
		if b.opts.Force {
			why = "--force"
		}
	}
	fmt.Fprintf(b.out, "-----> %s: building %s (%s)\n", role, name, why)
	tarball, err := ContextTar(containerfile, files)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", role, err)
	}
	start := time.Now()
	w := newIndenter(b.out)
	_, err = b.opts.Podman.Build(ctx, podman.BuildSpec{
		Context:       bytes.NewReader(tarball),
		Containerfile: "Containerfile",
		Tag:           name,
		Labels:        map[string]string{LabelStack: "1", LabelVersion: version, LabelImage: role},
		Out:           w,
	})
	w.Flush()
	if err != nil {
		return "", false, fmt.Errorf("build stack image %s: %w", name, err)
	}
	// Read the ID back from storage: it is what later builds will see.
	img, found, err = b.opts.Podman.InspectImage(ctx, name)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", role, err)
	}
	if !found {
		return "", false, fmt.Errorf("build stack image %s: not in local storage after the build", name)
	}
	d := time.Since(start).Round(time.Second)
	fmt.Fprintf(b.out, "-----> %s: built in %s\n", role, d)
	b.log.Info("stack image built", "image", name, "id", img.ID, "duration", d)
	return img.ID, true, nil
}

// ensureRootfs makes sure the imported root filesystem image exists,
// importing the cached tarball (made first with debootstrap if absent).
func (b *Builder) ensureRootfs(ctx context.Context, rootfs string) error {
	if !b.opts.Force {
		_, found, err := b.opts.Podman.InspectImage(ctx, rootfs)
		if err != nil {
			return err
		}
		if found {
			fmt.Fprintf(b.out, "-----> base: using root filesystem image %s\n", rootfs)
			return nil
		}
	}
	tarPath := b.RootfsTarball()
	_, statErr := os.Stat(tarPath)
	if b.opts.Force || statErr != nil {
		if err := b.makeRootfs(ctx, tarPath); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(b.out, "-----> base: using cached root filesystem %s\n", tarPath)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return fmt.Errorf("open root filesystem tarball: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(b.out, "-----> base: importing it as %s (about 5 s)\n", rootfs)
	_, err = b.opts.Podman.ImportImage(ctx, f, rootfs, []string{
		"ENV PATH=" + defaultPath,
		`CMD ["/bin/bash"]`,
		"LABEL " + LabelStack + "=1",
	})
	return err
}

// makeRootfs runs debootstrap into a scratch directory next to tarPath and
// packs the result into tarPath.
func (b *Builder) makeRootfs(ctx context.Context, tarPath string) error {
	if b.geteuid() != 0 {
		return errors.New("the base image needs a debootstrap root filesystem and debootstrap needs root: run `sudo xcloud stack build` (or contrib/podman-setup.sh)")
	}
	mirror := b.opts.Mirror
	if mirror == "" {
		m, _, err := HostMirror(b.opts.AptDir)
		if err != nil {
			return err
		}
		mirror = m
	}
	if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
		return fmt.Errorf("create the stack cache directory: %w", err)
	}
	// Two builds at once (make deps and a starting daemon) must not
	// debootstrap into the same directory.
	lock, err := os.OpenFile(tarPath+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock the root filesystem cache: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock the root filesystem cache: %w", err)
	}
	if _, err := os.Stat(tarPath); err == nil && !b.opts.Force {
		return nil // another build made it while this one waited
	}
	dir := strings.TrimSuffix(tarPath, ".tar") + ".d"
	if err := removeTree(dir); err != nil {
		return err
	}
	defer func() {
		if err := removeTree(dir); err != nil {
			b.log.Warn("remove debootstrap directory", "dir", dir, "err", err)
		}
	}()
	fmt.Fprintf(b.out, "-----> base: debootstrap %s from %s (about 45 s)\n", b.opts.Suite, mirror)
	start := time.Now()
	w := newIndenter(b.out)
	err = b.bootstrap(ctx, dir, b.opts.Suite, mirror, w)
	w.Flush()
	if err != nil {
		return err
	}
	// debootstrap leaves the .debs it installed and apt's caches behind.
	for _, pattern := range []string{"var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				return fmt.Errorf("clean the root filesystem: %w", err)
			}
		}
	}
	part := tarPath + ".part"
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-cf", part, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(part)
		return fmt.Errorf("pack the root filesystem: %w: %s", err, lastLine(out))
	}
	if err := os.Rename(part, tarPath); err != nil {
		return fmt.Errorf("store the root filesystem tarball: %w", err)
	}
	fmt.Fprintf(b.out, "-----> base: root filesystem cached at %s (%s)\n", tarPath, time.Since(start).Round(time.Second))
	return nil
}

// debootstrap runs `debootstrap --variant=minbase SUITE DIR MIRROR`.
func debootstrap(ctx context.Context, dir, suite, mirror string, out io.Writer) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed: run contrib/podman-setup.sh (or apt-get install debootstrap)")
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", suite, dir, mirror)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s from %s: %w (see its output above; %s/debootstrap/debootstrap.log has more)", suite, mirror, err, dir)
	}
	return nil
}

// removeTree removes dir after unmounting anything mounted below it (an
// interrupted debootstrap can leave /proc or /sys mounted in its target,
// which a plain recursive remove would descend into).
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	mounts, err := mountsUnder(abs)
	if err != nil {
		return err
	}
	// Deepest first.
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s before removing %s: %w", mounts[i], dir, err)
		}
	}
	if err := os.RemoveAll(abs); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func lastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// indenter prefixes every line written through it with seven spaces, the
// Heroku style for output under a "----->" progress line. It is safe for
// concurrent use.
type indenter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func newIndenter(w io.Writer) *indenter { return &indenter{w: w} }

func (in *indenter) Write(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.buf = append(in.buf, p...)
	for {
		i := bytes.IndexByte(in.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(in.buf[:i]), "\r")
		in.buf = in.buf[i+1:]
		if _, err := io.WriteString(in.w, "       "+line+"\n"); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes a last unterminated line.
func (in *indenter) Flush() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.buf) > 0 {
		io.WriteString(in.w, "       "+string(in.buf)+"\n")
		in.buf = nil
	}
}
