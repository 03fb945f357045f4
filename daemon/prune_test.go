package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// rel is a release of v with image img in status st.
func rel(v int, img string, st store.ReleaseStatus) store.Release {
	return store.Release{Version: v, Image: img, Status: st, Spec: []byte(`{"processes":{"web":""}}`)}
}

func staticRel(v int, img string, st store.ReleaseStatus) store.Release {
	r := rel(v, img, st)
	r.Spec = []byte(`{"static":"abc"}`)
	return r
}

func TestKeptImages(t *testing.T) {
	const (
		sup    = store.ReleaseSuperseded
		active = store.ReleaseActive
		failed = store.ReleaseFailed
		pend   = store.ReleasePending
	)
	tests := []struct {
		name string
		rels []store.Release
		keep int
		want []string
	}{
		{"five pushes, keep 2", []store.Release{
			rel(1, "a", sup), rel(2, "b", sup), rel(3, "c", sup), rel(4, "d", sup), rel(5, "e", active),
		}, 2, []string{"c", "d", "e"}},
		{"keep 0: only the current", []store.Release{
			rel(1, "a", sup), rel(2, "b", active),
		}, 0, []string{"b"}},
		{"config changes reuse an image: counted once", []store.Release{
			rel(1, "a", sup), rel(2, "b", sup), rel(3, "b", sup), rel(4, "c", sup), rel(5, "c", active),
		}, 2, []string{"a", "b", "c"}},
		{"rollback: the current release runs an old image", []store.Release{
			rel(1, "a", sup), rel(2, "b", sup), rel(3, "c", sup), rel(4, "b", active),
		}, 1, []string{"b", "c"}},
		{"rollback to an older version number: newer releases do not count", []store.Release{
			rel(1, "a", sup), rel(2, "b", sup), rel(3, "c", sup), rel(4, "a", active),
		}, 1, []string{"a", "c"}},
		{"failed releases keep nothing and do not count", []store.Release{
			rel(1, "a", sup), rel(2, "x", failed), rel(3, "b", sup), rel(4, "y", failed), rel(5, "c", active),
		}, 2, []string{"a", "b", "c"}},
		{"a pending release keeps its image", []store.Release{
			rel(1, "a", sup), rel(2, "b", active), rel(3, "c", pend),
		}, 0, []string{"b", "c"}},
		{"static sites need no image", []store.Release{
			rel(1, "a", sup), staticRel(2, "s1", sup), rel(3, "b", sup), staticRel(4, "s2", active),
		}, 1, []string{"b"}},
		{"sha256 prefixes are the same image", []store.Release{
			rel(1, "sha256:a", sup), rel(2, "a", active),
		}, 0, []string{"a"}},
		{"no current release", []store.Release{
			rel(1, "a", sup), rel(2, "x", failed),
		}, 1, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Any order: the function sorts.
			rels := slices.Clone(tt.rels)
			slices.Reverse(rels)
			got := keptImages(rels, tt.keep)
			var ids []string
			for id := range got {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Errorf("kept %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestImagesToRemove(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	rels := []store.Release{
		rel(1, "a", store.ReleaseSuperseded),
		rel(2, "b", store.ReleaseSuperseded),
		rel(3, "x", store.ReleaseFailed),
		rel(4, "c", store.ReleaseSuperseded), // predeploy commit
		rel(5, "d", store.ReleaseActive),
	}
	tagged := func(id string, min int) podman.ImageInfo {
		return podman.ImageInfo{ID: id, Names: []string{"localhost/xcloud/web:b" + id}, Created: at(min)}
	}
	imgs := []podman.ImageInfo{
		tagged("b", 2), tagged("a", 1), tagged("x", 3),
		{ID: "c", Created: at(4), Dangling: true, Labels: map[string]string{labelOneOff: ""}},
		tagged("d", 5),
		{ID: "c-base", Names: []string{"localhost/xcloud/web:b4"}, Created: at(4)}, // what predeploy ran in
		{ID: "layer-old", Created: at(1), Dangling: true},                          // an old build's layer
		{ID: "layer-new", Created: at(5), Dangling: true},                          // the newest build's
		{ID: "intermediate", Created: at(1)},                                       // has children
		{ID: "commit-old", Created: at(0), Dangling: true, Labels: map[string]string{labelOneOff: ""}},
		{ID: "in-use", Names: []string{"localhost/xcloud/web:b0"}, Created: at(0), Containers: 1},
	}
	got := imagesToRemove(rels, 1, imgs, at(5))
	// c-base, tagged, is only untagged by the removal: c sits on it.
	want := []string{"commit-old", "a", "layer-old", "b", "x", "c-base"}
	if !slices.Equal(got, want) {
		t.Errorf("imagesToRemove = %v, want %v (oldest first)", got, want)
	}
	// With keep 2, b stays too; nothing of the current or kept releases is
	// ever picked.
	got = imagesToRemove(rels, 2, imgs, at(5))
	if slices.Contains(got, "b") || slices.Contains(got, "c") || slices.Contains(got, "d") {
		t.Errorf("keep 2 removes %v, want b, c and d kept", got)
	}
}

func TestCacheToRemove(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	layers := []podman.ImageInfo{
		{ID: "new", Created: t0.Add(3 * time.Minute), Own: 300},
		{ID: "old", Created: t0, Own: 100},
		{ID: "mid", Created: t0.Add(time.Minute), Own: 200},
	}
	tests := []struct {
		other, max int64
		want       []string
	}{
		{0, 0, nil},   // no bound
		{0, 600, nil}, // fits
		{0, 599, []string{"old"}},
		{0, 300, []string{"old", "mid"}},
		{100, 300, []string{"old", "mid", "new"}}, // the mounts alone leave no room: every layer goes
		{0, 1, []string{"old", "mid", "new"}},
	}
	for _, tt := range tests {
		if got := cacheToRemove(layers, tt.other, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("cacheToRemove(other %d, max %d) = %v, want %v", tt.other, tt.max, got, tt.want)
		}
	}
}

func TestTrimCacheMounts(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mount := func(name string, size int, mod time.Time) {
		t.Helper()
		p := filepath.Join(dir, name, "sub")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(p, "f")
		if err := os.WriteFile(f, make([]byte, size), 0o444); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{f, p, filepath.Dir(p)} {
			if err := os.Chtimes(q, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o555); err != nil { // as Go's module cache does
			t.Fatal(err)
		}
	}
	mount("go", 300, old.Add(2*time.Minute))
	mount("root", 200, old)                     // least recently written: goes first
	mount("cache", 100, old.Add(3*time.Minute)) // newest
	d := &Daemon{opts: Options{BuildCacheDir: dir}, log: slog.New(slog.DiscardHandler)}
	total := dirSize(dir)
	if total != 600 {
		t.Fatalf("dirSize = %d, want 600", total)
	}
	d.trimCacheMounts(total, 350)
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"cache"}; !slices.Equal(left, want) {
		t.Errorf("mounts left %v, want %v (the least recently written go first until 350 bytes fit)", left, want)
	}
}

// pruneRuntime is a fakeRuntime with images: every RemoveUnusedImage
// reports its ID on removing and, while gate is open, waits for gate.
type pruneRuntime struct {
	*fakeRuntime
	imgs     []podman.ImageInfo
	removing chan string
	gate     chan struct{}
	listing  chan struct{} // when set, ListImages reports here and lasts until its context ends
}

func (p *pruneRuntime) ListImages(ctx context.Context, _ map[string]string, _ bool) ([]podman.ImageInfo, error) {
	if p.listing != nil {
		p.listing <- struct{}{}
		<-ctx.Done() // a listing that takes longer than anyone waits
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.imgs), nil
}

func (p *pruneRuntime) RemoveUnusedImage(_ context.Context, id string) error {
	p.removing <- id
	<-p.gate
	p.mu.Lock()
	defer p.mu.Unlock()
	p.imgs = slices.DeleteFunc(p.imgs, func(im podman.ImageInfo) bool { return im.ID == id })
	return nil
}

// TestPruneLater: a deploy's image prune runs once the deploy lets go of
// the app's lock, not before; a deploy that asks for the lock while the
// prune runs gets it after the image being removed, and the rest of the
// prune follows once that deploy lets go.
func TestPruneLater(t *testing.T) {
	rt := &pruneRuntime{fakeRuntime: newFakeRuntime(t), removing: make(chan string, 3), gate: make(chan struct{})}
	base := time.Now()
	for i, id := range []string{"a", "b", "c"} {
		rt.imgs = append(rt.imgs, podman.ImageInfo{ID: id, Names: []string{"localhost/xcloud/web:b" + id}, Created: base.Add(time.Duration(i) * time.Second)})
	}
	e := newEngine(t, newAppsStore(t, "web"), rt.fakeRuntime)
	d := e.d
	d.rt = rt
	d.bgctx, d.cancel = context.WithCancel(context.Background())
	defer d.Close()

	next := func(what string) string {
		t.Helper()
		select {
		case id := <-rt.removing:
			return id
		case <-time.After(10 * time.Second):
			t.Fatalf("no image removal %s", what)
			return ""
		}
	}
	unlock, err := d.lockApp(context.Background(), "web", &progress{w: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	d.pruneLater("web") // as swap does, holding the lock
	select {
	case id := <-rt.removing:
		t.Fatalf("image %s removed while the deploy holds the app", id)
	default:
	}
	unlock()
	if id := next("after the deploy let go"); id != "a" {
		t.Fatalf("removed %s first, want the oldest, a", id)
	}

	// A second deploy asks for the app while a is being removed.
	var out bytes.Buffer
	locked := make(chan func())
	go func() {
		unlock, err := d.lockApp(context.Background(), "web", &progress{w: &out})
		if err != nil {
			t.Error(err)
			close(locked)
			return
		}
		locked <- unlock
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitUntil(ctx, t, "the prune is asked to give way", func() bool { return rt.yielded("web", d) })
	rt.gate <- struct{}{} // a's removal ends
	var unlock2 func()
	select {
	case unlock2 = <-locked:
	case <-time.After(10 * time.Second):
		t.Fatal("the second deploy did not get the app")
	}
	if unlock2 == nil {
		return
	}
	if strings.Contains(out.String(), "Another deploy") {
		t.Errorf("the deploy waiting for a prune said %q", out.String())
	}
	select {
	case id := <-rt.removing:
		t.Fatalf("image %s removed while the second deploy holds the app", id)
	default:
	}
	unlock2()
	close(rt.gate)
	got := []string{next("after the second deploy let go"), next("after b")}
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("then removed %v, want [b c]", got)
	}
}

// yielded reports whether app's background prune was asked to give way.
func (p *pruneRuntime) yielded(app string, d *Daemon) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	bp := d.prunes[app]
	return bp != nil && bp.stop.Err() != nil
}

// TestPruneLaterGivesWayWhileListing: a deploy that asks for the app while
// its prune waits for Podman's listing gets it at once.
func TestPruneLaterGivesWayWhileListing(t *testing.T) {
	rt := &pruneRuntime{fakeRuntime: newFakeRuntime(t), listing: make(chan struct{}, 1)}
	e := newEngine(t, newAppsStore(t, "web"), rt.fakeRuntime)
	d := e.d
	d.rt = rt
	d.bgctx, d.cancel = context.WithCancel(context.Background())
	defer d.Close()

	d.pruneLater("web")
	select {
	case <-rt.listing:
	case <-time.After(10 * time.Second):
		t.Fatal("the prune did not list the images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	unlock, err := d.lockApp(ctx, "web", &progress{w: &out})
	if err != nil {
		t.Fatalf("the deploy did not get the app while its prune listed images: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("the deploy waiting for a prune said %q", out.String())
	}
	rt.listing = nil // the prune scheduled again lists at once
	unlock()
}
