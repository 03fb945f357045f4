package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
}

var _ serviceRuntime = (*serviceRuntimeFake)(nil)

func newServiceRuntime(t *testing.T) *serviceRuntimeFake {
	return &serviceRuntimeFake{fakeRuntime: newFakeRuntime(t), joined: map[string]map[string][]string{},
		volumes: map[string]bool{}, networks: map[string]bool{}}
}

func (f *serviceRuntimeFake) RunAliased(ctx context.Context, cs podman.ContainerSpec, aliases []string, _ bool) (podman.Container, error) {
	c, err := f.Run(ctx, cs)
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
