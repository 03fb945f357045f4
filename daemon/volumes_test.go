package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/store"
)

// volumeRuntime is the fake runtime with named volumes, and a record of
// every container spec it was asked to run (Run and RunAttached), so
// tests can check what each kind of container mounts. One-offs exit 0
// at once.
type volumeRuntime struct {
	*fakeRuntime

	vmu     sync.Mutex
	volumes map[string]map[string]string // name → labels
	specs   []podman.ContainerSpec
	netErr  error // what RemoveNetwork answers
}

func (v *volumeRuntime) Run(ctx context.Context, cs podman.ContainerSpec) (podman.Container, error) {
	v.vmu.Lock()
	v.specs = append(v.specs, cs)
	v.vmu.Unlock()
	return v.fakeRuntime.Run(ctx, cs)
}

func (v *volumeRuntime) RunAttached(_ context.Context, cs podman.ContainerSpec, _ podman.Stdio) (int, error) {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	v.specs = append(v.specs, cs)
	return 0, nil
}

// ImageIDs and RemoveNetwork serve a destroy: no images, no network.
func (v *volumeRuntime) ImageIDs(context.Context, map[string]string) ([]string, error) {
	return nil, nil
}
func (v *volumeRuntime) RemoveNetwork(context.Context, string) error { return v.netErr }

func (v *volumeRuntime) FollowLogs(context.Context, string, io.Writer) error { return nil }
func (v *volumeRuntime) Wait(context.Context, string) (int, error)           { return 0, nil }

func (v *volumeRuntime) EnsureVolume(_ context.Context, name string, labels map[string]string) error {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	if _, ok := v.volumes[name]; !ok {
		v.volumes[name] = labels
		v.record("volume %s", name)
	}
	return nil
}

func (v *volumeRuntime) ListVolumes(_ context.Context, labels map[string]string) ([]podman.VolumeInfo, error) {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	var out []podman.VolumeInfo
	for n, l := range v.volumes {
		match := true
		for k, want := range labels {
			match = match && l[k] == want
		}
		if match {
			out = append(out, podman.VolumeInfo{Name: n, Labels: l})
		}
	}
	return out, nil
}

func (v *volumeRuntime) RemoveVolume(_ context.Context, name string) error {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	delete(v.volumes, name)
	v.record("remove volume %s", name)
	return nil
}

func (v *volumeRuntime) VolumeSize(_ context.Context, name string) (int64, error) {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	if _, ok := v.volumes[name]; !ok {
		return -1, errors.New("no such volume")
	}
	return 4096, nil
}

func (v *volumeRuntime) ranSpecs() []podman.ContainerSpec {
	v.vmu.Lock()
	defer v.vmu.Unlock()
	return slices.Clone(v.specs)
}

// newVolumeEngine is newEngine on a volumeRuntime, with storage options.
func newVolumeEngine(t *testing.T, st *store.Store, so StorageOptions) (*engine, *volumeRuntime) {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	fr := newFakeRuntime(t)
	vr := &volumeRuntime{fakeRuntime: fr, volumes: map[string]map[string]string{}}
	r := &engineRouter{rt: fr}
	d := New(Options{Store: st, Runtime: vr, Router: r, BaseDomain: "xcloud.test", StaticDir: t.TempDir(),
		ReposDir: t.TempDir(), Instance: "test", ReadyTimeout: 500 * time.Millisecond, KeepReleases: 5,
		Secrets: box, Logger: slog.New(slog.DiscardHandler), Storage: so})
	return &engine{d: d, st: st, rt: fr, router: r}, vr
}

func mount(t *testing.T, e *engine, app, spec string, ro, admin bool) store.Mount {
	t.Helper()
	m, err := e.d.Mount(context.Background(), MountRequest{App: app, Spec: spec, ReadOnly: ro, Admin: admin})
	if err != nil {
		t.Fatalf("mount %s %s: %v", app, spec, err)
	}
	return m
}

// TestMountsReachEveryContainerKind: web, worker, release command,
// predeploy, cron and run containers all get the app's mounts, the volume
// by its Podman name, read-only where asked, and the volume exists with
// this install's labels before the first container starts.
func TestMountsReachEveryContainerKind(t *testing.T) {
	ctx := context.Background()
	e, vr := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
	mount(t, e, "web", "data:/app/data", false, false)
	mount(t, e, "web", "conf:/srv/conf", true, false)

	spec, err := specJSON(releaseSpec{Processes: map[string]string{"web": "serve", "worker": "work", "release": "migrate"}})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := e.st.CreateRelease(ctx, store.Release{App: "web", Image: "img1", Description: "deploy", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := e.d.deployRelease(ctx, rel, &progress{w: &out}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if _, err := e.d.runCronJob(ctx, rel, cronJob{ID: "j1", Command: "tick", Schedule: "@daily"}, "manual", io.Discard); err != nil {
		t.Fatalf("cron: %v", err)
	}
	if _, err := e.d.RunOneOff(ctx, OneOffRequest{App: "web", Argv: []string{"ls"}, By: "test"}); err != nil {
		t.Fatalf("run: %v", err)
	}

	want := []podman.Mount{ // by path
		{Volume: "xcloud-test-data", Path: "/app/data"},
		{Volume: "xcloud-test-conf", Path: "/srv/conf", ReadOnly: true},
	}
	kinds := map[string]bool{}
	for _, cs := range vr.ranSpecs() {
		kind := cs.Labels[labelProcess]
		kinds[kind] = true
		if !slices.Equal(cs.Mounts, want) {
			t.Errorf("%s container %s mounts %+v, want %+v", kind, cs.Name, cs.Mounts, want)
		}
	}
	for _, k := range []string{"web", "worker", "release", "cron", "run"} {
		if !kinds[k] {
			t.Errorf("no %s container ran (kinds: %v)", k, kinds)
		}
	}
	for _, n := range []string{"data", "conf"} {
		l := vr.volumes["xcloud-test-"+n]
		if l[labelManaged] != "true" || l[labelInstance] != "test" || l[labelVolume] != n {
			t.Errorf("volume %s labels %v", n, l)
		}
	}
	vs, err := e.d.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Name != "conf" || vs[1].Podman != "xcloud-test-data" || !slices.Equal(vs[1].Apps, []string{"web"}) {
		t.Errorf("Volumes = %+v", vs)
	}
}

// TestRecreateStopsOldBeforeStartingNew: with strategy recreate the old
// containers are stopped (and the route emptied) before the first new
// container runs; rolling, the default, starts the new ones first.
func TestRecreateStopsOldBeforeStartingNew(t *testing.T) {
	e, _ := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
	if _, out, err := e.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	old := e.serving(t, 1)
	if err := e.d.SetDeployStrategy(context.Background(), "web", store.StrategyRecreate); err != nil {
		t.Fatal(err)
	}
	mark := len(e.rt.events())
	v2, out, err := e.deploy(t, "img2")
	if err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, out)
	}
	if !strings.Contains(out, "the app is down until the new ones pass their health checks") {
		t.Errorf("the push does not say the app is down for the swap:\n%s", out)
	}
	fresh := e.serving(t, v2.Version)
	log := e.rt.events()[mark:]
	stop, run := index(log, "stop "+old[0].Name), index(log, "run "+fresh[0].Name)
	if stop < 0 || run < 0 || stop > run {
		t.Errorf("recreate: want the old container stopped before the new one runs; got %q", log)
	}
	if empty := index(log, "route web "); empty < 0 || empty > stop || strings.TrimSpace(log[empty]) != "route web" {
		t.Errorf("recreate: want the route emptied (503) before the old container stops; got %q", log)
	}

	// Back to rolling: the new container runs before the old one stops.
	if err := e.d.SetDeployStrategy(context.Background(), "web", store.StrategyRolling); err != nil {
		t.Fatal(err)
	}
	mark = len(e.rt.events())
	v3, out, err := e.deploy(t, "img3")
	if err != nil {
		t.Fatalf("deploy v3: %v\n%s", err, out)
	}
	newest := e.serving(t, v3.Version)
	log = e.rt.events()[mark:]
	if run, stop := index(log, "run "+newest[0].Name), index(log, "stop "+fresh[0].Name); run < 0 || stop < 0 || run > stop {
		t.Errorf("rolling: want the new container run before the old one stops; got %q", log)
	}
	if err := e.d.SetDeployStrategy(context.Background(), "web", "bluegreen"); !errors.Is(err, ErrInvalidStrategy) {
		t.Errorf("strategy bluegreen: %v, want ErrInvalidStrategy", err)
	}
}

// TestRecreateReplacesUnhealthyAfterStopping: with strategy recreate a
// container that fails its liveness checks is stopped before its
// replacement runs; rolling starts the replacement first.
func TestRecreateReplacesUnhealthyAfterStopping(t *testing.T) {
	ctx := context.Background()
	for _, strategy := range []string{store.StrategyRecreate, store.StrategyRolling} {
		e, _ := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
		if _, out, err := e.deploy(t, "img1"); err != nil {
			t.Fatalf("deploy: %v\n%s", err, out)
		}
		if err := e.d.SetDeployStrategy(ctx, "web", strategy); err != nil {
			t.Fatal(err)
		}
		sick := e.serving(t, 1)[0]
		mark := len(e.rt.events())
		e.d.replaceUnhealthy(ctx, unhealthy{app: "web", release: 1, c: sick, check: "/health", failures: 3, last: "timeout"})
		fresh := e.serving(t, 1)
		if len(fresh) != 1 || fresh[0].ID == sick.ID {
			t.Fatalf("%s: serving %+v after the replacement", strategy, fresh)
		}
		log := e.rt.events()[mark:]
		stop, run := index(log, "stop "+sick.Name), index(log, "run "+fresh[0].Name)
		if stop < 0 || run < 0 || (strategy == store.StrategyRecreate) != (stop < run) {
			t.Errorf("%s: replacing an unhealthy container: %q", strategy, log)
		}
	}
}

// TestRecreateFailureBringsOldBack: a recreate whose new release fails its
// health check starts the serving release again and routes it.
func TestRecreateFailureBringsOldBack(t *testing.T) {
	e, _ := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
	if _, out, err := e.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	if err := e.d.SetDeployStrategy(context.Background(), "web", store.StrategyRecreate); err != nil {
		t.Fatal(err)
	}
	e.rt.setUnhealthy("bad", true)
	if _, out, err := e.deploy(t, "bad"); err == nil {
		t.Fatalf("deploy of an unhealthy image succeeded:\n%s", out)
	} else if !strings.Contains(out, "Starting v1 again") {
		t.Errorf("the push does not say v1 is started again:\n%s", out)
	}
	if cur := e.current(t); cur.Version != 1 {
		t.Fatalf("current release v%d, want v1", cur.Version)
	}
	e.serving(t, 1)
}

// TestMountRefusesBadInput: each bad mount is one *Error line and nothing
// is stored or created.
func TestMountRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	allowed := t.TempDir()
	dataDir := t.TempDir()
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Join(allowed, "media"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the allow-list that leads out of it.
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dataDir, filepath.Join(allowed, "data")); err != nil {
		t.Fatal(err)
	}
	e, vr := newVolumeEngine(t, newAppsStore(t, "web", "api"), StorageOptions{HostDirs: []string{allowed}, Never: []string{dataDir}})
	mount(t, e, "web", "data:/app/data", false, false)
	mount(t, e, "api", "shared:/app/shared", false, false)
	vr.record("baseline")
	before, err := e.st.Mounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		app, spec string
		admin     bool
		want      error
		says      string
	}{
		{"web", "data", false, ErrInvalidMount, "want NAME:/path"},
		{"web", "logs:app/logs", false, ErrInvalidMount, "relative"},
		{"web", "logs:/", false, ErrInvalidMount, "whole image"},
		{"web", "logs:/app", false, ErrInvalidMount, "the app itself"},
		{"web", "logs:/proc", false, ErrInvalidMount, "kernel"},
		{"web", "logs:/sys/fs", false, ErrInvalidMount, "kernel"},
		{"web", "logs:/dev/shm", false, ErrInvalidMount, "kernel"},
		{"web", "logs:/app/data/../x", false, ErrInvalidMount, "not clean"},
		{"web", "logs:/app/data", false, ErrInvalidMount, "clashes"},
		{"web", "logs:/app/data/sub", false, ErrInvalidMount, "clashes"},
		{"web", "logs:/app/x,ro", false, ErrInvalidMount, "character"},
		{"web", "Logs:/app/logs", false, ErrInvalidMount, "invalid volume name"},
		{"web", "9logs:/app/logs", false, ErrInvalidMount, "invalid volume name"},
		{"web", strings.Repeat("a", 64) + ":/app/logs", false, ErrInvalidMount, "invalid volume name"},
		{"web", "shared:/app/shared", false, ErrMountForbidden, "used by api"},
		{"web", allowed + "/media:/app/media", false, ErrMountForbidden, "admin"},
		{"web", outside + ":/app/media", true, ErrInvalidMount, "not under [storage] host_dirs"},
		{"web", allowed + "/escape:/app/media", true, ErrInvalidMount, "not under [storage] host_dirs"},
		{"web", allowed + "/data:/app/media", true, ErrInvalidMount, "may never be mounted"},
		{"web", "/:/app/media", true, ErrInvalidMount, "may never be mounted"},
		{"web", "/etc:/app/media", true, ErrInvalidMount, "may never be mounted"},
		{"web", allowed + "/missing:/app/media", true, ErrInvalidMount, "host directory"},
	} {
		_, err := e.d.Mount(ctx, MountRequest{App: tc.app, Spec: tc.spec, Admin: tc.admin})
		var de *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &de) || !strings.Contains(de.Msg, tc.says) || strings.Contains(de.Msg, "\n") {
			t.Errorf("mount %s %q: %v; want one line saying %q (%v)", tc.app, tc.spec, err, tc.says, tc.want)
		}
	}
	after, err := e.st.Mounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("refused mounts changed the store: %+v → %+v", before, after)
	}
	log := e.rt.events()
	if i := slices.Index(log, "baseline"); i < 0 || slices.ContainsFunc(log[i:], func(s string) bool { return strings.HasPrefix(s, "volume ") }) {
		t.Errorf("a refused mount created a volume: %q", log)
	}

	// What an admin may do: share api's volume, mount an allowed host dir.
	mount(t, e, "web", "shared:/app/shared", true, true)
	if m := mount(t, e, "web", allowed+"/media:/app/media", false, true); m.HostDir != filepath.Join(allowed, "media") {
		t.Errorf("host dir stored as %q", m.HostDir)
	}
	if _, err := e.d.Unmount(ctx, "web", "other:/app/data"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unmount of the wrong volume at a path: %v, want not found", err)
	}
	if _, err := e.d.Unmount(ctx, "web", "data:/app/data"); err != nil {
		t.Errorf("unmount: %v", err)
	}
	ms, _ := e.st.Mounts(ctx, "web")
	if len(ms) != 2 {
		t.Errorf("web's mounts after unmount: %+v", ms)
	}
}

// TestDestroyKeepsVolumesUnlessAsked: apps:destroy keeps an app's volumes
// and says so; with --volumes it deletes those no other app mounts.
func TestDestroyKeepsVolumesUnlessAsked(t *testing.T) {
	ctx := context.Background()
	e, vr := newVolumeEngine(t, newAppsStore(t, "web", "api", "blog"), StorageOptions{})
	mount(t, e, "web", "webdata:/app/data", false, false)
	mount(t, e, "api", "apidata:/app/data", false, false)
	mount(t, e, "api", "shared:/app/shared", false, false)
	mount(t, e, "blog", "shared:/app/shared", false, true)

	gone, err := e.d.Destroy(ctx, "web", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone.KeptVolumes, []string{"webdata"}) || len(gone.DeletedVolumes) != 0 {
		t.Errorf("destroy without --volumes: kept %v, deleted %v", gone.KeptVolumes, gone.DeletedVolumes)
	}
	if _, ok := vr.volumes["xcloud-test-webdata"]; !ok {
		t.Error("destroy without --volumes removed the volume")
	}
	gone, err = e.d.DestroyWithVolumes(ctx, "api", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone.DeletedVolumes, []string{"apidata"}) || !slices.Equal(gone.KeptVolumes, []string{"shared"}) {
		t.Errorf("destroy --volumes: kept %v, deleted %v; want apidata deleted, shared (blog's too) kept", gone.KeptVolumes, gone.DeletedVolumes)
	}
	if _, ok := vr.volumes["xcloud-test-apidata"]; ok {
		t.Error("destroy --volumes left the volume in Podman")
	}
	vs, err := e.d.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name+":"+strings.Join(v.Apps, "+"))
	}
	if want := []string{"shared:blog", "webdata:"}; !slices.Equal(names, want) {
		t.Errorf("volumes after the destroys: %v, want %v", names, want)
	}
	// A kept volume is an admin's to hand to another app.
	if _, err := e.d.Mount(ctx, MountRequest{App: "blog", Spec: "webdata:/app/old"}); !errors.Is(err, ErrMountForbidden) {
		t.Errorf("an app key mounting a kept volume: %v, want ErrMountForbidden", err)
	}
}

// TestDestroyFailureKeepsVolumes: when removing a destroyed app's remains
// fails, --volumes deletes nothing and the error names the volumes kept.
func TestDestroyFailureKeepsVolumes(t *testing.T) {
	ctx := context.Background()
	e, vr := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
	mount(t, e, "web", "data:/app/data", false, false)
	vr.netErr = errors.New("network in use")
	_, err := e.d.DestroyWithVolumes(ctx, "web", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "its volumes data keep their data") {
		t.Errorf("destroy with a failing remain: %v; want the kept volume named", err)
	}
	if _, ok := vr.volumes["xcloud-test-data"]; !ok {
		t.Error("a failed destroy --volumes removed the volume")
	}
}

// TestRecreateRename: a rename of an app with strategy recreate stops the
// old name's containers before the new name's start; its mounts follow.
func TestRecreateRename(t *testing.T) {
	ctx := context.Background()
	e, vr := newVolumeEngine(t, newAppsStore(t, "web"), StorageOptions{})
	mount(t, e, "web", "data:/app/data", false, false)
	if _, out, err := e.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if err := e.d.SetDeployStrategy(ctx, "web", store.StrategyRecreate); err != nil {
		t.Fatal(err)
	}
	old := e.serving(t, 1)[0]
	mark := len(e.rt.events())
	var out bytes.Buffer
	if err := e.d.Rename(ctx, RenameRequest{Old: "web", New: "www"}, &out); err != nil {
		t.Fatalf("rename: %v\n%s", err, out.String())
	}
	fresh := e.rt.running("www")["1"]
	if len(fresh) != 1 || len(e.rt.running("web")) != 0 {
		t.Fatalf("after the rename: www runs %v, web %v", fresh, e.rt.running("web"))
	}
	log := e.rt.events()[mark:]
	if stop, run := index(log, "stop "+old.Name), index(log, "run "+fresh[0].Name); stop < 0 || run < 0 || stop > run {
		t.Errorf("recreate rename: want the old container stopped before the new one runs; got %q", log)
	}
	specs := vr.ranSpecs()
	if last := specs[len(specs)-1]; len(last.Mounts) != 1 || last.Mounts[0].Volume != "xcloud-test-data" {
		t.Errorf("the renamed app's container mounts %+v", last.Mounts)
	}
}
