package stack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// fakePodman keeps images in a map and records what it was asked to do.
type fakePodman struct {
	images  map[string]podman.Image
	builds  []string // tags, in order
	imports []string
	ctxs    map[string]map[string]string // tag → build context files
	next    int
	failTag string
}

func newFake() *fakePodman {
	return &fakePodman{images: map[string]podman.Image{}, ctxs: map[string]map[string]string{}}
}

func (f *fakePodman) InspectImage(_ context.Context, ref string) (podman.Image, bool, error) {
	img, ok := f.images[ref]
	return img, ok, nil
}

func (f *fakePodman) ImportImage(_ context.Context, r io.Reader, ref string, _ []string) (string, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	f.next++
	id := fmt.Sprintf("import%d", f.next)
	f.images[ref] = podman.Image{ID: id}
	f.imports = append(f.imports, ref)
	return id, nil
}

func (f *fakePodman) Build(_ context.Context, b podman.BuildSpec) (string, error) {
	if b.Tag == f.failTag {
		return "", errors.New("RUN failed")
	}
	files := map[string]string{}
	tr := tar.NewReader(b.Context)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = string(data)
	}
	if _, ok := files[b.Containerfile]; !ok {
		return "", fmt.Errorf("no %s in the context", b.Containerfile)
	}
	from := strings.Fields(strings.Split(files[b.Containerfile], "\nFROM ")[1])[0]
	if _, ok := f.images[from]; !ok {
		return "", fmt.Errorf("FROM %s: no such image", from)
	}
	fmt.Fprintf(b.Out, "STEP 1/2: FROM %s\nno newline at the end", from)
	f.next++
	id := fmt.Sprintf("id%d", f.next)
	f.images[b.Tag] = podman.Image{ID: id, Labels: b.Labels}
	f.builds = append(f.builds, b.Tag)
	f.ctxs[b.Tag] = files
	return id, nil
}

type fixture struct {
	fake       *fakePodman
	opts       Options
	out        *bytes.Buffer
	ca         string
	euid       int
	bootstraps int
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	fx := &fixture{fake: newFake(), out: &bytes.Buffer{}, ca: filepath.Join(dir, "ca.crt")}
	if err := os.WriteFile(fx.ca, []byte("HOST CA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fx.opts = Options{Podman: fx.fake, Out: fx.out, Logger: slog.New(slog.DiscardHandler), DataDir: filepath.Join(dir, "data"), TrustHostCA: true,
		HostCAFile: fx.ca, AptDir: "testdata/apt-list", Suite: "trixie"}
	return fx
}

func (fx *fixture) builder() *Builder {
	fx.out.Reset()
	b := New(fx.opts)
	b.geteuid = func() int { return fx.euid }
	b.bootstrap = func(_ context.Context, dir, suite, mirror string, out io.Writer) error {
		fx.bootstraps++
		fmt.Fprintf(out, "I: %s from %s\n", suite, mirror)
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "etc", "debian_version"), []byte("13.0\n"), 0o644)
	}
	return b
}

func TestBuildColdWarmForce(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	names := DefaultNames()

	missing, err := fx.builder().Missing(ctx)
	if err != nil || len(missing) != 8 {
		t.Fatalf("Missing before = %v, %v", missing, err)
	}

	// Cold: debootstrap, import, nine builds in order (base-native too).
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	if fx.bootstraps != 1 || len(fx.fake.imports) != 1 || fx.fake.imports[0] != "localhost/xcloud/base-rootfs:trixie" {
		t.Errorf("bootstraps %d, imports %v", fx.bootstraps, fx.fake.imports)
	}
	if got, want := strings.Join(fx.fake.builds, " "), strings.Join(buildOrder(names), " "); got != want {
		t.Errorf("builds %s\nwant   %s", got, want)
	}
	out := fx.out.String()
	for _, want := range []string{
		"-----> base: debootstrap trixie from http://mirror.example.net:3142/ftp.debian.org/debian (about 45 s)\n",
		"       I: trixie from http://mirror.example.net:3142/ftp.debian.org/debian\n",
		"-----> base: building localhost/xcloud/base:trixie (missing)\n",
		"       no newline at the end\n",
		"-----> run-python: built in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.opts.DataDir, "stack", "rootfs-trixie.tar")); err != nil {
		t.Errorf("rootfs tarball not cached: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fx.opts.DataDir, "stack", "rootfs-trixie.d")); !os.IsNotExist(err) {
		t.Errorf("debootstrap directory left behind: %v", err)
	}
	base := fx.fake.ctxs[names.Base]
	if base[hostCAName] != "HOST CA\n" || !strings.Contains(base["Containerfile"], "COPY "+hostCAName) {
		t.Errorf("base context lacks the host CA: %q", base)
	}
	if l := fx.fake.images[names.BuildGo].Labels; l[LabelStack] != "1" || len(l[LabelVersion]) != 32 || l[LabelImage] != "build-go" {
		t.Errorf("labels = %v", l)
	}
	missing, err = fx.builder().Missing(ctx)
	if err != nil || len(missing) != 0 {
		t.Fatalf("Missing after = %v, %v", missing, err)
	}

	// Warm: nothing to do.
	fx.fake.builds = nil
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fx.fake.builds) != 0 || strings.Count(fx.out.String(), ": up to date\n") != 9 {
		t.Errorf("warm build did work: %v\n%s", fx.fake.builds, fx.out.String())
	}

	// A new host CA rebuilds the base, hence everything on it; the cached
	// root filesystem image is reused.
	if err := os.WriteFile(fx.ca, []byte("NEW CA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fx.fake.builds) != 9 || fx.bootstraps != 1 || len(fx.fake.imports) != 1 {
		t.Errorf("after CA change: builds %v, bootstraps %d, imports %v", fx.fake.builds, fx.bootstraps, fx.fake.imports)
	}
	if !strings.Contains(fx.out.String(), "-----> base: building localhost/xcloud/base:trixie (out of date)") {
		t.Errorf("output:\n%s", fx.out.String())
	}

	// Force: debootstrap again, import again, build everything.
	fx.fake.builds = nil
	fx.opts.Force = true
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fx.fake.builds) != 9 || fx.bootstraps != 2 || len(fx.fake.imports) != 2 {
		t.Errorf("force: builds %v, bootstraps %d, imports %v", fx.fake.builds, fx.bootstraps, fx.fake.imports)
	}
}

func TestBuildNotRoot(t *testing.T) {
	fx := newFixture(t)
	fx.euid = 1000
	ctx := context.Background()
	err := fx.builder().Build(ctx)
	if err == nil || !strings.Contains(err.Error(), "sudo xcloud stack build") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error = %v, want one line saying to run sudo xcloud stack build", err)
	}
	if len(fx.fake.builds) != 0 || fx.bootstraps != 0 {
		t.Errorf("did work: %v", fx.fake.builds)
	}

	// With a tarball root made, a non-root user can import it.
	tarPath := fx.builder().RootfsTarball()
	if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tarPath, []byte("tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	if fx.bootstraps != 0 || len(fx.fake.imports) != 1 || len(fx.fake.builds) != 9 {
		t.Errorf("bootstraps %d, imports %v, builds %v", fx.bootstraps, fx.fake.imports, fx.fake.builds)
	}
	if !strings.Contains(fx.out.String(), "-----> base: using cached root filesystem "+tarPath) {
		t.Errorf("output:\n%s", fx.out.String())
	}
}

func TestBuildOptions(t *testing.T) {
	ctx := context.Background()

	// Without the host CA nothing reads the CA file, and the base has no COPY.
	fx := newFixture(t)
	fx.opts.TrustHostCA = false
	fx.opts.HostCAFile = "/does/not/exist"
	fx.opts.Mirror = "http://configured.example/debian"
	fx.opts.Names.RunNode = "localhost/custom/run-node:1"
	if err := fx.builder().Build(ctx); err != nil {
		t.Fatal(err)
	}
	base := fx.fake.ctxs[DefaultNames().Base]
	if _, ok := base[hostCAName]; ok || strings.Contains(base["Containerfile"], "COPY") {
		t.Errorf("base has the host CA: %q", base)
	}
	if !strings.Contains(fx.out.String(), "from http://configured.example/debian") {
		t.Errorf("configured mirror not used:\n%s", fx.out.String())
	}
	if _, ok := fx.fake.images["localhost/custom/run-node:1"]; !ok {
		t.Errorf("custom name not built: %v", fx.fake.builds)
	}

	// A missing CA file is an error naming the option.
	fx = newFixture(t)
	fx.opts.HostCAFile = "/does/not/exist"
	if err := fx.builder().Build(ctx); err == nil || !strings.Contains(err.Error(), "stack.trust_host_ca") {
		t.Errorf("error = %v", err)
	}

	// A failed build names the image.
	fx = newFixture(t)
	fx.fake.failTag = DefaultNames().BuildNode
	if err := fx.builder().Build(ctx); err == nil || !strings.Contains(err.Error(), "build stack image localhost/xcloud/build-node:trixie: RUN failed") {
		t.Errorf("error = %v", err)
	}
}

func TestIndenter(t *testing.T) {
	var buf bytes.Buffer
	w := newIndenter(&buf)
	io.WriteString(w, "a\r\nb")
	io.WriteString(w, "c\nd")
	w.Flush()
	if got := buf.String(); got != "       a\n       bc\n       d\n" {
		t.Errorf("got %q", got)
	}
}

func TestMountsUnderUnescape(t *testing.T) {
	if got := unescapeMount(`/a\040b/c\134d\04`); got != `/a b/c\d\04` {
		t.Errorf("unescapeMount = %q", got)
	}
}

// buildOrder is every image Build makes, in order: the base, then the
// derived images, the shared base-native among them.
func buildOrder(n Names) []string {
	out := []string{n.Base}
	for _, img := range Images(n) {
		out = append(out, img.Name)
	}
	return out
}
