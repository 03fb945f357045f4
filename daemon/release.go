package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// releaseSpec is how a release runs; it is stored with the release so a
// rollback or a restart needs neither the repository nor a build.
type releaseSpec struct {
	// Processes maps a process type to its command; "" runs the image's
	// default command. "release" runs once per deploy, before the swap.
	Processes    map[string]string                   `json:"processes"`
	Healthchecks map[string][]buildpacks.Healthcheck `json:"healthchecks,omitempty"`
	// Static names the directory of a static site's files under
	// StaticDir/<app>; such a release runs no container.
	Static string `json:"static,omitempty"`
	// Site is the static site's static.json, how its files are served.
	Site *buildpacks.StaticConfig `json:"site,omitempty"`
	// Cron lists app.json's scheduled commands.
	Cron []cronJob `json:"cron,omitempty"`
	// Formation is app.json's scale, for types with no quantity set.
	Formation map[string]int `json:"formation,omitempty"`
	// Predeploy and Postdeploy are app.json's scripts.dokku hooks.
	Predeploy  string `json:"predeploy,omitempty"`
	Postdeploy string `json:"postdeploy,omitempty"`
	// WebPort is the port the web process was found listening on when it
	// ignored $PORT (see ports.go); its containers publish it. 0: $PORT.
	WebPort int `json:"web_port,omitempty"`
}

func specJSON(s releaseSpec) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode release spec: %w", err)
	}
	return b, nil
}

func parseSpec(b []byte) (releaseSpec, error) {
	var s releaseSpec
	if len(b) > 0 {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("release spec: %w", err)
		}
	}
	if len(s.Processes) == 0 && s.Static == "" {
		s.Processes = map[string]string{"web": ""}
	}
	return s, nil
}

// types returns the long-running process types, web first, then by name.
func (s releaseSpec) types() []string {
	var out []string
	for t := range s.Processes {
		if t != "release" {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == "web") != (out[j] == "web") {
			return out[i] == "web"
		}
		return out[i] < out[j]
	})
	return out
}

// scale returns how many containers of each type run: the formation where
// set, else app.json's, else one of each.
func (s releaseSpec) scale(formation map[string]int) map[string]int {
	out := map[string]int{}
	for _, t := range s.types() {
		n, ok := formation[t]
		if !ok {
			n, ok = s.Formation[t]
		}
		if !ok {
			n = 1
		}
		out[t] = n
	}
	return out
}

// shellCommand is the container command for a Procfile command: run through a
// shell so $PORT and friends expand. A simple command is exec'd so signals
// reach the app; a compound one ("a && b", "x; exit 3") runs as written.
func shellCommand(cmd string) []string {
	if cmd == "" {
		return nil
	}
	if !strings.ContainsAny(cmd, ";&|<>()`\n") {
		cmd = "exec " + cmd
	}
	return []string{"/bin/sh", "-c", cmd}
}

func randomSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startProcess starts one container of a process type from rel; web
// containers must pass their health checks before this returns.
func (d *Daemon) startProcess(ctx context.Context, rel store.Release, spec releaseSpec, typ string, w io.Writer) (podman.Container, error) {
	lim, err := d.appLimits(ctx, rel.App)
	if err != nil {
		return podman.Container{}, err
	}
	env, err := d.processEnv(rel, typ, map[string]string{"PORT": strconv.Itoa(webPort)})
	if err != nil {
		return podman.Container{}, err
	}
	network, err := d.ensureAppNetwork(ctx, rel.App)
	if err != nil {
		return podman.Container{}, err
	}
	mounts, err := d.containerMounts(ctx, rel.App)
	if err != nil {
		return podman.Container{}, err
	}
	cs := podman.ContainerSpec{
		MemoryBytes: lim.MemoryBytes, CPUs: lim.CPUs, Pids: lim.Pids,
		Name:    fmt.Sprintf("xcloud-%s-%s-v%d-%s", rel.App, typ, rel.Version, randomSuffix()),
		Image:   rel.Image,
		Command: shellCommand(spec.Processes[typ]),
		Env:     env,
		Labels: d.labels(map[string]string{
			labelApp: rel.App, labelRelease: strconv.Itoa(rel.Version), labelProcess: typ,
		}),
		StopGrace: d.opts.StopGrace,
		Network:   network,
		Mounts:    mounts,
		Hosts:     d.serviceHosts(ctx, rel.App),
	}
	if typ == "web" {
		cs.Port = d.webPortOf(ctx, rel, spec)
	}
	ph := phasesOf(ctx)
	ph.mark("container setup")
	c, err := d.rt.Run(ctx, cs)
	if err != nil {
		return podman.Container{}, err
	}
	d.collect(c)
	ph.mark("container start")
	if typ != "web" {
		return c, nil
	}
	err = d.checkHealth(ctx, c, spec.Healthchecks["web"], w)
	ph.mark("health check")
	if port, ok := otherPort(err); ok {
		if c, err = d.republish(ctx, rel, spec, cs, c, port, w); c.ID == "" {
			return podman.Container{}, err
		}
	}
	if err != nil {
		logs, _ := d.rt.Logs(context.WithoutCancel(ctx), c.ID, 20)
		d.removeContainer(context.WithoutCancel(ctx), c.ID)
		if logs = strings.TrimSpace(logs); logs != "" {
			fmt.Fprintf(w, "       last output of %s:\n%s\n", c.Name, indentLines(logs))
		}
		return podman.Container{}, err
	}
	return c, nil
}

// startRelease starts every process of rel at its scale. On failure it
// removes what it started, so nothing half-started lingers.
func (d *Daemon) startRelease(ctx context.Context, rel store.Release, spec releaseSpec, scale map[string]int, w *progress) ([]podman.Container, error) {
	var started []podman.Container
	fail := func(err error) ([]podman.Container, error) {
		for _, c := range started {
			d.removeContainer(context.WithoutCancel(ctx), c.ID)
		}
		return nil, err
	}
	for _, typ := range spec.types() {
		n := scale[typ]
		if n == 0 {
			continue
		}
		if typ == "web" {
			w.step("Starting %d web container(s); waiting for health checks", n)
		} else {
			w.step("Starting %d %s container(s)", n, typ)
		}
		for i := 0; i < n; i++ {
			c, err := d.startProcess(ctx, rel, spec, typ, w)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", typ, err))
			}
			started = append(started, c)
		}
	}
	// Workers have no health check: they must at least still be running.
	for _, c := range started {
		if c.Labels[labelProcess] == "web" {
			continue
		}
		st, err := d.rt.Inspect(ctx, c.ID)
		if err != nil {
			return fail(err)
		}
		if !st.Running {
			logs, _ := d.rt.Logs(context.WithoutCancel(ctx), c.ID, 20)
			fmt.Fprintf(w, "       last output of %s:\n%s\n", c.Name, indentLines(strings.TrimSpace(logs)))
			return fail(fmt.Errorf("%s exited with status %d right after starting", c.Labels[labelProcess], st.ExitCode))
		}
	}
	return started, nil
}

// runReleaseCommand runs the Procfile's release process once from the new
// image, streaming its output; a non-zero exit fails the deploy.
func (d *Daemon) runReleaseCommand(ctx context.Context, rel store.Release, spec releaseSpec, w *progress) error {
	cmd, ok := spec.Processes["release"]
	if !ok {
		return nil
	}
	return d.runOneOffStep(ctx, rel, "release", "release command", cmd, w, nil)
}

// runToEnd streams a one-off container's output while waiting for it to
// exit, and returns its exit code.
func (d *Daemon) runToEnd(ctx context.Context, id string, w io.Writer) (int, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		if err := d.rt.FollowLogs(lctx, id, w); err != nil {
			d.log.Warn("follow one-off output", "container", id, "err", err)
		}
	}()
	code, err := d.rt.Wait(ctx, id)
	// Podman 4.3 may keep a followed log stream open after the exit: give it
	// a bounded moment to deliver the last lines, then end it.
	select {
	case <-logsDone:
	case <-time.After(2 * time.Second):
	}
	cancel()
	<-logsDone
	return code, err
}

// deployRelease runs rel: release command, new containers, health checks,
// route switch, activation, then retires every other container of the app.
// Until the route switches, the serving release is untouched.
func (d *Daemon) deployRelease(ctx context.Context, rel store.Release, w *progress) error {
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return err
	}
	if spec.Static != "" {
		return d.swapStatic(ctx, rel, spec.Static, w)
	}
	w.step("Releasing v%d", rel.Version)
	rel, err = d.runPredeploy(ctx, rel, spec, w)
	if err != nil {
		return err
	}
	if err := d.runReleaseCommand(ctx, rel, spec, w); err != nil {
		return err
	}
	phasesOf(ctx).mark("release command")
	if err := d.replaceContainers(ctx, rel, spec, w); err != nil {
		return err
	}
	d.runPostdeploy(ctx, rel, spec, w)
	phasesOf(ctx).mark("postdeploy")
	return nil
}

// replaceContainers starts a fresh set of rel's containers at the app's
// scale and swaps them in; on failure the fresh ones are removed and the
// serving ones keep serving. Deploys and rolling restarts share it.
func (d *Daemon) replaceContainers(ctx context.Context, rel store.Release, spec releaseSpec, w *progress) error {
	formation, err := d.store.Formation(ctx, rel.App)
	if err != nil {
		return err
	}
	if strategy, err := d.store.DeployStrategy(ctx, rel.App); err != nil {
		return err
	} else if strategy == store.StrategyRecreate {
		return d.recreateContainers(ctx, rel, spec, spec.scale(formation), w)
	}
	started, err := d.startRelease(ctx, rel, spec, spec.scale(formation), w)
	if err != nil {
		return err
	}
	d.pause(ctx, "after-start", w)
	if err := d.swap(ctx, rel, started, w); err != nil {
		for _, c := range started {
			d.removeContainer(context.WithoutCancel(ctx), c.ID)
		}
		return err
	}
	return nil
}

// swap routes the app to the given containers, makes rel current, and
// retires every other container of the app.
func (d *Daemon) swap(ctx context.Context, rel store.Release, keep []podman.Container, w *progress) error {
	checked := time.Now() // the new containers passed their health checks
	d.mu.Lock()
	prev, prevRoot := d.upstreams[rel.App], d.roots[rel.App]
	delete(d.roots, rel.App)
	d.mu.Unlock()
	restore := func() {
		d.setUpstreams(rel.App, prev)
		if prevRoot != "" {
			d.mu.Lock()
			d.roots[rel.App] = prevRoot
			d.mu.Unlock()
		}
	}
	d.setUpstreams(rel.App, webUpstreams(keep))
	if err := d.applyRoutes(ctx); err != nil {
		restore()
		return err
	}
	// From here every new request goes to the new containers.
	moved := time.Since(checked)
	ph := phasesOf(ctx)
	ph.mark("route swap")
	d.pause(ctx, "after-route", w)
	// Past this point the outcome is recorded even if the pusher went away.
	ctx = context.WithoutCancel(ctx)
	if err := d.activate(ctx, rel); err != nil {
		restore()
		if rerr := d.applyRoutes(ctx); rerr != nil {
			d.log.Error("restore routes", "app", rel.App, "err", rerr)
		}
		return fmt.Errorf("activate release: %w", err)
	}
	d.obs.DeployFinished(rel.App, true)
	d.cron.syncApp(context.WithoutCancel(ctx), rel.App)
	w.step("Routing %s to v%d (traffic moved %.2fms after the health checks passed)",
		d.appHost(rel.App), rel.Version, float64(moved.Microseconds())/1000)
	ph.mark("activate")
	d.retire(ctx, rel.App, keep, w)
	ph.mark("retire old")
	d.pruneStatic(ctx, rel.App) // the app may have been a static site
	d.pruneLater(rel.App)
	ph.mark("prune")
	return nil
}

func webUpstreams(cs []podman.Container) []string {
	var ups []string
	for _, c := range cs {
		if c.Labels[labelProcess] == "web" && c.HostPort != 0 {
			ups = append(ups, upstream(c.HostPort))
		}
	}
	return ups
}

// retire stops and removes the app's containers that are not in keep. Web
// containers are already out of the route, so they only finish in-flight
// requests: SIGTERM, then SIGKILL after the stop grace.
func (d *Daemon) retire(ctx context.Context, app string, keep []podman.Container, w *progress) {
	cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: app}))
	if err != nil {
		d.log.Error("list containers to retire", "app", app, "err", err)
		return
	}
	kept := map[string]bool{}
	for _, c := range keep {
		kept[c.ID] = true
	}
	var old []podman.Container
	for _, c := range cs {
		if !kept[c.ID] && c.Labels[labelOneOff] == "" {
			old = append(old, c)
		}
	}
	if len(old) == 0 {
		return
	}
	w.step("Stopping %d old container(s)", len(old))
	for _, c := range old {
		d.stopContainer(ctx, c)
	}
}

// stopContainer stops and removes a container the supervisor must not
// restart.
func (d *Daemon) stopContainer(ctx context.Context, c podman.Container) {
	d.sup.expectStop(c.ID)
	if err := d.rt.Stop(ctx, c.ID, d.opts.StopGrace); err != nil {
		d.log.Error("stop container", "container", c.Name, "err", err)
	}
	d.removeContainer(ctx, c.ID)
}

func (d *Daemon) removeContainer(ctx context.Context, id string) {
	d.sup.expectStop(id)
	if err := d.rt.Remove(ctx, id); err != nil {
		d.log.Error("remove container", "container", id, "err", err)
	}
	d.sup.forget(id)
}

// pause blocks at a named point of the deploy when the test hook asks for
// it, so tests can kill the daemon at a chosen moment.
func (d *Daemon) pause(ctx context.Context, point string, w io.Writer) {
	if d.opts.PauseAt != point {
		return
	}
	fmt.Fprintf(w, "-----> test hook: paused at %s\n", point)
	<-ctx.Done()
}
