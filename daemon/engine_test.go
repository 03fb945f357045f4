package daemon

// Engine tests without Podman: a fake container runtime that keeps its
// containers in memory and answers health checks from httptest servers, a
// real SQLite store, and a router that records what it was told.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// fakeRuntime is a Runtime whose containers live in memory. A web
// container gets an httptest server as its HostPort, unless unhealthy says
// its image never answers; then its port has no listener. Every change and
// every health-check request is appended to a log shared with engineRouter,
// so tests can check the order of a swap. Methods a test does not expect
// are left to the embedded nil Runtime and panic.
type fakeRuntime struct {
	Runtime

	mu        sync.Mutex
	seq       int
	cs        map[string]*podman.Container
	servers   []*httptest.Server
	log       []string
	unhealthy map[string]bool // image → its web process never answers
	started   chan string     // IDs passed to Start, when set
	listing   chan struct{}   // when set, image listings wait until it closes
}

func newFakeRuntime(t *testing.T) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{cs: map[string]*podman.Container{}, unhealthy: map[string]bool{}}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range f.servers {
			s.Close()
		}
	})
	return f
}

func (f *fakeRuntime) record(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, a...))
}

// events returns the log so far.
func (f *fakeRuntime) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeRuntime) setUnhealthy(image string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unhealthy[image] = on
}

// errNoContainer is the fake's answer for an unknown container.
var errNoContainer = errors.New("no such container")

// deadPort returns a port nothing listens on. It runs in the engine's
// goroutines, so it panics rather than fail the test: without 127.0.0.1
// none of these tests can run.
func deadPort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func (f *fakeRuntime) Run(_ context.Context, spec podman.ContainerSpec) (podman.Container, error) {
	f.mu.Lock()
	f.seq++
	id := "c" + strconv.Itoa(f.seq)
	c := &podman.Container{ID: id, Name: spec.Name, Image: spec.Image, State: "running", Running: true,
		Labels: spec.Labels, ContainerPort: spec.Port}
	sick := f.unhealthy[spec.Image]
	f.mu.Unlock()
	if spec.Port != 0 {
		if sick {
			c.HostPort = deadPort()
		} else {
			name := spec.Name
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f.record("health %s", name)
				fmt.Fprintf(w, "%s\n", name)
			}))
			c.HostPort = srv.Listener.Addr().(*net.TCPAddr).Port
			f.mu.Lock()
			f.servers = append(f.servers, srv)
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	f.cs[id] = c
	f.mu.Unlock()
	f.record("run %s", spec.Name)
	return *c, nil
}

func (f *fakeRuntime) Inspect(_ context.Context, id string) (podman.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cs[id]
	if !ok {
		return podman.Container{}, fmt.Errorf("container %s: %w", id, errNoContainer)
	}
	return *c, nil
}

func (f *fakeRuntime) List(_ context.Context, labels map[string]string) ([]podman.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []podman.Container
	for _, c := range f.cs {
		match := true
		for k, v := range labels {
			match = match && c.Labels[k] == v
		}
		if match {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b podman.Container) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeRuntime) ListExited(ctx context.Context, labels map[string]string) ([]podman.Container, error) {
	cs, err := f.List(ctx, labels)
	return slices.DeleteFunc(cs, func(c podman.Container) bool { return c.State != "exited" && c.State != "stopped" }), err
}

func (f *fakeRuntime) Start(_ context.Context, id string) (podman.Container, error) {
	f.mu.Lock()
	c, ok := f.cs[id]
	var cur podman.Container
	if ok {
		c.Running, c.State = true, "running"
		cur = *c
	}
	ch := f.started
	f.mu.Unlock()
	if !ok {
		return podman.Container{}, fmt.Errorf("container %s: %w", id, errNoContainer)
	}
	f.record("start %s", cur.Name)
	if ch != nil {
		ch <- id
	}
	return cur, nil
}

// exit makes a container stop as if its process had ended on its own.
func (f *fakeRuntime) exit(id string, code int) podman.Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cs[id]
	c.Running, c.State, c.ExitCode = false, "exited", code
	return *c
}

func (f *fakeRuntime) Stop(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	c, ok := f.cs[id]
	var name string
	if ok {
		c.Running, c.State, name = false, "exited", c.Name
	}
	f.mu.Unlock()
	if ok {
		f.record("stop %s", name)
	}
	return nil
}

func (f *fakeRuntime) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	c, ok := f.cs[id]
	delete(f.cs, id)
	f.mu.Unlock()
	if ok {
		f.record("remove %s", c.Name)
	}
	return nil
}

func (f *fakeRuntime) Logs(context.Context, string, int) (string, error) { return "", nil }

// WatchDeaths reports no death until ctx ends.
func (f *fakeRuntime) WatchDeaths(ctx context.Context, _ map[string]string, _ func(podman.Death)) error {
	<-ctx.Done()
	return ctx.Err()
}

// StreamLogs streams nothing until ctx ends.
func (f *fakeRuntime) StreamLogs(ctx context.Context, _ string, _ time.Time, _ func(string)) error {
	<-ctx.Done()
	return ctx.Err()
}
func (f *fakeRuntime) EnsureNetwork(context.Context, string, map[string]string) error {
	return nil
}
func (f *fakeRuntime) ImageExists(context.Context, string) (bool, error) { return true, nil }
func (f *fakeRuntime) ListImages(ctx context.Context, _ map[string]string, _ bool) ([]podman.ImageInfo, error) {
	if f.listing != nil {
		select {
		case <-f.listing:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// running returns the running containers of app, by release.
func (f *fakeRuntime) running(app string) map[string][]podman.Container {
	cs, _ := f.List(context.Background(), map[string]string{labelApp: app})
	out := map[string][]podman.Container{}
	for _, c := range cs {
		if c.Running {
			out[c.Labels[labelRelease]] = append(out[c.Labels[labelRelease]], c)
		}
	}
	return out
}

// engineRouter records every routing table it is given in the runtime's
// log, as "route APP UPSTREAM…".
type engineRouter struct {
	rt     *fakeRuntime
	mu     sync.Mutex
	routes []proxy.Route
}

func (r *engineRouter) Apply(_ context.Context, routes []proxy.Route) error {
	r.mu.Lock()
	r.routes = routes
	r.mu.Unlock()
	for _, rt := range routes {
		r.rt.record("route %s %s", rt.App, strings.Join(rt.Upstreams, " "))
	}
	return nil
}

func (r *engineRouter) upstreams(app string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rt := range r.routes {
		if rt.App == app {
			return rt.Upstreams
		}
	}
	return nil
}

type engine struct {
	d      *Daemon
	st     *store.Store
	rt     *fakeRuntime
	router *engineRouter
}

// newEngine is a daemon on the fake runtime with the app "web" created.
func newEngine(t *testing.T, st *store.Store, rt *fakeRuntime) *engine {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &engineRouter{rt: rt}
	d := New(Options{Store: st, Runtime: rt, Router: r, BaseDomain: "xcloud.test", StaticDir: t.TempDir(),
		ReposDir: t.TempDir(), Instance: "test", ReadyTimeout: 500 * time.Millisecond, KeepReleases: 5,
		Secrets: box, Logger: slog.New(slog.DiscardHandler)})
	return &engine{d: d, st: st, rt: rt, router: r}
}

// release records a release of image for app web, as a build would.
func (e *engine) release(t *testing.T, image string) store.Release {
	t.Helper()
	spec, err := specJSON(releaseSpec{Processes: map[string]string{"web": "serve"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.d.currentSnapshot(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := e.st.CreateRelease(context.Background(), store.Release{App: "web", Image: image, Description: "deploy " + image, Spec: spec, Config: snap})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// deploy deploys a new release of image the way Deploy does once it is
// built: a failure marks the release failed.
func (e *engine) deploy(t *testing.T, image string) (store.Release, string, error) {
	t.Helper()
	rel := e.release(t, image)
	var out bytes.Buffer
	err := e.d.deployRelease(context.Background(), rel, &progress{w: &out})
	if err != nil {
		e.d.failRelease(context.Background(), rel, err)
	}
	return rel, out.String(), err
}

func (e *engine) current(t *testing.T) store.Release {
	t.Helper()
	rel, err := e.st.CurrentRelease(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// serving checks that web's route goes to exactly the running containers
// of release version, and returns them.
func (e *engine) serving(t *testing.T, version int) []podman.Container {
	t.Helper()
	run := e.rt.running("web")
	cs := run[strconv.Itoa(version)]
	if len(run) != 1 || len(cs) == 0 {
		t.Fatalf("running containers by release: %v; want only v%d's", run, version)
	}
	if got, want := e.router.upstreams("web"), webUpstreams(cs); !slices.Equal(got, want) {
		t.Fatalf("web is routed to %v, want v%d's containers %v", got, version, want)
	}
	return cs
}

func index(log []string, prefix string) int {
	return slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func TestEngineDeployAndSwapOrder(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	v1, out, err := e.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	if cur := e.current(t); cur.Version != v1.Version || cur.Status != store.ReleaseActive {
		t.Fatalf("current release %+v, want v%d active", cur, v1.Version)
	}
	old := e.serving(t, v1.Version)

	mark := len(e.rt.events())
	v2, out, err := e.deploy(t, "img2")
	if err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Routing web.xcloud.test to v2") {
		t.Errorf("progress lacks the route switch:\n%s", out)
	}
	fresh := e.serving(t, v2.Version)
	log := e.rt.events()[mark:]
	health := index(log, "health "+fresh[0].Name)
	route := index(log, "route web "+webUpstreams(fresh)[0])
	stop := index(log, "stop "+old[0].Name)
	if health < 0 || route < 0 || stop < 0 {
		t.Fatalf("log of the second deploy lacks a step: %q", log)
	}
	if !(index(log, "run "+fresh[0].Name) < health && health < route && route < stop) {
		t.Errorf("swap order: want run, health check, route, then the old container stopped; got %q", log)
	}
	// Until the route moved, every routing table sent web to v1.
	for _, l := range log[:route] {
		if strings.HasPrefix(l, "route web") && !strings.Contains(l, webUpstreams(old)[0]) {
			t.Errorf("web routed away from v1 before v2's health check passed: %q", l)
		}
	}
	if rels, _ := e.st.ListReleases(context.Background(), "web", 10); len(rels) != 2 || rels[1].Status != store.ReleaseSuperseded {
		t.Errorf("releases after two deploys: %+v", rels)
	}
}

func TestEngineFailedHealthCheckKeepsOldRelease(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	v1, out, err := e.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	old := e.serving(t, v1.Version)
	e.rt.setUnhealthy("img2", true)
	mark := len(e.rt.events())
	v2, out, err := e.deploy(t, "img2")
	if err == nil || !strings.Contains(err.Error(), "did not answer HTTP") {
		t.Fatalf("deploy of a web process that never answers: err %v\n%s", err, out)
	}
	if cur := e.current(t); cur.Version != v1.Version {
		t.Errorf("current release v%d after a failed deploy, want v%d", cur.Version, v1.Version)
	}
	if got := e.serving(t, v1.Version); !slices.Equal(webUpstreams(got), webUpstreams(old)) {
		t.Errorf("serving %v after a failed deploy, want v1's %v", got, old)
	}
	if r, err := e.st.GetRelease(context.Background(), "web", v2.Version); err != nil || r.Status != store.ReleaseFailed {
		t.Errorf("v2 after its failed health check: %+v, %v", r, err)
	}
	for _, l := range e.rt.events()[mark:] {
		if strings.HasPrefix(l, "route ") || strings.HasPrefix(l, "stop "+old[0].Name) {
			t.Errorf("a failed deploy changed the route or stopped v1: %q", l)
		}
	}
	if cs := e.rt.running("web")[strconv.Itoa(v2.Version)]; len(cs) != 0 {
		t.Errorf("v2's containers left running: %v", cs)
	}
}

func TestEngineRollback(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	ctx := context.Background()
	for _, img := range []string{"img1", "img2"} {
		if _, out, err := e.deploy(t, img); err != nil {
			t.Fatalf("deploy %s: %v\n%s", img, err, out)
		}
	}
	var out bytes.Buffer
	if err := e.d.Rollback(ctx, RollbackRequest{App: "web"}, &out); err != nil {
		t.Fatalf("Rollback: %v\n%s", err, out.String())
	}
	cur := e.current(t)
	if cur.Version != 3 || cur.Image != "img1" || cur.Description != "rollback to v1" {
		t.Errorf("after a rollback: current %+v, want v3 running img1", cur)
	}
	if cs := e.serving(t, 3); cs[0].Image != "img1" {
		t.Errorf("serving image %s, want img1", cs[0].Image)
	}
	if !strings.Contains(out.String(), "web rolled back: v3 serves v1's image") {
		t.Errorf("rollback output:\n%s", out.String())
	}
	err := e.d.Rollback(ctx, RollbackRequest{App: "web", Version: 3}, &out)
	if !errors.Is(err, ErrAlreadyServing) || err.Error() != "v3 is already serving" {
		t.Errorf("rollback to the serving release: %v", err)
	}
	if err := e.d.Rollback(ctx, RollbackRequest{App: "web", Version: 2}, &out); err != nil {
		t.Fatalf("rollback to v2: %v", err)
	}
	if cur := e.current(t); cur.Version != 4 || cur.Image != "img2" {
		t.Errorf("after a rollback to v2: %+v", cur)
	}
}

// TestEngineReconcileAfterCrash: a daemon that died left a container of
// a release that is no longer current, and lost the current one's; a new
// daemon on the same store and runtime removes the stray one, starts the
// current release at its scale and routes it.
func TestEngineReconcileAfterCrash(t *testing.T) {
	st, rt := newAppsStore(t, "web"), newFakeRuntime(t)
	before := newEngine(t, st, rt)
	if _, out, err := before.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	v2, out, err := before.deploy(t, "img2")
	if err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, out)
	}
	ctx := context.Background()
	if err := st.SetFormation(ctx, "web", map[string]int{"web": 2}); err != nil {
		t.Fatal(err)
	}
	// The crash: v2's container is gone; one of v1 is back (a deploy
	// stopped halfway through retiring it).
	for _, c := range rt.running("web")[strconv.Itoa(v2.Version)] {
		rt.Remove(ctx, c.ID)
	}
	stray, _ := rt.Run(ctx, podman.ContainerSpec{Name: "xcloud-web-web-v1-old", Image: "img1", Port: webPort,
		Labels: before.d.labels(map[string]string{labelApp: "web", labelRelease: "1", labelProcess: "web"})})

	after := newEngine(t, st, rt)
	if err := after.d.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	cs := after.serving(t, v2.Version)
	if len(cs) != 2 {
		t.Errorf("%d web containers of v2 after reconcile, want the formation's 2", len(cs))
	}
	if _, err := rt.Inspect(ctx, stray.ID); !errors.Is(err, errNoContainer) {
		t.Errorf("the stray v1 container was not removed: %v", err)
	}
	// Reconciling again changes nothing.
	mark := len(rt.events())
	if err := after.d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range rt.events()[mark:] {
		if !strings.HasPrefix(l, "route ") {
			t.Errorf("a second reconcile did %q", l)
		}
	}
}

// TestEngineStartServesBeforePruning: after a restart with the app's
// container stopped (a host reboot), the app is started and routed even
// while Podman's image listing hangs: the start-up image prune, which
// holds each app's lock through a listing, waits until reconcile is done.
// (With a slow Podman the prune took the lock first and the app stayed
// down for as long as the listing took.)
func TestEngineStartServesBeforePruning(t *testing.T) {
	st, rt := newAppsStore(t, "web"), newFakeRuntime(t)
	before := newEngine(t, st, rt)
	v1, out, err := before.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, c := range rt.running("web")[strconv.Itoa(v1.Version)] {
		rt.Remove(ctx, c.ID)
	}
	rt.listing = make(chan struct{})
	defer close(rt.listing)

	after := newEngine(t, st, rt)
	if err := after.d.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer after.d.Close()
	deadline := time.Now().Add(30 * time.Second)
	for len(after.router.upstreams("web")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the app was not routed within 30s while the image listing hung")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEngineCrashRestartBackoff: a container of the current release that
// exits on its own is restarted after a delay that doubles with each crash;
// one the daemon stopped is not.
func TestEngineCrashRestartBackoff(t *testing.T) {
	e, c, ctx := crashingEngine(t)

	crash := func() time.Time {
		t.Helper()
		dead := e.rt.exit(c.ID, 3)
		e.d.onDeath(ctx, podman.Death{ID: dead.ID, Name: dead.Name, ExitCode: 3, Labels: dead.Labels})
		return time.Now()
	}
	at := crash()
	procs, err := e.d.Processes(ctx, "web")
	if err != nil || len(procs) != 1 || !strings.HasPrefix(procs[0].State, "crashed (exit 3), restart #1 in ") || procs[0].Restarts != 1 {
		t.Errorf("ps after a crash: %+v, %v", procs, err)
	}
	select {
	case id := <-e.rt.started:
		if id != c.ID || time.Since(at) < restartBase {
			t.Errorf("restarted %s after %s, want %s after %s", id, time.Since(at), c.ID, restartBase)
		}
	case <-time.After(10 * restartBase):
		t.Fatal("a crashed container was not restarted")
	}
	waitRestarted(t, e.d.sup, c.ID)
	crash()
	evs, err := e.st.ListEvents(ctx, "web", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, ev := range evs {
		if ev.Type == store.EventProcessCrashed {
			msgs = append(msgs, ev.Message)
		}
	}
	if len(msgs) != 2 || !strings.HasSuffix(msgs[0], "restart #1 in 1s") || !strings.HasSuffix(msgs[1], "restart #2 in 2s") {
		t.Errorf("crash events %q: want restarts after 1s, then 2s", msgs)
	}

	// A container the daemon stops is no crash.
	e.d.stopContainer(ctx, c)
	e.d.onDeath(ctx, podman.Death{ID: c.ID, Name: c.Name, ExitCode: 0, Labels: c.Labels})
	if _, _, crashed := e.d.sup.crashed(c.ID, 0, time.Now()); crashed {
		t.Error("a container the daemon stopped counts as crashed")
	}
}

// TestEngineConfigChangeIsAtomic: a config change deploys a new release;
// when that deploy fails, the app's config and its serving release stay as
// they were.
func TestEngineConfigChangeIsAtomic(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	ctx := context.Background()
	var out bytes.Buffer
	if err := e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"A": "1"}}, &out); err != nil {
		t.Fatalf("SetConfig before any release: %v", err)
	}
	v1, log, err := e.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, log)
	}

	e.rt.setUnhealthy("img1", true) // the new containers of the change never answer
	out.Reset()
	err = e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"A": "2", "B": "x"}, Unset: []string{"A"}}, &out)
	if err == nil || !strings.HasSuffix(err.Error(), "(config unchanged)") {
		t.Fatalf("config change with a failing deploy: %v\n%s", err, out.String())
	}
	if vars, err := e.d.Config(ctx, "web"); err != nil || len(vars) != 1 || vars["A"] != "1" {
		t.Errorf("config after a failed change: %v, %v; want A=1 only", vars, err)
	}
	if cur := e.current(t); cur.Version != v1.Version {
		t.Errorf("current release v%d after a failed config change, want v%d", cur.Version, v1.Version)
	}
	e.serving(t, v1.Version)

	e.rt.setUnhealthy("img1", false)
	out.Reset()
	if err := e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"B": "x"}, Unset: []string{"A"}}, &out); err != nil {
		t.Fatalf("config change: %v\n%s", err, out.String())
	}
	if vars, _ := e.d.Config(ctx, "web"); len(vars) != 1 || vars["B"] != "x" {
		t.Errorf("config after the change: %v; want B=x only", vars)
	}
	cur := e.current(t)
	if vars, err := e.d.releaseVars(cur); err != nil || len(vars) != 1 || vars["B"] != "x" {
		t.Errorf("serving release v%d runs with %v, %v; want B=x", cur.Version, vars, err)
	}
	e.serving(t, cur.Version)

	out.Reset()
	if err := e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"B": "x"}}, &out); err != nil || !strings.Contains(out.String(), "Nothing changed") {
		t.Errorf("a change to the same values: %v, %q", err, out.String())
	}
	if again := e.current(t); again.Version != cur.Version {
		t.Errorf("an unchanged config deployed v%d", again.Version)
	}
}
