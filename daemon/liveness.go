package daemon

// Liveness checks: app.json healthchecks.web entries of type "liveness"
// run periodically against the running web containers of each app's
// current release; a container that fails one `attempts` times in a row is
// replaced by a fresh, health-checked container of the same release, and a
// process:unhealthy event is stored.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// Liveness defaults where app.json leaves a field out, and how often the
// scheduler looks for due checks.
const (
	livenessTick     = time.Second
	livenessWait     = 10 * time.Second // between checks of one container
	livenessAttempts = 3                // failures in a row that make it unhealthy
	livenessTimeout  = 5 * time.Second  // per check
)

// livenessParams are a check's timings with defaults applied.
func livenessParams(hc buildpacks.Healthcheck) (wait, timeout, delay time.Duration, attempts int) {
	wait, timeout, delay, attempts = livenessWait, livenessTimeout, time.Duration(hc.InitialDelay)*time.Second, livenessAttempts
	if hc.Wait > 0 {
		wait = time.Duration(hc.Wait) * time.Second
	}
	if hc.Timeout > 0 {
		timeout = time.Duration(hc.Timeout) * time.Second
	}
	if hc.Attempts > 0 {
		attempts = hc.Attempts
	}
	return wait, timeout, delay, attempts
}

// livenessChecks returns the liveness checks of web processes.
func livenessChecks(spec releaseSpec) []buildpacks.Healthcheck {
	var out []buildpacks.Healthcheck
	for _, hc := range spec.Healthchecks["web"] {
		if hc.Type == "liveness" {
			out = append(out, hc)
		}
	}
	return out
}

// probeState is one check of one container.
type probeState struct {
	due      time.Time // next check
	failures int       // in a row
	last     string    // the last failure
	seen     bool      // still a target in the current round
}

// livenessTracker holds when each check of each container is due and how
// often it failed in a row. It does no I/O, so its logic is tested with a
// made-up clock.
type livenessTracker struct {
	mu     sync.Mutex
	probes map[string]*probeState // container ID + "/" + check index
	// releases keeps each app's liveness checks by its current release,
	// whose spec does not change: a round (every second) reads a release
	// and parses its spec only when the app's current release moved,
	// instead of once an app every round. Only the round's goroutine
	// uses it.
	releases map[string]releaseChecks // app name →
	// apps is the apps list a round reads, kept until the store changes.
	apps storeRead[[]store.App]
}

// releaseChecks are the liveness checks of one release of an app.
type releaseChecks struct {
	appID   int64 // an app destroyed and made again under its name is another app
	version int
	checks  []buildpacks.Healthcheck
}

func newLivenessTracker() *livenessTracker {
	return &livenessTracker{probes: map[string]*probeState{}, releases: map[string]releaseChecks{}}
}

// checksOf returns app a's current release's version and liveness checks,
// read from the store only when the release is not the one read before.
func (d *Daemon) checksOf(ctx context.Context, tr *livenessTracker, a store.App) (releaseChecks, error) {
	if rc, ok := tr.releases[a.Name]; ok && rc.appID == a.ID && rc.version == a.CurrentRelease {
		return rc, nil
	}
	rel, err := d.store.CurrentRelease(ctx, a.Name)
	if err != nil {
		return releaseChecks{}, err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return releaseChecks{}, err
	}
	rc := releaseChecks{appID: a.ID, version: rel.Version, checks: livenessChecks(spec)}
	tr.releases[a.Name] = rc
	return rc, nil
}

// due reports whether the check key is due at now; a check seen for the
// first time is due after the check's initial delay.
func (t *livenessTracker) due(key string, hc buildpacks.Healthcheck, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.probes[key]
	if !ok {
		_, _, delay, _ := livenessParams(hc)
		p = &probeState{due: now.Add(delay)}
		t.probes[key] = p
	}
	p.seen = true
	return !now.Before(p.due)
}

// record notes a check's outcome at now (errMsg "" for a pass) and
// reports whether the container is unhealthy: attempts failures in a row.
func (t *livenessTracker) record(key string, hc buildpacks.Healthcheck, errMsg string, now time.Time) (unhealthy bool, failures int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.probes[key]
	if !ok {
		p = &probeState{}
		t.probes[key] = p
	}
	wait, _, _, attempts := livenessParams(hc)
	p.due = now.Add(wait)
	if errMsg == "" {
		p.failures, p.last = 0, ""
		return false, 0
	}
	p.failures++
	p.last = errMsg
	return p.failures >= attempts, p.failures
}

// sweep forgets the checks that were not targets since the last sweep:
// their containers are gone or no longer current.
func (t *livenessTracker) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, p := range t.probes {
		if !p.seen {
			delete(t.probes, k)
			continue
		}
		p.seen = false
	}
}

// watchLiveness runs the liveness checks until ctx ends.
func (d *Daemon) watchLiveness(ctx context.Context) {
	tr := newLivenessTracker()
	tick := time.NewTicker(livenessTick)
	defer tick.Stop()
	client := &http.Client{Transport: d.checks}
	var replacing sync.Map // container ID → true while it is being replaced
	var wg sync.WaitGroup  // replacements in flight
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, u := range d.livenessRound(ctx, tr, client, time.Now()) {
			if _, busy := replacing.LoadOrStore(u.c.ID, true); busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer replacing.Delete(u.c.ID)
				d.replaceUnhealthy(ctx, u)
			}()
		}
		tr.sweep()
	}
}

// unhealthy is a container that failed a liveness check too often.
type unhealthy struct {
	app      string
	release  int
	c        podman.Container
	check    string
	failures int
	last     string
}

// livenessRound runs the checks due at now, all apps' at once, and returns
// the containers found unhealthy.
func (d *Daemon) livenessRound(ctx context.Context, tr *livenessTracker, client *http.Client, now time.Time) []unhealthy {
	apps, err := tr.apps.get(ctx, d.store, d.store.ListApps)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("liveness: list apps", "err", err)
		}
		return nil
	}
	var (
		mu  sync.Mutex
		out []unhealthy
		wg  sync.WaitGroup
	)
	listed := make(map[string]bool, len(apps))
	for _, a := range apps {
		listed[a.Name] = true
		if a.CurrentRelease == 0 || a.Stopped {
			continue
		}
		rel, err := d.checksOf(ctx, tr, a)
		if err != nil {
			continue
		}
		checks := rel.checks
		if len(checks) == 0 {
			continue
		}
		cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: a.Name, labelRelease: strconv.Itoa(rel.version), labelProcess: "web"}))
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("liveness: list containers", "app", a.Name, "err", err)
			}
			continue
		}
		for _, c := range cs {
			if !c.Running || c.HostPort == 0 || c.Labels[labelOneOff] != "" || d.inHealthCheck(c.ID) {
				continue
			}
			for i, hc := range checks {
				key := c.ID + "/" + strconv.Itoa(i)
				if !tr.due(key, hc, now) {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					msg := ""
					if err := probeLiveness(ctx, client, c, hc); err != nil {
						msg = err.Error()
					}
					if ctx.Err() != nil {
						return // shutting down: not the container's fault
					}
					bad, n := tr.record(key, hc, msg, time.Now())
					if msg != "" {
						d.log.Debug("liveness check failed", "app", a.Name, "container", c.Name, "failures", n, "err", msg)
					}
					if bad {
						mu.Lock()
						out = append(out, unhealthy{app: a.Name, release: rel.version, c: c, check: checkName(hc), failures: n, last: msg})
						mu.Unlock()
					}
				}()
			}
		}
	}
	wg.Wait()
	for app := range tr.releases {
		if !listed[app] {
			delete(tr.releases, app)
		}
	}
	return out
}

func checkName(hc buildpacks.Healthcheck) string {
	if hc.Name != "" {
		return hc.Name
	}
	if hc.Path != "" {
		return hc.Path
	}
	return "/"
}

// probeLiveness runs one liveness check: a GET of the path that must answer
// 2xx/3xx within the timeout and, when content is set, contain it.
func probeLiveness(ctx context.Context, client *http.Client, c podman.Container, hc buildpacks.Healthcheck) error {
	_, timeout, _, _ := livenessParams(hc)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := hc.Path
	if path == "" {
		path = "/"
	}
	status, body, err := get(ctx, client, "http://"+upstream(c.HostPort)+path)
	switch {
	case err != nil:
		return err
	case status < 200 || status >= 400:
		return fmt.Errorf("status %d", status)
	case hc.Content != "" && !strings.Contains(body, hc.Content):
		return fmt.Errorf("response does not contain %q", hc.Content)
	}
	return nil
}

// replaceUnhealthy starts a fresh web container of the same release, routes
// to it once it passes its health checks, then stops the unhealthy one
// (which finishes its in-flight requests), and records process:unhealthy.
// A deploy or command holding the app's lock wins: the check runs again
// next round.
func (d *Daemon) replaceUnhealthy(ctx context.Context, u unhealthy) {
	lock := d.appLock(u.app)
	if !lock.TryLock() {
		return
	}
	defer lock.Unlock()
	a, err := d.store.GetApp(ctx, u.app)
	if err != nil || a.Stopped || a.CurrentRelease != u.release {
		return // destroyed, stopped or redeployed meanwhile
	}
	if st, err := d.rt.Inspect(ctx, u.c.ID); err != nil || !st.Running {
		return // gone or crashed: the supervisor has it
	}
	rel, err := d.store.CurrentRelease(ctx, u.app)
	if err != nil {
		return
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return
	}
	d.log.Warn("container unhealthy; replacing it", "app", u.app, "container", u.c.Name, "check", u.check, "failures", u.failures, "last", u.last)
	msg := fmt.Sprintf("web container %s failed liveness check %s %d times in a row (last: %s)", u.c.Name, u.check, u.failures, u.last)
	data := map[string]any{"process": "web", "container": u.c.Name, "check": u.check, "failures": u.failures, "error": u.last}
	if st, err := d.store.DeployStrategy(ctx, u.app); err == nil && st == store.StrategyRecreate {
		d.retireBeforeReplacing(ctx, u.app, u.c) // one writer at a time
	}
	fresh, err := d.startProcess(ctx, rel, spec, "web", io.Discard)
	if err == nil {
		err = d.routeReplacement(ctx, u.app, u.c, fresh)
		if err != nil {
			d.removeContainer(context.WithoutCancel(ctx), fresh.ID)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		d.log.Error("replace unhealthy container", "app", u.app, "container", u.c.Name, "err", err)
		msg += fmt.Sprintf("; replacing it failed: %v", err)
	} else {
		d.stopContainer(context.WithoutCancel(ctx), u.c)
		msg += "; replaced by " + fresh.Name
		data["replacement"] = fresh.Name
	}
	if _, err := d.store.AddEvent(context.WithoutCancel(ctx), store.Event{Type: store.EventProcessUnhealthy, App: u.app, Message: msg, Data: data}); err != nil {
		d.log.Error("record unhealthy container", "err", err)
	}
}

// routeReplacement swaps bad's upstream for fresh's in the app's route.
func (d *Daemon) routeReplacement(ctx context.Context, app string, bad, fresh podman.Container) error {
	d.mu.Lock()
	prev := slices.Clone(d.upstreams[app])
	d.mu.Unlock()
	ups := slices.DeleteFunc(slices.Clone(prev), func(u string) bool { return u == upstream(bad.HostPort) })
	ups = append(ups, upstream(fresh.HostPort))
	d.setUpstreams(app, ups)
	if err := d.applyRoutes(ctx); err != nil {
		d.setUpstreams(app, prev)
		return err
	}
	return nil
}
