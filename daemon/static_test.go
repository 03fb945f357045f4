package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// noContainers is a runtime with no containers; any other call panics.
type noContainers struct{ Runtime }

func (noContainers) List(context.Context, map[string]string) ([]podman.Container, error) {
	return nil, nil
}

func (noContainers) ListImages(context.Context, map[string]string, bool) ([]podman.ImageInfo, error) {
	return nil, nil
}

func newStaticDaemon(t *testing.T) (*Daemon, *store.Store) {
	t.Helper()
	st := newAppsStore(t, "site")
	d := New(Options{Store: st, Router: &fakeRouter{}, Runtime: noContainers{}, StaticDir: t.TempDir(),
		BaseDomain: "xcloud.test", Scheme: "http", Logger: slog.New(slog.DiscardHandler)})
	return d, st
}

// release records a release of site: static files in dir, else a container
// app.
func release(t *testing.T, st *store.Store, dir string) store.Release {
	t.Helper()
	spec := releaseSpec{Static: dir}
	image := staticImage
	if dir == "" {
		spec, image = releaseSpec{Processes: map[string]string{"web": ""}}, "img"
	}
	b, err := specJSON(spec)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := st.CreateRelease(context.Background(), store.Release{App: "site", Image: image, Spec: b})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// publish writes a static copy as deployStatic would.
func publish(t *testing.T, d *Daemon, dir string) {
	t.Helper()
	p := filepath.Join(d.opts.StaticDir, "site", dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "index.html"), []byte(dir), 0o644); err != nil {
		t.Fatal(err)
	}
}

func staticEntries(t *testing.T, d *Daemon) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(d.opts.StaticDir, "site"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestStaticCopiesOfReleasesNoLongerKeptAreRemoved(t *testing.T) {
	ctx := context.Background()
	d, st := newStaticDaemon(t)
	w := &progress{w: io.Discard}

	publish(t, d, "v1files")
	if err := d.swapStatic(ctx, release(t, st, "v1files"), "v1files", w); err != nil {
		t.Fatal(err)
	}
	// A publish whose release failed, and one a crash cut short.
	publish(t, d, "failedfiles")
	failed := release(t, st, "failedfiles")
	if err := st.FailRelease(ctx, "site", failed.Version, "health check"); err != nil {
		t.Fatal(err)
	}
	publish(t, d, ".publish-123")

	publish(t, d, "v3files")
	if err := d.swapStatic(ctx, release(t, st, "v3files"), "v3files", w); err != nil {
		t.Fatal(err)
	}
	// v1 stays: rollback can still pick it.
	if got, want := staticEntries(t, d), []string{"current", "v1files", "v3files"}; !slices.Equal(got, want) {
		t.Errorf("after a static deploy: %v, want %v", got, want)
	}

	// The site becomes a container app: nothing is served from the files
	// any more, but the kept releases may be rolled back to.
	if err := d.swap(ctx, release(t, st, ""), nil, w); err != nil {
		t.Fatal(err)
	}
	if got, want := staticEntries(t, d), []string{"v1files", "v3files"}; !slices.Equal(got, want) {
		t.Errorf("after a container deploy: %v, want %v", got, want)
	}

	// Once the static releases are past what rollback picks from (failed
	// deploys count), their copies go.
	for range keptReleases {
		r := release(t, st, "")
		if err := st.FailRelease(ctx, "site", r.Version, "build"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.swap(ctx, release(t, st, ""), nil, w); err != nil {
		t.Fatal(err)
	}
	if got := staticEntries(t, d); len(got) != 0 {
		t.Errorf("after %d more releases: %v, want no static copies", keptReleases, got)
	}
}

func TestStaticCopyOfTheServingReleaseStays(t *testing.T) {
	ctx := context.Background()
	d, st := newStaticDaemon(t)
	w := &progress{w: io.Discard}
	publish(t, d, "live")
	if err := d.swapStatic(ctx, release(t, st, "live"), "live", w); err != nil {
		t.Fatal(err)
	}
	for range keptReleases + 1 {
		r := release(t, st, "")
		if err := st.FailRelease(ctx, "site", r.Version, "build"); err != nil {
			t.Fatal(err)
		}
	}
	d.pruneStatic(ctx, "site")
	if got, want := staticEntries(t, d), []string{"current", "live"}; !slices.Equal(got, want) {
		t.Errorf("%v, want %v: the serving release's files must stay", got, want)
	}
}
