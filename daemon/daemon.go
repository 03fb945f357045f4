// Package daemon is xcloud's lifecycle engine: the deploy pipeline (build →
// release → swap), start-up reconciliation, and the admin commands. It
// implements the interfaces gitreceive declares and drives Podman, the proxy
// and the store.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// Container labels. Every container xcloud starts carries them, so the
// daemon can find its own containers after a restart.
const (
	labelManaged  = "xcloud.managed"
	labelInstance = "xcloud.instance"
	labelApp      = "xcloud.app"
	labelRelease  = "xcloud.release"
	labelProcess  = "xcloud.process"
)

// webPort is the port web processes listen on inside their container ($PORT).
const webPort = 5000

// Runtime runs builds and containers. *podman.Client implements it.
type Runtime interface {
	Build(ctx context.Context, b podman.BuildSpec) (string, error)
	Run(ctx context.Context, c podman.ContainerSpec) (podman.Container, error)
	Inspect(ctx context.Context, id string) (podman.Container, error)
	List(ctx context.Context, labels map[string]string) ([]podman.Container, error)
	Start(ctx context.Context, id string) (podman.Container, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	Logs(ctx context.Context, id string, n int) (string, error)
}

// Router installs the routing table. *proxy.Proxy implements it.
type Router interface {
	Apply(ctx context.Context, routes []proxy.Route) error
}

var (
	_ Runtime = (*podman.Client)(nil)
	_ Router  = (*proxy.Proxy)(nil)
)

// Options are the daemon's dependencies and settings.
type Options struct {
	Store    *store.Store
	Runtime  Runtime
	Router   Router
	ReposDir string
	// Instance tells this daemon's containers from another's on a shared
	// Podman (tests, a second install): reconcile only touches its own.
	Instance         string
	AdminKeysFile    string
	BaseDomain       string
	Scheme           string // "http" or "https": how app URLs are printed
	BuildConcurrency int
	BuildTimeout     time.Duration
	ReadyTimeout     time.Duration
	StopGrace        time.Duration
	Version          string
	Logger           *slog.Logger
}

// Daemon is the lifecycle engine.
type Daemon struct {
	opts   Options
	store  *store.Store
	rt     Runtime
	router Router
	log    *slog.Logger
	keys   *adminKeys

	builds chan struct{} // build slots: a semaphore of build.concurrency

	mu        sync.Mutex
	appLocks  map[string]*sync.Mutex
	upstreams map[string][]string // app → serving web upstreams (host:port)
	waiting   int                 // builds queued for a slot
	routeMu   sync.Mutex          // serialises route computation + apply
}

// New returns a Daemon; it does no I/O until Start.
func New(opts Options) *Daemon {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("system", "daemon")
	}
	if opts.BuildConcurrency < 1 {
		opts.BuildConcurrency = 1
	}
	if opts.Scheme == "" {
		opts.Scheme = "http"
	}
	return &Daemon{
		opts:      opts,
		store:     opts.Store,
		rt:        opts.Runtime,
		router:    opts.Router,
		log:       opts.Logger,
		keys:      &adminKeys{path: opts.AdminKeysFile},
		builds:    make(chan struct{}, opts.BuildConcurrency),
		appLocks:  map[string]*sync.Mutex{},
		upstreams: map[string][]string{},
	}
}

// Start recovers from an unclean stop and reconciles containers and routes
// with the database: every app's current release runs and is routed;
// containers no release wants are removed.
func (d *Daemon) Start(ctx context.Context) error {
	if n, err := d.store.FailRunningBuilds(ctx, "daemon stopped during the build"); err != nil {
		return fmt.Errorf("recover builds: %w", err)
	} else if n > 0 {
		d.log.Warn("marked interrupted builds failed", "count", n)
	}
	pending, err := d.store.PendingReleases(ctx)
	if err != nil {
		return fmt.Errorf("recover releases: %w", err)
	}
	for _, r := range pending {
		if err := d.store.FailRelease(ctx, r.App, r.Version, "daemon stopped during the deploy"); err != nil {
			return fmt.Errorf("recover release %s v%d: %w", r.App, r.Version, err)
		}
		d.log.Warn("marked interrupted deploy failed", "app", r.App, "release", r.Version)
	}
	return d.Reconcile(ctx)
}

// Reconcile makes containers and routes match the database.
func (d *Daemon) Reconcile(ctx context.Context) error {
	all, err := d.rt.List(ctx, d.labels(nil))
	if err != nil {
		return err
	}
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		return fmt.Errorf("list apps: %w", err)
	}
	current := map[string]int{}
	for _, a := range apps {
		current[a.Name] = a.CurrentRelease
	}
	byApp := map[string][]podman.Container{}
	for _, c := range all {
		app := c.Labels[labelApp]
		rel, _ := strconv.Atoi(c.Labels[labelRelease])
		if cur, ok := current[app]; !ok || cur == 0 || rel != cur {
			d.log.Info("removing container no release wants", "container", c.Name, "app", app, "release", rel)
			if err := d.rt.Remove(ctx, c.ID); err != nil {
				d.log.Error("remove orphan container", "container", c.Name, "err", err)
			}
			continue
		}
		byApp[app] = append(byApp[app], c)
	}
	for _, a := range apps {
		if a.CurrentRelease == 0 {
			continue
		}
		ups, err := d.ensureRunning(ctx, a.Name, byApp[a.Name])
		if err != nil {
			// One broken app must not keep the others unrouted.
			d.log.Error("app not running after reconcile", "app", a.Name, "err", err)
			continue
		}
		d.setUpstreams(a.Name, ups)
	}
	return d.applyRoutes(ctx)
}

// ensureRunning starts the current release's web container when it is
// missing or stopped, and returns the upstreams to route to.
func (d *Daemon) ensureRunning(ctx context.Context, app string, cs []podman.Container) ([]string, error) {
	var ups []string
	for _, c := range cs {
		if c.Labels[labelProcess] != "web" {
			continue
		}
		if !c.Running {
			started, err := d.rt.Start(ctx, c.ID)
			if err != nil {
				d.log.Error("restart container", "container", c.Name, "err", err)
				continue
			}
			c = started
		} else if c.HostPort == 0 {
			if ic, err := d.rt.Inspect(ctx, c.ID); err == nil {
				c = ic
			}
		}
		if c.HostPort != 0 {
			ups = append(ups, upstream(c.HostPort))
		}
	}
	if len(ups) > 0 {
		return ups, nil
	}
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		return nil, err
	}
	c, err := d.startWeb(ctx, rel, io.Discard)
	if err != nil {
		return nil, err
	}
	return []string{upstream(c.HostPort)}, nil
}

// labels returns extra plus the labels every container of this daemon carries.
func (d *Daemon) labels(extra map[string]string) map[string]string {
	l := map[string]string{labelManaged: "true", labelInstance: d.opts.Instance}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func upstream(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (d *Daemon) setUpstreams(app string, ups []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ups) == 0 {
		delete(d.upstreams, app)
		return
	}
	d.upstreams[app] = ups
}

// applyRoutes installs a route for every app with serving containers.
func (d *Daemon) applyRoutes(ctx context.Context) error {
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	d.mu.Lock()
	ups := make(map[string][]string, len(d.upstreams))
	for k, v := range d.upstreams {
		ups[k] = v
	}
	d.mu.Unlock()
	routes := make([]proxy.Route, 0, len(ups))
	for app, u := range ups {
		hosts := []string{d.appHost(app)}
		extra, err := d.store.Domains(ctx, app)
		if err != nil {
			return fmt.Errorf("domains of %s: %w", app, err)
		}
		hosts = append(hosts, extra...)
		routes = append(routes, proxy.Route{App: app, Hosts: hosts, Upstreams: u})
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].App < routes[j].App })
	if err := d.router.Apply(ctx, routes); err != nil {
		return fmt.Errorf("apply routes: %w", err)
	}
	return nil
}

func (d *Daemon) appHost(app string) string { return app + "." + d.opts.BaseDomain }

// AppURL is where an app is served.
func (d *Daemon) AppURL(app string) string { return d.opts.Scheme + "://" + d.appHost(app) }

// appLock returns the mutex that serialises deploys of one app.
func (d *Daemon) appLock(app string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.appLocks[app]
	if !ok {
		m = &sync.Mutex{}
		d.appLocks[app] = m
	}
	return m
}
