package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// serviceRuntimeFake is the fake runtime with what services need: networks
// joined (network → container → aliases), volumes, and an Exec whose
// health checks pass.
type serviceRuntimeFake struct {
	*fakeRuntime
	mu       sync.Mutex
	joined   map[string]map[string][]string
	volumes  map[string]bool
	networks map[string]bool
	execs    []string
	input    []byte // the last Exec's stdin
	// published is what each container (by ID) publishes on the host.
	published map[string][]podman.HostPort
	// failPublish fails the start of a container publishing it.
	failPublish string
}

var _ serviceRuntime = (*serviceRuntimeFake)(nil)

func newServiceRuntime(t *testing.T) *serviceRuntimeFake {
	return &serviceRuntimeFake{fakeRuntime: newFakeRuntime(t), joined: map[string]map[string][]string{},
		volumes: map[string]bool{}, networks: map[string]bool{}}
}

func (f *serviceRuntimeFake) RunAliased(ctx context.Context, cs podman.ContainerSpec, aliases []string, publish []podman.HostPort, _ bool) (podman.Container, error) {
	f.mu.Lock()
	fail := f.failPublish != "" && len(publish) > 0 && publish[0].HostIP+":"+strconv.Itoa(publish[0].HostPort) == f.failPublish
	f.mu.Unlock()
	if fail {
		return podman.Container{}, errors.New("rootlessport listen tcp " + f.failPublish + ": bind: address already in use")
	}
	c, err := f.Run(ctx, cs)
	f.mu.Lock()
	if f.published == nil {
		f.published = map[string][]podman.HostPort{}
	}
	f.published[c.ID] = publish
	f.mu.Unlock()
	if err == nil {
		err = f.ConnectNetwork(ctx, cs.Network, c.ID, aliases)
	}
	return c, err
}

func (f *serviceRuntimeFake) ConnectNetwork(_ context.Context, network, container string, aliases []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.joined[network] == nil {
		f.joined[network] = map[string][]string{}
	}
	f.joined[network][container] = aliases
	return nil
}

func (f *serviceRuntimeFake) DisconnectNetwork(_ context.Context, network, container string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.joined[network], container)
	return nil
}

func (f *serviceRuntimeFake) on(network, container string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joined[network][container]
}

func (f *serviceRuntimeFake) Exec(_ context.Context, container string, cmd []string, in io.Reader, out, _ io.Writer) (int, error) {
	f.mu.Lock()
	f.execs = append(f.execs, container+" "+strings.Join(cmd, " "))
	f.mu.Unlock()
	if in != nil {
		b, _ := io.ReadAll(in)
		f.mu.Lock()
		f.input = b
		f.mu.Unlock()
	}
	if out != nil && cmd[0] == "pg_dump" {
		_, _ = io.WriteString(out, "PGDMP fake dump")
	}
	return 0, nil
}

func (f *serviceRuntimeFake) EnsureNetwork(_ context.Context, name string, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[name] = true
	return nil
}

func (f *serviceRuntimeFake) RemoveNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, name)
	return nil
}

func (f *serviceRuntimeFake) EnsureVolume(_ context.Context, name string, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes[name] = true
	return nil
}

func (f *serviceRuntimeFake) RemoveVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, name)
	return nil
}

func (f *serviceRuntimeFake) VolumeSizes(context.Context) (map[string]int64, error) {
	return map[string]int64{}, nil
}

func (f *serviceRuntimeFake) VolumeSize(context.Context, string) (int64, error) { return 0, nil }

func newServiceEngine(t *testing.T, apps ...string) (*Daemon, *serviceRuntimeFake, *store.Store) {
	t.Helper()
	st := newAppsStore(t, apps...)
	rt := newServiceRuntime(t)
	e := newEngine(t, st, rt.fakeRuntime)
	e.d.rt = rt
	return e.d, rt, st
}

func TestServiceBadInput(t *testing.T) {
	d, rt, st := newServiceEngine(t, "web")
	ctx := context.Background()
	for _, tc := range []struct {
		req  CreateServiceRequest
		want string
	}{
		{CreateServiceRequest{Type: "mysql", Name: "db"}, `unknown service type "mysql": want postgres or redis`},
		{CreateServiceRequest{Type: "postgres", Name: "Db_1"}, `invalid service name "Db_1"`},
		{CreateServiceRequest{Type: "postgres", Name: "db", MemoryBytes: 8 << 20}, "--memory 8.0 MB is below what postgres needs to run: at least 64.0 MB"},
		{CreateServiceRequest{Type: "redis", Name: "cache", MemoryBytes: 1 << 20}, "below what redis needs to run: at least 16.0 MB"},
	} {
		_, err := d.CreateService(ctx, tc.req, io.Discard)
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(de.Msg, tc.want) || strings.Contains(de.Msg, "\n") {
			t.Errorf("%+v: %v; want one line with %q", tc.req, err, tc.want)
		}
	}
	if svcs, _ := st.ListServices(ctx); len(svcs) != 0 {
		t.Errorf("services after bad input: %v", svcs)
	}
	if cs, _ := rt.List(ctx, nil); len(cs) != 0 {
		t.Errorf("containers after bad input: %v", cs)
	}
}

func TestServiceLinkUnlink(t *testing.T) {
	d, rt, st := newServiceEngine(t, "web", "api")
	ctx := context.Background()
	info, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "running" || info.Container != "xcloud-test.svc-db" || info.MemoryBytes != defaultServiceMemory {
		t.Errorf("info = %+v", info)
	}
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "redis", Name: "db"}, io.Discard); err == nil || !strings.Contains(err.Error(), "service db already exists") {
		t.Errorf("second db: %v", err)
	}
	c, _, _ := d.serviceContainer(ctx, "db")
	if got := rt.on("xcloud-test.svc-db", c.ID); !slices.Equal(got, []string{"db"}) {
		t.Errorf("on its home network as %v", got)
	}

	var out bytes.Buffer
	if _, err := d.LinkService(ctx, "db", "web", &out); err != nil {
		t.Fatal(err)
	}
	vars, _ := d.configVars(ctx, "web")
	url := vars["DATABASE_URL"]
	if !strings.HasPrefix(url, "postgres://postgres:") || !strings.HasSuffix(url, "@db:5432/db") {
		t.Errorf("DATABASE_URL = %q", url)
	}
	if got := rt.on("xcloud-test-web", c.ID); !slices.Equal(got, []string{"db"}) {
		t.Errorf("on web's network as %v", got)
	}
	if got := rt.on("xcloud-test-api", c.ID); got != nil {
		t.Errorf("on api's network, not linked: %v", got)
	}
	for _, tc := range []struct{ svc, app, want string }{
		{"db", "web", "service db is already linked to web (as DATABASE_URL)"},
		{"db", "nope", `app "nope" does not exist`},
		{"nope", "web", `service "nope" does not exist`},
	} {
		if _, err := d.LinkService(ctx, tc.svc, tc.app, io.Discard); err == nil || err.Error() != tc.want+" (services lists them)" && err.Error() != tc.want {
			t.Errorf("link %s %s: %v; want %q", tc.svc, tc.app, err, tc.want)
		}
	}
	// A second postgres gets a var of its own name.
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "ana-lytics", MemoryBytes: 128 << 20}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if l, err := d.LinkService(ctx, "ana-lytics", "web", io.Discard); err != nil || l.Var != "DATABASE_ANA_LYTICS_URL" {
		t.Errorf("second link: %+v, %v", l, err)
	}
	if err := d.DestroyService(ctx, "db", false, io.Discard); err == nil || err.Error() != "service db is linked to web: services:unlink it first" {
		t.Errorf("destroy while linked: %v", err)
	}
	if err := d.UnlinkService(ctx, "db", "web", io.Discard); err != nil {
		t.Fatal(err)
	}
	vars, _ = d.configVars(ctx, "web")
	if _, ok := vars["DATABASE_URL"]; ok || vars["DATABASE_ANA_LYTICS_URL"] == "" {
		t.Errorf("vars after unlink: %v", slices.Sorted(maps.Keys(vars)))
	}
	if got := rt.on("xcloud-test-web", c.ID); got != nil {
		t.Errorf("still on web's network: %v", got)
	}
	if err := d.UnlinkService(ctx, "db", "web", io.Discard); err == nil || err.Error() != "service db is not linked to web" {
		t.Errorf("unlink twice: %v", err)
	}
	if err := d.DestroyService(ctx, "db", false, io.Discard); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	leftVolume, leftNetwork := rt.volumes["xcloud-test.svc-db"], rt.networks["xcloud-test.svc-db"]
	rt.mu.Unlock()
	if _, ok, _ := d.serviceContainer(ctx, "db"); ok || leftVolume || leftNetwork {
		t.Errorf("destroy left parts: container %v, volumes %v, networks %v", ok, rt.volumes, rt.networks)
	}
	if _, err := st.GetService(ctx, "db"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("db still stored: %v", err)
	}
}

// TestServiceReconcile: a service whose container is gone (a restored
// node, a removed container) is made again and rejoins its apps'
// networks; a crash restarts it.
func TestServiceReconcile(t *testing.T) {
	d, rt, _ := newServiceEngine(t, "web")
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "redis", Name: "cache"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if l, err := d.LinkService(ctx, "cache", "web", io.Discard); err != nil || l.Var != "REDIS_URL" {
		t.Fatalf("link: %+v, %v", l, err)
	}
	old, _, _ := d.serviceContainer(ctx, "cache")
	_ = rt.Remove(ctx, old.ID)
	stray, _ := rt.Run(ctx, podman.ContainerSpec{Name: "xcloud-test.svc-gone", Labels: d.serviceLabels("gone", roleService)})
	if err := d.reconcileServices(ctx, rt); err != nil {
		t.Fatal(err)
	}
	c, ok, _ := d.serviceContainer(ctx, "cache")
	if !ok || !c.Running || c.ID == old.ID {
		t.Fatalf("cache after reconcile: %+v %v", c, ok)
	}
	if got := rt.on("xcloud-test-web", c.ID); !slices.Equal(got, []string{"cache"}) {
		t.Errorf("not back on web's network: %v", got)
	}
	if _, err := rt.Inspect(ctx, stray.ID); err == nil {
		t.Errorf("the container of an unknown service stays")
	}

	started := make(chan string, 1)
	rt.fakeRuntime.mu.Lock()
	rt.started = started
	rt.fakeRuntime.mu.Unlock()
	rt.exit(c.ID, 137)
	d.bgctx = ctx
	d.onServiceDeath(ctx, podman.Death{ID: c.ID, Name: c.Name, ExitCode: 137, Labels: c.Labels})
	select {
	case id := <-started:
		if id != c.ID {
			t.Errorf("started %s, want %s", id, c.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a crashed service was not restarted")
	}
	d.bg.Wait()
}

// TestServiceLeavesDestroyedNetwork: the network of an app going away
// (destroyed, or the old name of a renamed one) loses its services, and a
// link that now names the renamed app joins that app's network.
func TestServiceLeavesDestroyedNetwork(t *testing.T) {
	d, rt, st := newServiceEngine(t, "web")
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkService(ctx, "db", "web", io.Discard); err != nil {
		t.Fatal(err)
	}
	c, _, _ := d.serviceContainer(ctx, "db")
	if err := st.RenameApp(ctx, store.Rename{Old: "web", New: "shop"}); err != nil {
		t.Fatal(err)
	}
	d.leaveAppNetwork(ctx, "web")
	if got := rt.on("xcloud-test-web", c.ID); got != nil {
		t.Errorf("still on the old name's network: %v", got)
	}
	if got := rt.on("xcloud-test-shop", c.ID); !slices.Equal(got, []string{"db"}) {
		t.Errorf("on the renamed app's network as %v", got)
	}
}

// TestServiceBackupSchedule: dumps are stored when the schedule says,
// the newest --keep kept, and one restores by its ID.
func TestServiceBackupSchedule(t *testing.T) {
	d, rt, _ := newServiceEngine(t)
	d.opts.Services.BackupDir = t.TempDir()
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sched string
		keep  int
		want  string
	}{
		{"every day", 7, `schedule "every day": not a cron schedule`},
		{"@daily", 0, "--keep 0: want 1 to 1000 dumps"},
	} {
		if err := d.SetServiceBackupSchedule(ctx, "db", tc.sched, tc.keep); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q --keep %d: %v; want %q", tc.sched, tc.keep, err, tc.want)
		}
	}
	if err := d.SetServiceBackupSchedule(ctx, "db", "0 3 * * *", 2); err != nil {
		t.Fatal(err)
	}
	s := &backupScheduler{next: map[string]time.Time{}, spec: map[string]string{}}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := func() []string {
		bs, err := d.ServiceBackups(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	d.backupTick(ctx, s, day)
	d.backupTick(ctx, s, day.Add(2*time.Hour))
	if got := ids(); len(got) != 0 {
		t.Fatalf("dumps before 03:00: %v", got)
	}
	for i := range 3 {
		d.backupTick(ctx, s, day.Add(time.Duration(i)*24*time.Hour+3*time.Hour))
	}
	if got, want := ids(), []string{"20260103T030000Z", "20260102T030000Z"}; !slices.Equal(got, want) {
		t.Fatalf("dumps = %v, want the newest two %v", got, want)
	}
	if err := d.RestoreStoredService(ctx, "db", "20260102T030000Z", io.Discard); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	in := string(rt.input)
	rt.mu.Unlock()
	if in != "PGDMP fake dump" {
		t.Errorf("restored from %q", in)
	}
	if err := d.RestoreStoredService(ctx, "db", "20250101T030000Z", io.Discard); err == nil || !strings.Contains(err.Error(), "has no stored dump 20250101T030000Z") {
		t.Errorf("restore of a missing dump: %v", err)
	}
	if err := d.SetServiceBackupSchedule(ctx, "db", "off", 2); err != nil {
		t.Fatal(err)
	}
	d.backupTick(ctx, s, day.Add(4*24*time.Hour+3*time.Hour))
	if got := ids(); len(got) != 2 || got[0] != "20260103T030000Z" {
		t.Errorf("dumps after the schedule was turned off: %v", got)
	}
	// Destroying keeps the newest; --purge, nothing.
	var out bytes.Buffer
	if err := d.DestroyService(ctx, "db", false, &out); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.opts.Services.BackupDir, "db")
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "20260103T030000Z.dump" || !strings.Contains(out.String(), "Its newest stored dump stays: "+dir+"/20260103T030000Z.dump") {
		t.Errorf("after destroy: %v\n%s", ents, out.String())
	}
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := d.DestroyService(ctx, "db", true, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--purge left %s: %v", dir, err)
	}
}

// TestServiceExpose: services:expose publishes the port on the address
// given (127.0.0.1 for a bare port) by making the container again, which
// reconcile keeps; bad input and a start that fails change nothing; off
// publishes nothing again.
func TestServiceExpose(t *testing.T) {
	d, rt, st := newServiceEngine(t, "web")
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkService(ctx, "db", "web", io.Discard); err != nil {
		t.Fatal(err)
	}
	published := func() []podman.HostPort {
		t.Helper()
		c, ok, err := d.serviceContainer(ctx, "db")
		if err != nil || !ok || !c.Running {
			t.Fatalf("db's container: %+v %v %v", c, ok, err)
		}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.published[c.ID]
	}
	if p := published(); len(p) != 0 {
		t.Fatalf("a new service publishes %v", p)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct{ arg, want string }{
		{"70000", "port 70000 is out of range: want 1 to 65535"},
		{"0", "port 0 is out of range"},
		{"localhost:5433", `"localhost" is not an IP address`},
		{"db", `"db" is not [IP:]PORT`},
		{busy.Addr().String(), busy.Addr().String() + " cannot be published on: "},
	} {
		_, err := d.ExposeService(ctx, "db", tc.arg, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("expose %s: %v; want one line with %q", tc.arg, err, tc.want)
		}
	}
	if svc, _ := st.GetService(ctx, "db"); svc.Expose != "" || len(published()) != 0 {
		t.Fatalf("after bad input: stored %q, published %v", svc.Expose, published())
	}

	port := deadPort()
	var out bytes.Buffer
	info, err := d.ExposeService(ctx, "db", strconv.Itoa(port), &out)
	want := "127.0.0.1:" + strconv.Itoa(port)
	if err != nil || info.Expose != want {
		t.Fatalf("expose: %+v %v", info, err)
	}
	if p := published(); len(p) != 1 || p[0] != (podman.HostPort{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 5432}) {
		t.Errorf("published %v", p)
	}
	if !strings.Contains(out.String(), "published on "+want+". From this host: postgres://postgres:") || !strings.Contains(out.String(), "@"+want+"/db") {
		t.Errorf("output:\n%s", out.String())
	}
	c, _, _ := d.serviceContainer(ctx, "db")
	if got := rt.on("xcloud-test-web", c.ID); !slices.Equal(got, []string{"db"}) {
		t.Errorf("the remade container is not on web's network: %v", got)
	}
	// Reconcile and a restart keep it.
	if err := d.reconcileServices(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if err := d.RestartService(ctx, "db", io.Discard); err != nil {
		t.Fatal(err)
	}
	if p := published(); len(p) != 1 || p[0].HostPort != port {
		t.Errorf("after reconcile and restart: %v", p)
	}
	// A node restored from a backup has the store, not the container.
	gone, _, _ := d.serviceContainer(ctx, "db")
	_ = rt.Remove(ctx, gone.ID)
	if err := d.reconcileServices(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if p := published(); len(p) != 1 || p[0].HostPort != port {
		t.Errorf("a container made again by reconcile publishes %v", p)
	}
	// A container made before the store changed is made again.
	if err := st.SetServiceExpose(ctx, "db", ""); err != nil {
		t.Fatal(err)
	}
	if err := d.reconcileServices(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if p := published(); len(p) != 0 {
		t.Errorf("reconcile kept a port the store no longer has: %v", p)
	}
	// A container that does not start with the port: the old one is back.
	other := deadPort()
	rt.mu.Lock()
	rt.failPublish = "127.0.0.1:" + strconv.Itoa(other)
	rt.mu.Unlock()
	if _, err := d.ExposeService(ctx, "db", strconv.Itoa(other), io.Discard); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("expose on a port the start fails on: %v", err)
	}
	if svc, _ := st.GetService(ctx, "db"); svc.Expose != "" || len(published()) != 0 {
		t.Errorf("after a failed expose: stored %q, published %v", svc.Expose, published())
	}
	if _, err := d.ExposeService(ctx, "db", "0.0.0.0:"+strconv.Itoa(port), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reachable from other machines too") {
		t.Errorf("no warning for 0.0.0.0:\n%s", out.String())
	}
	if info, err := d.ExposeService(ctx, "db", "off", io.Discard); err != nil || info.Expose != "" || len(published()) != 0 {
		t.Errorf("off: %+v %v, published %v", info, err, published())
	}
}

// TestServiceUpgrade: with only the stack's major, services:upgrade is
// refused and nothing happens; with an image of a newer one, the data is
// dumped from the old server into a new one on a volume of its own after
// a stored backup, and the service runs the newer major, still linked.
func TestServiceUpgrade(t *testing.T) {
	d, rt, st := newServiceEngine(t, "web")
	d.opts.Services.BackupDir = t.TempDir()
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "redis", Name: "cache"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkService(ctx, "db", "web", io.Discard); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"db":    "service db runs PostgreSQL 17, the newest this node has an image of: nothing to upgrade to",
		"cache": "cache is a redis service (Valkey 8 (Redis-compatible)): its data files carry over between releases",
	} {
		if err := d.UpgradeService(ctx, name, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("upgrade %s: %v; want %q", name, err, want)
		}
	}
	if bs, _ := d.ServiceBackups(ctx, "db"); len(bs) != 0 {
		t.Errorf("a refused upgrade stored %v", bs)
	}

	d.opts.Services.Releases = []ServiceRelease{{Type: store.ServicePostgres, Major: 18, Image: "localhost/xcloud/postgres:18"}}
	old, _, _ := d.serviceContainer(ctx, "db")
	var out bytes.Buffer
	if err := d.UpgradeService(ctx, "db", &out); err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out.String())
	}
	svc, _ := st.GetService(ctx, "db")
	if svc.Major != 18 || svc.Volume != "xcloud-test.svc-db-18" {
		t.Errorf("stored %+v", svc)
	}
	c, ok, _ := d.serviceContainer(ctx, "db")
	if !ok || !c.Running || c.ID == old.ID || c.Image != "localhost/xcloud/postgres:18" {
		t.Errorf("db's container after the upgrade: %+v", c)
	}
	if got := rt.on("xcloud-test-web", c.ID); !slices.Equal(got, []string{"db"}) {
		t.Errorf("not on web's network: %v", got)
	}
	rt.mu.Lock()
	execs, input := strings.Join(rt.execs, "\n"), string(rt.input)
	oldVol, newVol := rt.volumes["xcloud-test.svc-db"], rt.volumes["xcloud-test.svc-db-18"]
	rt.mu.Unlock()
	for _, want := range []string{old.ID + " pg_dump -Fc", "default_transaction_read_only = on", " pg_restore -U postgres --no-owner"} {
		if !strings.Contains(execs, want) {
			t.Errorf("no %q among the commands run:\n%s", want, execs)
		}
	}
	if input != "PGDMP fake dump" || oldVol || !newVol {
		t.Errorf("restored %q; old volume kept %v, new one %v", input, oldVol, newVol)
	}
	if bs, _ := d.ServiceBackups(ctx, "db"); len(bs) != 1 || !strings.Contains(out.String(), "runs PostgreSQL 18; the backup taken before, "+bs[0].ID) {
		t.Errorf("backups %v; output:\n%s", bs, out.String())
	}
	if info, _ := d.ServiceInfo(ctx, "db"); info.Version != "PostgreSQL 18" || info.Volume != "xcloud-test.svc-db-18" {
		t.Errorf("info: %+v", info)
	}
	if err := d.UpgradeService(ctx, "db", io.Discard); err == nil || !strings.Contains(err.Error(), "runs PostgreSQL 18, the newest") {
		t.Errorf("second upgrade: %v", err)
	}
	if err := d.UnlinkService(ctx, "db", "web", io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := d.DestroyService(ctx, "db", true, io.Discard); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.volumes["xcloud-test.svc-db-18"] {
		t.Errorf("destroy left the upgraded volume")
	}
}

// TestServiceDeathOfAnotherInstance: Podman ORs label filters of one
// key, so the death stream brings other installs' service containers
// too; one of another instance is none of this daemon's business, even
// when a service of its name exists here.
func TestServiceDeathOfAnotherInstance(t *testing.T) {
	d, rt, st := newServiceEngine(t)
	ctx := context.Background()
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	rt.fakeRuntime.mu.Lock()
	rt.started = started
	rt.fakeRuntime.mu.Unlock()
	d.bgctx = ctx
	d.onServiceDeath(ctx, podman.Death{ID: "theirs", Name: "xcloud-other.svc-db", ExitCode: 0,
		Labels: map[string]string{labelInstance: "other", labelService: "db", labelRole: roleService}})
	d.bg.Wait()
	select {
	case id := <-started:
		t.Errorf("started %s, another instance's container", id)
	default:
	}
	evs, err := st.ListEvents(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == store.EventServiceCrashed {
			t.Errorf("recorded %q for another instance's container", e.Message)
		}
	}
}
