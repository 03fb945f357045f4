// Package daemon is xcloud's lifecycle engine: the deploy pipeline (build →
// release → swap), start-up reconciliation, supervision, cron, and a named
// API of operations (Rollback, Scale, SetConfig, AddDomain, Logs…) with
// typed requests and results that the front doors (daemon/admin for SSH)
// call. It implements gitreceive.Backend and drives Podman, the proxy and
// the store.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
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
	labelOneOff   = "xcloud.oneoff" // release commands, cron runs, `run`: never supervised
)

// webPort is the port web processes listen on inside their container ($PORT).
const webPort = 5000

// Runtime runs builds and containers. *podman.Client implements it.
type Runtime interface {
	Build(ctx context.Context, b podman.BuildSpec) (string, error)
	Run(ctx context.Context, c podman.ContainerSpec) (podman.Container, error)
	Inspect(ctx context.Context, id string) (podman.Container, error)
	List(ctx context.Context, labels map[string]string) ([]podman.Container, error)
	ListExited(ctx context.Context, labels map[string]string) ([]podman.Container, error)
	Start(ctx context.Context, id string) (podman.Container, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	Logs(ctx context.Context, id string, n int) (string, error)
	FollowLogs(ctx context.Context, id string, w io.Writer) error
	Wait(ctx context.Context, id string) (int, error)
	WatchDeaths(ctx context.Context, labels map[string]string, fn func(podman.Death)) error
	StreamLogs(ctx context.Context, id string, since time.Time, fn func(line string)) error
	ImageIDs(ctx context.Context, labels map[string]string) ([]string, error)
	RemoveImage(ctx context.Context, ref string) error
	// ListImages, RemoveUnusedImage and ImageExists keep disk use bounded.
	ListImages(ctx context.Context, labels map[string]string, all bool) ([]podman.ImageInfo, error)
	RemoveUnusedImage(ctx context.Context, id string) error
	ImageExists(ctx context.Context, ref string) (bool, error)
	CopyOut(ctx context.Context, image, path string, w io.Writer) error
	RunAttached(ctx context.Context, c podman.ContainerSpec, stdio podman.Stdio) (int, error)
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) error
	RemoveNetwork(ctx context.Context, name string) error
	// ImageConfigOf and Commit keep what app.json's predeploy writes.
	ImageConfigOf(ctx context.Context, ref string) (podman.ImageConfig, error)
	Commit(ctx context.Context, id string, base podman.ImageConfig, hide, clear []string) (string, error)
	// EnsureVolume, ListVolumes, RemoveVolume, VolumeSize and VolumeSizes
	// keep apps' persistent storage (volumes.go).
	EnsureVolume(ctx context.Context, name string, labels map[string]string) error
	ListVolumes(ctx context.Context, labels map[string]string) ([]podman.VolumeInfo, error)
	RemoveVolume(ctx context.Context, name string) error
	VolumeSize(ctx context.Context, name string) (int64, error)
	VolumeSizes(ctx context.Context) (map[string]int64, error)
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
	Store     *store.Store
	Runtime   Runtime
	Router    Router
	ReposDir  string
	StaticDir string // static sites' files, served by the proxy
	// Instance tells this daemon's containers from another's on a shared
	// Podman (tests, a second install): reconcile only touches its own.
	Instance   string
	BaseDomain string
	// ReservedHosts are served by the daemon itself (the API and dashboard
	// host): no app may take one as its default host or a domain.
	ReservedHosts    []string
	Scheme           string // "http" or "https": how app URLs are printed
	URLPort          string // port app URLs name: Scheme's listener is not on 80/443; "" for none
	BuildConcurrency int
	BuildTimeout     time.Duration
	ReadyTimeout     time.Duration
	StopGrace        time.Duration
	Version          string
	Stack            buildpacks.Stack  // images generated Containerfiles build on
	BuildArgs        map[string]string // passed to every build (e.g. PIP_INDEX_URL)
	BuildMemoryBytes int64             // cap per build; 0 = none
	BuildCPUs        float64           // cap per build; 0 = none
	Limits           Limits            // default caps of app containers
	Secrets          *secret.Box       // seals config vars at rest
	LogsDir          string            // per-app log history
	LogsMaxBytes     int64             // history kept per app
	// KeepReleases is how many releases before the current one keep their
	// image (counted by image) for a rollback; see prune.go.
	KeepReleases int
	// BuildCacheMax bounds the build cache (build layers no release uses
	// and the RUN cache mounts in BuildCacheDir); 0 = no bound.
	BuildCacheMax int64
	// BuildCacheDir is Podman's RUN cache mount directory
	// (TMPDIR/buildah-cache of the Podman service); "" = not measured.
	BuildCacheDir string
	// CronMinInterval is the shortest @every schedule a deploy accepts.
	CronMinInterval time.Duration
	// Observer receives measurements (metrics); nil means none.
	Observer Observer
	// Previews bounds preview apps from branches (previews.go).
	Previews PreviewOptions
	// PauseAt names a step to block at ("build", "after-start",
	// "after-route" of a deploy, "destroy" after the database part of
	// apps:destroy): a test hook for killing the daemon at that point.
	PauseAt string
	Logger  *slog.Logger

	// TLSMode is tls.mode: "off", "internal" or "acme".
	TLSMode string
	// CACertificate returns the PEM root of the proxy's local CA (tls.mode
	// "internal"); tls:ca prints it.
	CACertificate func() ([]byte, error)

	// Storage confines host directories storage:mount may bind.
	Storage StorageOptions

	// SSHAddr is the host:port users reach the SSH door at, for the git
	// remotes and ssh examples the doors print; "" prints HOST:PORT.
	SSHAddr string

	Backup BackupOptions // backups of the whole node (backup.go)

	Services ServiceOptions // database services (services.go)
}

// Daemon is the lifecycle engine.
type Daemon struct {
	opts   Options
	store  *store.Store
	rt     Runtime
	router Router
	log    *slog.Logger

	builds chan struct{} // build slots: a semaphore of build.concurrency
	sup    *supervisor
	logs   *logHub
	feeds  *deployFeeds // running deploys' output, for FollowDeploy
	obs    Observer
	cron   *scheduler
	gitops *gitOps            // git:sync's repository locks and poller (gitops.go)
	bgctx  context.Context    // lives until Close: background work hangs off it
	cancel context.CancelFunc // stops background work
	bg     sync.WaitGroup     // background goroutines

	goBuilder goBuilderState // the Go builder's container (gobuild.go)

	mu        sync.Mutex
	appLocks  map[string]*sync.Mutex
	upstreams map[string][]string           // app → serving web upstreams (host:port)
	running   map[string]context.CancelFunc // app → cancels its running build
	prunes    map[string]*bgPrune           // app → its image prune waiting or running (prune.go)
	roots     map[string]string             // app → static files root, for static releases
	sites     map[string]*proxy.Site        // app → how its static files are served (static.json)
	checking  map[string]bool               // container IDs in their health check (ps: starting)
	waiting   int                           // builds queued for a slot
	deploying atomic.Int32                  // pushes being deployed (see memory.go)
	pruning   atomic.Int32                  // background image prunes scheduled (see memory.go)
	trim      chan struct{}                 // a deploy burst ended (see memory.go)
	diskKick  chan struct{}                 // disk use changed (see disk.go)
	// checks carries readiness and health checks. It keeps no idle
	// connections: each check is against a new container, and the default
	// transport would hold one (two goroutines and buffers) per container
	// for 90 seconds after its deploy.
	checks  *http.Transport
	routeMu sync.Mutex // serialises route computation + apply
}

// New returns a Daemon; it does no I/O until Open.
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
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.CronMinInterval <= 0 {
		opts.CronMinInterval = time.Minute
	}
	d := &Daemon{
		opts:      opts,
		store:     opts.Store,
		rt:        opts.Runtime,
		router:    opts.Router,
		log:       opts.Logger,
		builds:    make(chan struct{}, opts.BuildConcurrency),
		sup:       newSupervisor(),
		logs:      newLogHub(opts.LogsDir, opts.LogsMaxBytes),
		feeds:     newDeployFeeds(),
		gitops:    newGitOps(),
		obs:       opts.Observer,
		appLocks:  map[string]*sync.Mutex{},
		upstreams: map[string][]string{},
		running:   map[string]context.CancelFunc{},
		trim:      make(chan struct{}, 1),
		diskKick:  make(chan struct{}, 1),
		checks:    &http.Transport{DisableKeepAlives: true},
		roots:     map[string]string{},
		sites:     map[string]*proxy.Site{},
	}
	d.cron = newScheduler(d)
	return d
}

// Open recovers from an unclean stop and routes every known app from what
// already runs, then returns: in the background it finishes interrupted
// destroys, reconciles containers with the database (every app's current
// release runs at its scale and is routed; containers no release wants are
// removed) and supervises containers until Close.
func (d *Daemon) Open(ctx context.Context) error {
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
		d.obs.DeployFinished(r.App, false)
	}
	if n, err := d.store.InterruptCronRuns(ctx, 0, nil); err != nil {
		return fmt.Errorf("recover cron runs: %w", err)
	} else if n > 0 {
		d.log.Warn("marked interrupted cron runs", "count", n)
	}
	d.bgctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := d.finishRenames(ctx); err != nil {
		d.Close()
		return err
	}
	plan, err := d.routeKnown(ctx)
	if err != nil {
		d.Close()
		return err
	}
	if err := d.cron.syncAll(ctx); err != nil {
		d.Close()
		return err
	}
	d.cron.cron.Start()
	d.startGitOps()
	// Bringing every app to its scale takes as long as the slowest app takes
	// to answer its health check: it runs behind the routes just installed,
	// while the daemon already accepts pushes and commands.
	d.bg.Add(4)
	go func() {
		defer d.bg.Done()
		d.watchLiveness(d.bgctx)
	}()
	// The disk work starts with an image prune that holds each app's lock
	// through a listing of Podman's images, which a busy Podman can take
	// many seconds over: it waits until every app is up.
	reconciled := make(chan struct{})
	go func() {
		defer d.bg.Done()
		select {
		case <-reconciled:
		case <-d.bgctx.Done():
			return
		}
		d.measureDisk(d.bgctx)
	}()
	go func() {
		defer d.bg.Done()
		d.finishDestroys(d.bgctx)
		plan = d.rebuildMissing(d.bgctx, plan) // a restored node has no images
		if err := d.reconcileApps(d.bgctx, plan); err != nil && d.bgctx.Err() == nil {
			d.log.Error("reconcile", "err", err)
		}
		close(reconciled)
		d.supervise(d.bgctx)
	}()
	go func() {
		defer d.bg.Done()
		d.trimMemory(d.bgctx)
	}()
	d.startBackups()
	d.startServices()
	return nil
}

// Close stops background work (the supervisor, pending restarts) and waits
// for it.
func (d *Daemon) Close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.cron.stop()
	d.bg.Wait()
	d.logs.close()
	d.closeGoBuilder()
}

// reconcileConcurrency bounds how many apps start containers and wait for
// their health checks at once after a restart.
const reconcileConcurrency = 4

// reconcilePlan is what routeKnown found: the apps that should run, and
// which of them are static sites (served already, nothing to start).
type reconcilePlan struct {
	apps     []store.App
	static   map[string]bool
	unwanted []podman.Container // of no current release, or one-offs of an earlier run
}

// Reconcile makes containers and routes match the database.
func (d *Daemon) Reconcile(ctx context.Context) error {
	plan, err := d.routeKnown(ctx)
	if err != nil {
		return err
	}
	return d.reconcileApps(ctx, plan)
}

// routeKnown installs a route for every app from what already runs: static
// sites and the running web containers of current releases serve at once,
// and an app with none answers 503 until reconcileApps brings it up.
func (d *Daemon) routeKnown(ctx context.Context) (reconcilePlan, error) {
	plan := reconcilePlan{static: map[string]bool{}}
	all, err := d.rt.List(ctx, d.labels(nil))
	if err != nil {
		return plan, err
	}
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		return plan, fmt.Errorf("list apps: %w", err)
	}
	wanted := map[string]store.App{}
	for _, a := range apps {
		if a.CurrentRelease > 0 && !a.Stopped {
			wanted[a.Name] = a
			plan.apps = append(plan.apps, a)
		}
	}
	byApp := map[string][]podman.Container{}
	for _, c := range all {
		app := c.Labels[labelApp]
		a, ok := wanted[app]
		if !ok || c.Labels[labelRelease] != strconv.Itoa(a.CurrentRelease) || c.Labels[labelOneOff] != "" || d.offAppNetwork(c) {
			plan.unwanted = append(plan.unwanted, c)
			continue
		}
		byApp[app] = append(byApp[app], c)
	}
	for _, a := range plan.apps {
		dir, err := d.staticDir(ctx, a.Name)
		if err == nil && dir != "" {
			err = d.linkStatic(a.Name, dir)
		}
		switch {
		case err != nil:
			d.log.Error("static site not served after reconcile", "app", a.Name, "err", err)
		case dir != "":
			plan.static[a.Name] = true
			d.serveStatic(a.Name, d.currentSite(ctx, a.Name))
		default:
			var running []podman.Container
			for _, c := range byApp[a.Name] {
				if c.Running {
					running = append(running, c)
				}
			}
			d.setUpstreams(a.Name, webUpstreams(running))
		}
	}
	if err := d.applyRoutes(ctx); err != nil {
		return plan, err
	}
	return plan, nil
}

// reconcileApps removes the containers no release wants, then brings each
// app of the plan to its scale, a few apps at a time, and routes each to its
// running web containers as soon as it is up.
func (d *Daemon) reconcileApps(ctx context.Context, plan reconcilePlan) error {
	for _, c := range plan.unwanted {
		d.log.Info("removing container no release wants", "container", c.Name, "app", c.Labels[labelApp], "release", c.Labels[labelRelease])
		d.removeContainer(ctx, c.ID)
	}
	sem := make(chan struct{}, reconcileConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, a := range plan.apps {
		if plan.static[a.Name] {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.reconcileApp(ctx, a.Name); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// reconcileApp brings one app to its scale under its lock; a deploy or
// command that got there first wins, and what it left is taken as is.
func (d *Daemon) reconcileApp(ctx context.Context, app string) error {
	lock := d.appLock(app)
	if err := lockCtx(ctx, lock); err != nil {
		return err
	}
	defer lock.Unlock()
	a, err := d.store.GetApp(ctx, app)
	if err != nil || a.Stopped {
		return nil // destroyed or stopped meanwhile
	}
	have, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: app, labelRelease: strconv.Itoa(a.CurrentRelease)}))
	if err != nil {
		return fmt.Errorf("%s: %w", app, err)
	}
	var cs []podman.Container
	for _, c := range have {
		if c.Labels[labelOneOff] == "" {
			cs = append(cs, c)
		}
	}
	running, err := d.ensureScale(ctx, app, cs, io.Discard)
	if err != nil {
		// One broken app must not keep the others unrouted.
		d.log.Error("app not fully running after reconcile", "app", app, "err", err)
	}
	ups := webUpstreams(running)
	d.mu.Lock()
	same := slices.Equal(d.upstreams[app], ups)
	d.mu.Unlock()
	if same {
		return nil
	}
	d.setUpstreams(app, ups)
	if err := d.applyRoutes(ctx); err != nil {
		return fmt.Errorf("%s: %w", app, err)
	}
	return nil
}

// staticDir returns the files directory of the app's current release when it
// is a static site, else "".
func (d *Daemon) staticDir(ctx context.Context, app string) (string, error) {
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		return "", err
	}
	spec, err := parseSpec(rel.Spec)
	return spec.Static, err
}

// ensureScale brings the current release's containers to the app's scale:
// stopped ones are started, missing ones created (web ones health-checked),
// extra ones stopped. It returns the containers that are running.
func (d *Daemon) ensureScale(ctx context.Context, app string, have []podman.Container, w io.Writer) ([]podman.Container, error) {
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		return nil, err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return nil, err
	}
	formation, err := d.store.Formation(ctx, app)
	if err != nil {
		return nil, err
	}
	scale := spec.scale(formation)
	byType := map[string][]podman.Container{}
	for _, c := range have {
		byType[c.Labels[labelProcess]] = append(byType[c.Labels[labelProcess]], c)
	}
	for typ, cs := range byType {
		if _, ok := scale[typ]; !ok {
			for _, c := range cs {
				d.stopContainer(ctx, c)
			}
		}
	}
	var running []podman.Container
	var errs []error
	for _, typ := range spec.types() {
		want := scale[typ]
		var up []podman.Container
		for _, c := range byType[typ] {
			if len(up) >= want {
				d.stopContainer(ctx, c)
				continue
			}
			if !c.Running {
				started, err := d.rt.Start(ctx, c.ID)
				if err == nil && typ == "web" {
					// Stopped (a reboot, a crash): it is routed only once it
					// answers again, like a new container.
					err = d.checkHealth(ctx, started, spec.Healthchecks["web"], w)
				}
				if ctx.Err() != nil {
					return running, ctx.Err() // shutting down: leave it for the next start
				}
				if err != nil {
					d.log.Error("start container", "container", c.Name, "err", err)
					d.removeContainer(ctx, c.ID)
					continue
				}
				c = started
			} else if c.HostPort == 0 && typ == "web" {
				if ic, err := d.rt.Inspect(ctx, c.ID); err == nil {
					c = ic
				}
			}
			d.collect(c)
			up = append(up, c)
		}
		for len(up) < want {
			c, err := d.startProcess(ctx, rel, spec, typ, w)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", typ, err))
				break
			}
			up = append(up, c)
		}
		running = append(running, up...)
	}
	return running, errors.Join(errs...)
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

// applyRoutes installs a route for every app with a release; one without
// running web containers answers 503 instead of 404.
func (d *Daemon) applyRoutes(ctx context.Context) error {
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		return fmt.Errorf("list apps: %w", err)
	}
	d.mu.Lock()
	routes := make([]proxy.Route, 0, len(apps))
	for _, a := range apps {
		// A first release is routed before it becomes current.
		if a.CurrentRelease == 0 && len(d.upstreams[a.Name]) == 0 && d.roots[a.Name] == "" {
			continue
		}
		routes = append(routes, proxy.Route{App: a.Name, Upstreams: d.upstreams[a.Name], Root: d.roots[a.Name], Site: d.sites[a.Name]})
	}
	d.mu.Unlock()
	for i := range routes {
		extra, err := d.store.Domains(ctx, routes[i].App)
		if err != nil {
			return fmt.Errorf("domains of %s: %w", routes[i].App, err)
		}
		routes[i].Hosts = append([]string{d.appHost(routes[i].App)}, extra...)
	}
	if err := d.router.Apply(ctx, routes); err != nil {
		return fmt.Errorf("apply routes: %w", err)
	}
	return nil
}

func (d *Daemon) appHost(app string) string { return app + "." + d.opts.BaseDomain }

// hostReserved refuses a host the daemon serves itself, which an app
// would otherwise shadow (or be shadowed by) at the proxy.
// app is "" for a domain, or the app whose default host it would be.
func (d *Daemon) hostReserved(host, app string) error {
	if !slices.Contains(d.opts.ReservedHosts, host) {
		return nil
	}
	msg := fmt.Sprintf("%s is the daemon's own host (the API and dashboard, [api] host)", host)
	if app != "" {
		msg = fmt.Sprintf("an app named %s would be served at %s, the daemon's own host (the API and dashboard, [api] host); choose another name", app, host)
	}
	return &Error{Msg: msg, Err: ErrDomainTaken}
}

// AppURL is where an app is served.
func (d *Daemon) AppURL(app string) string { return d.HostURL(d.appHost(app)) }

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
