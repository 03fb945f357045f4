package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/stack"
	"github.com/xcloud-dev/xcloud/store"
)

// Database services (services:create): one container each, run from a
// stack image, with its data on a named volume and a password only the
// daemon and the linked apps know. A service sits on a network of its own
// (its home network); linking it to an app joins it to that app's network
// too, where the app reaches it by the service's name. Service containers
// carry labelInstance but not labelManaged: the apps' reconcile and
// supervisor, which look for labelManaged, leave them alone, and the
// services' own (services_run.go) look after them.

// Labels of service containers, volumes and networks.
const (
	labelService = "xcloud.service" // the service's name
	labelRole    = "xcloud.role"    // roleService, roleServiceOneOff
	// labelExpose is the host address the container publishes the
	// service's port on ("" none), so that reconcile sees when the store
	// says otherwise.
	labelExpose = "xcloud.expose"
	// labelData is the volume the container has the data on, when it is
	// not the one named after the service (an upgraded service's).
	labelData = "xcloud.data"
)

const (
	roleService       = "service"
	roleServiceOneOff = "service-oneoff" // services:connect: never supervised
)

// Memory of a service: the default when services:create names none, and
// the least each type starts and serves with.
const (
	defaultServiceMemory = 256 << 20
	minPostgresMemory    = 64 << 20
	minRedisMemory       = 16 << 20
)

// serviceReady bounds how long a new or restarted service may take to
// answer its health check.
const serviceReady = 90 * time.Second

// serviceStopGrace is what a service gets to shut down cleanly: a
// database writes its last checkpoint.
const serviceStopGrace = 30 * time.Second

// ServiceOptions configure database services.
type ServiceOptions struct {
	PostgresImage string // default: the stack's
	RedisImage    string // default: the stack's
	// MemoryBytes is a service's memory cap when services:create names
	// none; 0 takes 256 MiB.
	MemoryBytes int64
	// BackupDir holds scheduled dumps (services_schedule.go); "" stores
	// none.
	BackupDir string
	// Releases are images of majors other than the stack's, which
	// services:upgrade moves data to (services_upgrade.go).
	Releases []ServiceRelease
}

// serviceRuntime is what services need from the container engine beyond
// Runtime; *podman.Client has it.
type serviceRuntime interface {
	RunAliased(ctx context.Context, cs podman.ContainerSpec, aliases []string, publish []podman.HostPort, start bool) (podman.Container, error)
	ConnectNetwork(ctx context.Context, network, container string, aliases []string) error
	DisconnectNetwork(ctx context.Context, network, container string) error
	Exec(ctx context.Context, container string, cmd []string, in io.Reader, out, errw io.Writer) (int, error)
}

var _ serviceRuntime = (*podman.Client)(nil)

// ErrServiceRuntime: the container runtime cannot run services.
var ErrServiceRuntime = errors.New("the container runtime cannot run database services")

func (d *Daemon) svcRT() (serviceRuntime, error) {
	if rt, ok := d.rt.(serviceRuntime); ok {
		return rt, nil
	}
	return nil, ErrServiceRuntime
}

// ServiceInfo is a service as services:list and services:info show it.
type ServiceInfo struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
	// Status is running, starting, restarting (after a crash), stopped or
	// missing (no container: reconcile makes one).
	Status       string              `json:"status"`
	Host         string              `json:"host"` // on linked apps' networks
	Port         int                 `json:"port"`
	Image        string              `json:"image"`
	Container    string              `json:"container"`
	Volume       string              `json:"volume"`
	VolumeBytes  int64               `json:"volume_bytes"` // -1: not measured
	MemoryBytes  int64               `json:"memory_bytes"`
	Links        []store.ServiceLink `json:"links"`
	CreatedAt    time.Time           `json:"created_at"`
	LastBackupAt time.Time           `json:"last_backup_at"`
	// BackupSchedule is when dumps are stored ("" never), BackupKeep how
	// many are kept.
	BackupSchedule string `json:"backup_schedule"`
	BackupKeep     int    `json:"backup_keep"`
	// Expose is the host address the service's port is published on
	// (services:expose); "" when it is reached from linked apps only.
	Expose string `json:"expose"`
	// Major is the major version its data is of (services:upgrade).
	Major int `json:"major"`
}

// ServiceName is the Podman name of a service's container, home network
// and volume. The dot keeps it apart from app networks and volumes
// (xcloud-<instance>-<name>), whose names cannot have one.
func (d *Daemon) ServiceName(name string) string {
	if d.opts.Instance == "" {
		return "xcloud.svc-" + name
	}
	return "xcloud-" + d.opts.Instance + ".svc-" + name
}

func (d *Daemon) serviceLabels(name, role string) map[string]string {
	return map[string]string{labelInstance: d.opts.Instance, labelService: name, labelRole: role}
}

// stackImage is the stack's image of a service type: the default major's.
func (d *Daemon) stackImage(typ string) string {
	def := stack.DefaultNames()
	if typ == store.ServiceRedis {
		if d.opts.Services.RedisImage != "" {
			return d.opts.Services.RedisImage
		}
		return def.Redis
	}
	if d.opts.Services.PostgresImage != "" {
		return d.opts.Services.PostgresImage
	}
	return def.Postgres
}

func servicePort(typ string) int {
	if typ == store.ServiceRedis {
		return stack.RedisPort
	}
	return stack.PostgresPort
}

// serviceVolume is the volume holding a service's data.
func (d *Daemon) serviceVolume(svc store.Service) string {
	if svc.Volume != "" {
		return svc.Volume
	}
	return d.ServiceName(svc.Name)
}

func (d *Daemon) serviceMemory(svc store.Service) int64 {
	if svc.MemoryBytes > 0 {
		return svc.MemoryBytes
	}
	if d.opts.Services.MemoryBytes > 0 {
		return d.opts.Services.MemoryBytes
	}
	return defaultServiceMemory
}

// serviceAAD binds a sealed service password to its service.
func serviceAAD(name string) []byte { return []byte("service:" + name) }

func (d *Daemon) servicePassword(svc store.Service) (string, error) {
	pw, err := d.opts.Secrets.Open(svc.Password, serviceAAD(svc.Name))
	if err != nil {
		return "", fmt.Errorf("open the password of service %s: %w", svc.Name, err)
	}
	return string(pw), nil
}

// serviceURL is what a linked app gets in its config var.
func serviceURL(svc store.Service, password string) string {
	if svc.Type == store.ServiceRedis {
		return fmt.Sprintf("redis://default:%s@%s:%d", password, svc.Name, stack.RedisPort)
	}
	return fmt.Sprintf("postgres://postgres:%s@%s:%d/%s", password, svc.Name, stack.PostgresPort, svc.Name)
}

// serviceSpec is the container a service runs in.
func (d *Daemon) serviceSpec(svc store.Service, password string) podman.ContainerSpec {
	mem := d.serviceMemory(svc)
	env := map[string]string{}
	dataDir := stack.PostgresDataDir
	if svc.Type == store.ServiceRedis {
		dataDir = stack.RedisDataDir
		env["REDIS_PASSWORD"] = password
		// Writes fail past three quarters of the cap, before the kernel
		// would kill the server.
		env["REDIS_MAXMEMORY"] = strconv.FormatInt(mem/4*3, 10)
	} else {
		env["POSTGRES_PASSWORD"] = password
		env["POSTGRES_DB"] = svc.Name
		// A quarter of the memory, the usual rule for shared_buffers.
		env["POSTGRES_SHARED_BUFFERS"] = strconv.FormatInt(max(mem/4>>20, 16), 10) + "MB"
	}
	labels := d.serviceLabels(svc.Name, roleService)
	labels[labelExpose] = svc.Expose
	if svc.Volume != "" {
		labels[labelData] = svc.Volume
	}
	return podman.ContainerSpec{
		Name:        d.ServiceName(svc.Name),
		Image:       d.serviceRelease(svc).Image,
		Env:         env,
		Labels:      labels,
		Network:     d.ServiceName(svc.Name),
		StopGrace:   serviceStopGrace,
		MemoryBytes: mem,
		Pids:        d.opts.Limits.Pids,
		Mounts:      []podman.Mount{{Volume: d.serviceVolume(svc), Path: dataDir}},
	}
}

// healthCommand is run in the service's container: it exits 0 once the
// server answers over TCP (pg_isready, PING). PostgreSQL's first start
// answers on its socket only until the database is made.
func healthCommand(typ string) []string {
	if typ == store.ServiceRedis {
		return []string{"sh", "-c", `valkey-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -qx PONG`}
	}
	return []string{"pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(stack.PostgresPort)}
}

// CreateServiceRequest is services:create's.
type CreateServiceRequest struct {
	Type        string
	Name        string
	MemoryBytes int64 // 0: the default
}

func badService(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Err: store.ErrInvalidName}
}

// CreateService starts a new service, waits until it answers and records
// it. A service that does not come up is removed again, with nothing
// recorded.
func (d *Daemon) CreateService(ctx context.Context, req CreateServiceRequest, out io.Writer) (ServiceInfo, error) {
	w := &progress{w: out}
	if !slices.Contains(store.ServiceTypes(), req.Type) {
		return ServiceInfo{}, badService("unknown service type %q: want %s", req.Type, strings.Join(store.ServiceTypes(), " or "))
	}
	if err := store.ValidateServiceName(req.Name); err != nil {
		return ServiceInfo{}, &Error{Msg: strings.TrimPrefix(err.Error(), "invalid name: "), Err: err}
	}
	floor := int64(minPostgresMemory)
	if req.Type == store.ServiceRedis {
		floor = minRedisMemory
	}
	if req.MemoryBytes != 0 && req.MemoryBytes < floor {
		return ServiceInfo{}, badService("--memory %s is below what %s needs to run: at least %s", formatSize(req.MemoryBytes), req.Type, formatSize(floor))
	}
	rt, err := d.svcRT()
	if err != nil {
		return ServiceInfo{}, err
	}
	if _, err := d.store.GetService(ctx, req.Name); err == nil {
		return ServiceInfo{}, &Error{Msg: fmt.Sprintf("service %s already exists", req.Name), Err: store.ErrExists}
	} else if !errors.Is(err, store.ErrNotFound) {
		return ServiceInfo{}, err
	}
	rel := d.newestRelease(req.Type)
	if ok, err := d.rt.ImageExists(ctx, rel.Image); err != nil {
		return ServiceInfo{}, err
	} else if !ok {
		return ServiceInfo{}, &Error{Msg: fmt.Sprintf("the %s image %s is not in local storage: run xcloud stack build", req.Type, rel.Image), Err: store.ErrNotFound}
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return ServiceInfo{}, fmt.Errorf("make a password: %w", err)
	}
	password := hex.EncodeToString(pw)
	svc := store.Service{Name: req.Name, Type: req.Type, MemoryBytes: req.MemoryBytes, Major: rel.Major,
		Password: d.opts.Secrets.Seal([]byte(password), serviceAAD(req.Name))}

	w.step("Creating %s service %s (%s, memory %s)", req.Type, req.Name, rel.Version(), formatSize(d.serviceMemory(svc)))
	c, err := d.startServiceContainer(ctx, rt, svc, password)
	if err == nil {
		w.step("Waiting for it to answer")
		err = d.waitService(ctx, rt, svc, c.ID)
	}
	if err == nil {
		svc, err = d.store.CreateService(ctx, svc)
	}
	if err != nil {
		d.removeServiceParts(context.WithoutCancel(ctx), svc.Name, true)
		return ServiceInfo{}, err
	}
	w.done("%s is up. Link it to an app: %s services:link %s APP", req.Name, d.SSHCommand(), req.Name)
	return d.ServiceInfo(ctx, req.Name)
}

// startServiceContainer makes the service's network, volume and container
// and starts it.
func (d *Daemon) startServiceContainer(ctx context.Context, rt serviceRuntime, svc store.Service, password string) (podman.Container, error) {
	name := d.ServiceName(svc.Name)
	labels := d.serviceLabels(svc.Name, roleService)
	if err := d.rt.EnsureNetwork(ctx, name, labels); err != nil {
		return podman.Container{}, err
	}
	if err := d.rt.EnsureVolume(ctx, d.serviceVolume(svc), labels); err != nil {
		return podman.Container{}, err
	}
	publish, err := d.servicePublish(svc)
	if err != nil {
		return podman.Container{}, err
	}
	c, err := rt.RunAliased(ctx, d.serviceSpec(svc, password), []string{svc.Name}, publish, true)
	if err != nil {
		return podman.Container{}, fmt.Errorf("start service %s: %w", svc.Name, err)
	}
	return c, nil
}

// waitService runs the health check until it passes, the container stops
// or serviceReady passes; a failure says what the server printed last.
func (d *Daemon) waitService(ctx context.Context, rt serviceRuntime, svc store.Service, id string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceReady)
	defer cancel()
	for {
		code, err := rt.Exec(ctx, id, healthCommand(svc.Type), nil, nil, nil)
		if err == nil && code == 0 {
			return nil
		}
		c, ierr := d.rt.Inspect(ctx, id)
		stopped := ierr == nil && !c.Running
		if stopped || ctx.Err() != nil {
			logs, _ := d.rt.Logs(context.WithoutCancel(ctx), id, 5)
			why := "did not answer within " + serviceReady.String()
			if stopped {
				why = fmt.Sprintf("exited with status %d", c.ExitCode)
			}
			last := strings.TrimSpace(logs)
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			if last != "" {
				why += ": " + last
			}
			return fmt.Errorf("service %s %s", svc.Name, why)
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			continue // the deadline: reported above on the next round
		}
	}
}

// removeServiceParts removes a service's container and network, and with
// volume its data.
func (d *Daemon) removeServiceParts(ctx context.Context, name string, volume bool) {
	cs, err := d.rt.List(ctx, d.serviceLabels(name, roleService))
	if err != nil {
		d.log.Warn("list service containers", "service", name, "err", err)
	}
	for _, c := range cs {
		d.sup.forget(c.ID)
		if err := d.rt.Remove(ctx, c.ID); err != nil {
			d.log.Warn("remove service container", "service", name, "err", err)
		}
	}
	if err := d.rt.RemoveNetwork(ctx, d.ServiceName(name)); err != nil {
		d.log.Warn("remove service network", "service", name, "err", err)
	}
	if volume {
		if err := d.rt.RemoveVolume(ctx, d.ServiceName(name)); err != nil {
			d.log.Warn("remove service volume", "service", name, "err", err)
		}
	}
}

// service returns the stored service, or an error naming it.
func (d *Daemon) service(ctx context.Context, name string) (store.Service, error) {
	svc, err := d.store.GetService(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Service{}, &Error{Msg: fmt.Sprintf("service %q does not exist (services lists them)", name), Err: store.ErrNotFound}
	}
	return svc, err
}

// serviceContainer returns the service's container; found is false when
// it has none.
func (d *Daemon) serviceContainer(ctx context.Context, name string) (podman.Container, bool, error) {
	cs, err := d.rt.List(ctx, d.serviceLabels(name, roleService))
	if err != nil || len(cs) == 0 {
		return podman.Container{}, false, err
	}
	return cs[0], true, nil
}

// runningService returns the service's running container, or an error
// saying it is not running.
func (d *Daemon) runningService(ctx context.Context, name string) (store.Service, podman.Container, error) {
	svc, err := d.service(ctx, name)
	if err != nil {
		return svc, podman.Container{}, err
	}
	c, ok, err := d.serviceContainer(ctx, name)
	if err != nil {
		return svc, c, err
	}
	if !ok || !c.Running {
		return svc, c, &Error{Msg: fmt.Sprintf("service %s is not running (services:restart %s starts it)", name, name), Err: store.ErrConflict}
	}
	return svc, c, nil
}

// Services lists every service, volume sizes not measured.
func (d *Daemon) Services(ctx context.Context) ([]ServiceInfo, error) {
	svcs, err := d.store.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	links, err := d.store.ServiceLinks(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]ServiceInfo, 0, len(svcs))
	for _, svc := range svcs {
		out = append(out, d.serviceInfo(ctx, svc, links))
	}
	return out, nil
}

// ServiceInfo returns one service, its volume measured.
func (d *Daemon) ServiceInfo(ctx context.Context, name string) (ServiceInfo, error) {
	svc, err := d.service(ctx, name)
	if err != nil {
		return ServiceInfo{}, err
	}
	links, err := d.store.ServiceLinks(ctx, name)
	if err != nil {
		return ServiceInfo{}, err
	}
	info := d.serviceInfo(ctx, svc, links)
	info.VolumeBytes = d.serviceVolumeSize(ctx, info.Volume)
	return info, nil
}

// serviceVolumeSize measures a volume, -1 when it cannot. The runtime
// measures one volume (VolumeSize) or all at once (VolumeSizes).
func (d *Daemon) serviceVolumeSize(ctx context.Context, volume string) int64 {
	switch rt := any(d.rt).(type) {
	case interface {
		VolumeSize(ctx context.Context, name string) (int64, error)
	}:
		if n, err := rt.VolumeSize(ctx, volume); err == nil {
			return n
		}
	case interface {
		VolumeSizes(ctx context.Context) (map[string]int64, error)
	}:
		if sizes, err := rt.VolumeSizes(ctx); err == nil {
			if n, ok := sizes[volume]; ok {
				return n
			}
		}
	}
	return -1
}

func (d *Daemon) serviceInfo(ctx context.Context, svc store.Service, all []store.ServiceLink) ServiceInfo {
	rel := d.serviceRelease(svc)
	info := ServiceInfo{Name: svc.Name, Type: svc.Type, Version: rel.Version(), Status: "missing",
		Host: svc.Name, Port: servicePort(svc.Type), Image: rel.Image, Volume: d.serviceVolume(svc), Expose: svc.Expose, Major: rel.Major,
		VolumeBytes: -1, MemoryBytes: d.serviceMemory(svc), Links: []store.ServiceLink{},
		CreatedAt: svc.CreatedAt, LastBackupAt: svc.LastBackupAt, BackupSchedule: svc.BackupSchedule, BackupKeep: svc.BackupKeep}
	for _, l := range all {
		if l.Service == svc.Name {
			info.Links = append(info.Links, l)
		}
	}
	c, ok, err := d.serviceContainer(ctx, svc.Name)
	switch {
	case err != nil:
		info.Status = "unknown"
	case ok:
		info.Container = c.Name
		info.Status = "stopped"
		if c.Running {
			info.Status = "running"
		} else if _, next, _ := d.sup.crashInfo(c.ID); !next.IsZero() {
			info.Status = "restarting"
		}
	}
	return info
}

// linkVar is the config var a link of svc to app sets: DATABASE_URL (or
// REDIS_URL), unless the app has it already, from another link or its
// own config; then DATABASE_<NAME>_URL.
func linkVar(svc store.Service, taken func(string) bool) string {
	base := "DATABASE"
	if svc.Type == store.ServiceRedis {
		base = "REDIS"
	}
	if v := base + "_URL"; !taken(v) {
		return v
	}
	return base + "_" + strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_")) + "_URL"
}

// LinkService links a service to an app: the app gets the service's URL
// in a config var (a new release, restarted without downtime) and the
// service joins the app's network, where the app reaches it by the
// service's name.
func (d *Daemon) LinkService(ctx context.Context, name, app string, out io.Writer) (store.ServiceLink, error) {
	svc, err := d.service(ctx, name)
	if err != nil {
		return store.ServiceLink{}, err
	}
	if _, err := d.store.GetApp(ctx, app); errors.Is(err, store.ErrNotFound) {
		return store.ServiceLink{}, &Error{Msg: fmt.Sprintf("app %q does not exist", app), Err: store.ErrNotFound}
	} else if err != nil {
		return store.ServiceLink{}, err
	}
	rt, err := d.svcRT()
	if err != nil {
		return store.ServiceLink{}, err
	}
	links, err := d.store.ServiceLinks(ctx, "")
	if err != nil {
		return store.ServiceLink{}, err
	}
	vars, err := d.configVars(ctx, app)
	if err != nil {
		return store.ServiceLink{}, err
	}
	for _, l := range links {
		if l.Service == name && l.App == app {
			return store.ServiceLink{}, &Error{Msg: fmt.Sprintf("service %s is already linked to %s (as %s)", name, app, l.Var), Err: store.ErrExists}
		}
	}
	v := linkVar(svc, func(v string) bool {
		_, set := vars[v]
		return set || slices.ContainsFunc(links, func(l store.ServiceLink) bool { return l.App == app && l.Var == v })
	})
	if _, set := vars[v]; set {
		return store.ServiceLink{}, &Error{Msg: fmt.Sprintf("%s already has a config var %s; unset it first", app, v), Err: store.ErrExists}
	}
	c, ok, err := d.serviceContainer(ctx, name)
	if err != nil {
		return store.ServiceLink{}, err
	}
	if !ok {
		return store.ServiceLink{}, &Error{Msg: fmt.Sprintf("service %s has no container yet (the daemon is starting it); try again shortly", name), Err: store.ErrConflict}
	}
	password, err := d.servicePassword(svc)
	if err != nil {
		return store.ServiceLink{}, err
	}
	link, err := d.store.LinkService(ctx, store.ServiceLink{Service: name, App: app, Var: v})
	if err != nil {
		return store.ServiceLink{}, err
	}
	undo := func() {
		uctx := context.WithoutCancel(ctx)
		if err := rt.DisconnectNetwork(uctx, d.appNetwork(app), c.ID); err != nil {
			d.log.Warn("take service off app network", "service", name, "app", app, "err", err)
		}
		if err := d.store.UnlinkService(uctx, name, app); err != nil {
			d.log.Error("undo service link", "service", name, "app", app, "err", err)
		}
	}
	network, err := d.ensureAppNetwork(ctx, app)
	if err == nil {
		err = rt.ConnectNetwork(ctx, network, c.ID, []string{name})
	}
	if err != nil {
		undo()
		return store.ServiceLink{}, err
	}
	fmt.Fprintf(out, "-----> %s joined %s's network as host %s\n", name, app, name)
	if err := d.SetConfig(ctx, SetConfigRequest{App: app, Set: map[string]string{v: serviceURL(svc, password)}}, out); err != nil {
		undo()
		return store.ServiceLink{}, err
	}
	return link, nil
}

// UnlinkService undoes LinkService: the app's config var goes (a new
// release), then the service leaves the app's network.
func (d *Daemon) UnlinkService(ctx context.Context, name, app string, out io.Writer) error {
	if _, err := d.service(ctx, name); err != nil {
		return err
	}
	links, err := d.store.ServiceLinks(ctx, name)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(links, func(l store.ServiceLink) bool { return l.App == app })
	if i < 0 {
		return &Error{Msg: fmt.Sprintf("service %s is not linked to %s", name, app), Err: store.ErrNotFound}
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	if err := d.SetConfig(ctx, SetConfigRequest{App: app, Unset: []string{links[i].Var}}, out); err != nil {
		return err
	}
	if c, ok, err := d.serviceContainer(ctx, name); err != nil {
		return err
	} else if ok {
		if err := rt.DisconnectNetwork(ctx, d.appNetwork(app), c.ID); err != nil {
			return err
		}
	}
	if err := d.store.UnlinkService(ctx, name, app); err != nil {
		return err
	}
	fmt.Fprintf(out, "=====> %s unlinked from %s: %s unset, and %s no longer reaches it\n", name, app, links[i].Var, app)
	return nil
}

// DestroyService removes a service with its data; refused while linked.
// Of its stored dumps the newest stays, unless purge.
func (d *Daemon) DestroyService(ctx context.Context, name string, purge bool, out io.Writer) error {
	svc, err := d.service(ctx, name)
	if err != nil {
		return err
	}
	links, err := d.store.ServiceLinks(ctx, name)
	if err != nil {
		return err
	}
	if len(links) > 0 {
		apps := make([]string, 0, len(links))
		for _, l := range links {
			apps = append(apps, l.App)
		}
		return &Error{Msg: fmt.Sprintf("service %s is linked to %s: services:unlink it first", name, strings.Join(apps, ", ")), Err: store.ErrConflict}
	}
	if err := d.store.DeleteService(ctx, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Msg: fmt.Sprintf("service %s was linked meanwhile: services:unlink it first", name), Err: store.ErrConflict}
		}
		return err
	}
	d.removeServiceParts(ctx, name, true)
	if svc.Volume != "" { // an upgraded one's
		if err := d.rt.RemoveVolume(ctx, svc.Volume); err != nil {
			d.log.Warn("remove service volume", "service", name, "err", err)
		}
	}
	kept, err := d.pruneStoredDumps(name, purge)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=====> Destroyed service %s and its data\n", name)
	if kept != "" {
		fmt.Fprintf(out, "Its newest stored dump stays: %s (--purge removes it)\n", kept)
	}
	return nil
}

// RestartService stops the service's container and starts it again (or
// makes it, when it is gone), and waits until it answers.
func (d *Daemon) RestartService(ctx context.Context, name string, out io.Writer) error {
	svc, err := d.service(ctx, name)
	if err != nil {
		return err
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "-----> Restarting %s\n", name)
	c, ok, err := d.serviceContainer(ctx, name)
	if err != nil {
		return err
	}
	if ok {
		if err := d.cycleService(ctx, rt, svc, c.ID); err != nil {
			return err
		}
	} else {
		id, err := d.ensureService(ctx, rt, svc)
		if err == nil {
			err = d.waitService(ctx, rt, svc, id)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "=====> %s is up\n", name)
	return nil
}

// cycleService stops the service's container id and starts it again,
// waiting until it answers; its death on the way is no crash.
func (d *Daemon) cycleService(ctx context.Context, rt serviceRuntime, svc store.Service, id string) error {
	d.sup.expectStop(id)
	defer d.sup.unexpect(id) // its death event has come by the time it answers again
	if err := d.rt.Stop(ctx, id, serviceStopGrace); err != nil {
		return err
	}
	id, err := d.ensureService(ctx, rt, svc)
	if err != nil {
		return err
	}
	return d.waitService(ctx, rt, svc, id)
}

// ServiceLogs writes the last n lines the service printed, then with
// follow what it prints until ctx ends or it stops.
func (d *Daemon) ServiceLogs(ctx context.Context, name string, n int, follow bool, w io.Writer) error {
	if _, err := d.service(ctx, name); err != nil {
		return err
	}
	c, ok, err := d.serviceContainer(ctx, name)
	if err != nil || !ok {
		return err
	}
	if follow {
		return d.rt.FollowLogs(ctx, c.ID, w)
	}
	logs, err := d.rt.Logs(ctx, c.ID, n)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, logs)
	return err
}

// ConnectService runs the service's client (psql, valkey-cli) wired to
// stdio in a one-off container on the service's network, and returns its
// exit code.
func (d *Daemon) ConnectService(ctx context.Context, name, term string, stdio podman.Stdio) (int, error) {
	svc, c, err := d.runningService(ctx, name)
	if err != nil {
		return 0, err
	}
	password, err := d.servicePassword(svc)
	if err != nil {
		return 0, err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	cs := podman.ContainerSpec{
		Name:    d.ServiceName(name) + "-connect-" + hex.EncodeToString(suffix),
		Image:   d.serviceRelease(svc).Image,
		Labels:  d.serviceLabels(name, roleServiceOneOff),
		Network: d.ServiceName(name),
		Env:     map[string]string{},
		Hosts:   d.hostEntry(ctx, name, c.ID, d.ServiceName(name)),
	}
	if svc.Type == store.ServiceRedis {
		cs.Command = []string{"valkey-cli", "-h", name, "-p", strconv.Itoa(stack.RedisPort)}
		cs.Env["VALKEYCLI_AUTH"] = password
		cs.Env["REDISCLI_AUTH"] = password
	} else {
		cs.Command = []string{"psql", "-h", name, "-U", "postgres", name}
		cs.Env["PGPASSWORD"] = password
	}
	if stdio.TTY {
		cs.Env["TERM"] = term
		if term == "" {
			cs.Env["TERM"] = "xterm"
		}
	}
	stdio.StopTimeout = d.opts.StopGrace
	return d.rt.RunAttached(ctx, cs, stdio)
}

// execService runs cmd in the service's container; a non-zero exit is an
// error carrying the last line it printed on stderr.
func (d *Daemon) execService(ctx context.Context, rt serviceRuntime, id string, cmd []string, in io.Reader, out io.Writer) error {
	var stderr bytes.Buffer
	code, err := rt.Exec(ctx, id, cmd, in, out, &stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return &Error{Msg: msg, Err: store.ErrConflict}
	}
	return nil
}
