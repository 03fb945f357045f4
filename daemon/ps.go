package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// Process is one of an app's containers, as `ps` shows it.
type Process struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Version  int    `json:"version"` // the release it runs
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	// StartedAt is when the container last started; nil when unknown.
	StartedAt *time.Time `json:"started_at"`
	Upstream  string     `json:"upstream,omitempty"`
}

func (d *Daemon) appContainers(ctx context.Context, app string) ([]podman.Container, error) {
	cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: app}))
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if c.Labels[labelOneOff] == "" {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// setChecking marks a container as in (on) or out of its health check.
func (d *Daemon) setChecking(id string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !on {
		delete(d.checking, id)
		return
	}
	if d.checking == nil {
		d.checking = map[string]bool{}
	}
	d.checking[id] = true
}

// inHealthCheck reports whether the container is being health-checked.
func (d *Daemon) inHealthCheck(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checking[id]
}

// Processes lists the app's containers (one-offs aside) with their state
// and restarts.
func (d *Daemon) Processes(ctx context.Context, app string) ([]Process, error) {
	cs, err := d.appContainers(ctx, app)
	if err != nil {
		return nil, err
	}
	rows := []Process{}
	for _, ct := range cs {
		restarts, nextAt, code := d.sup.crashInfo(ct.ID)
		state := ct.State
		if !nextAt.IsZero() && !ct.Running {
			state = fmt.Sprintf("crashed (exit %d), restart #%d in %s", code, restarts, time.Until(nextAt).Round(time.Second))
		}
		if ct.Running && d.inHealthCheck(ct.ID) {
			state = "starting" // not serving until its health check passes
		}
		v, _ := strconv.Atoi(ct.Labels[labelRelease])
		row := Process{Name: ct.Name, Type: ct.Labels[labelProcess], Version: v, State: state, Restarts: restarts}
		if ct.Running && !ct.StartedAt.IsZero() {
			at := ct.StartedAt
			row.StartedAt = &at
		}
		if ct.HostPort != 0 {
			row.Upstream = upstream(ct.HostPort)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// withRelease runs fn under the app's deploy lock with its current release.
func (d *Daemon) withRelease(ctx context.Context, app string, out io.Writer, fn func(rel store.Release, spec releaseSpec, w *progress) error) error {
	w := &progress{w: out}
	unlock, err := d.lockApp(ctx, app, w)
	if err != nil {
		return err
	}
	defer unlock()
	rel, err := d.store.CurrentRelease(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoRelease
	}
	if err != nil {
		return err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return err
	}
	return fn(rel, spec, w)
}

// ScaleRequest sets how many containers of each process type run.
type ScaleRequest struct {
	App   string
	Scale map[string]int // process type → count
}

// Scale stores the app's new formation and brings the running containers
// to it without dropping requests, writing progress to out. A process type
// the current release lacks is a *Error matching ErrNoProcessType; a
// static site, which runs no process, matches ErrStaticSite.
func (d *Daemon) Scale(ctx context.Context, req ScaleRequest, out io.Writer) error {
	app := req.App
	// Checked here, not only by the doors, so every door has one bound.
	for _, typ := range slices.Sorted(maps.Keys(req.Scale)) {
		if n := req.Scale[typ]; n < 0 || n > MaxScale {
			return InputError{Msg: fmt.Sprintf("%s=%d: want a count from 0 to %d", typ, n, MaxScale)}
		}
	}
	return d.withRelease(ctx, app, out, func(rel store.Release, spec releaseSpec, w *progress) error {
		if spec.Static != "" {
			return fmt.Errorf("%s: %w", app, ErrStaticSite)
		}
		for typ := range req.Scale {
			if _, ok := spec.Processes[typ]; !ok || typ == "release" {
				return &Error{Msg: fmt.Sprintf("v%d has no process type %q (it has %s)", rel.Version, typ, strings.Join(spec.types(), ", ")), Err: ErrNoProcessType}
			}
		}
		if err := d.store.SetFormation(ctx, app, req.Scale); err != nil {
			return err
		}
		scale := map[string]any{}
		var parts []string
		for _, typ := range slices.Sorted(maps.Keys(req.Scale)) {
			scale[typ] = req.Scale[typ]
			parts = append(parts, fmt.Sprintf("%s=%d", typ, req.Scale[typ]))
		}
		// The formation is stored: record it even if the containers fail
		// to follow (the next start or deploy applies it).
		d.record(ctx, store.EventProcessScaled, app, fmt.Sprintf("%s scaled to %s", app, strings.Join(parts, " ")),
			map[string]any{"scale": scale})
		return d.rescale(ctx, app, w)
	})
}

// MaxScale bounds the containers of one process type on a single box, for
// ps:scale, the API, the dashboard and app.json's formation alike.
const MaxScale = buildpacks.MaxQuantity

// rescale brings the running containers to the formation without dropping
// requests: new web containers join the route once healthy; surplus ones
// leave the route before they are stopped.
func (d *Daemon) rescale(ctx context.Context, app string, w *progress) error {
	a, err := d.store.GetApp(ctx, app)
	if err != nil {
		return err
	}
	if a.Stopped {
		w.step("%s is stopped; the new scale applies at ps:start", app)
		return nil
	}
	have, err := d.appContainers(ctx, app)
	if err != nil {
		return err
	}
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		return err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return err
	}
	formation, err := d.store.Formation(ctx, app)
	if err != nil {
		return err
	}
	scale := spec.scale(formation)
	// Scale up first (new containers healthy before routing), then down.
	var keep, surplus []podman.Container
	count := map[string]int{}
	for _, ct := range have {
		typ := ct.Labels[labelProcess]
		if ct.Labels[labelRelease] == strconv.Itoa(rel.Version) && count[typ] < scale[typ] {
			count[typ]++
			keep = append(keep, ct)
		} else {
			surplus = append(surplus, ct)
		}
	}
	for _, typ := range spec.types() {
		for count[typ] < scale[typ] {
			w.step("Starting a %s container", typ)
			ct, err := d.startProcess(ctx, rel, spec, typ, w)
			if err != nil {
				return fmt.Errorf("%s: %w", typ, err)
			}
			keep = append(keep, ct)
			count[typ]++
		}
	}
	d.setUpstreams(app, webUpstreams(keep))
	if err := d.applyRoutes(ctx); err != nil {
		return err
	}
	for _, ct := range surplus {
		w.step("Stopping %s", ct.Name)
		d.stopContainer(context.WithoutCancel(ctx), ct)
	}
	var parts []string
	for _, typ := range spec.types() {
		parts = append(parts, fmt.Sprintf("%s=%d", typ, scale[typ]))
	}
	w.done("%s scaled: %s", app, strings.Join(parts, " "))
	return nil
}

// Restart replaces every container with a fresh one of the same release,
// health-checked before the route moves: a rolling restart. Config changed
// without a restart is deployed with it. Progress goes to out.
func (d *Daemon) Restart(ctx context.Context, app string, out io.Writer) error {
	return d.withRelease(ctx, app, out, func(rel store.Release, spec releaseSpec, w *progress) error {
		if err := d.store.SetStopped(ctx, app, false); err != nil {
			return err
		}
		d.cron.syncApp(ctx, app)
		// Config changed with --no-restart: the restart applies it.
		if vars, changed, err := d.pendingConfig(ctx, rel); err != nil {
			return err
		} else if changed {
			if _, err := d.redeployConfig(ctx, rel, vars, "config change", w); err != nil {
				return err
			}
			d.record(ctx, store.EventProcessRestarted, app, app+" restarted with the config changed since its last deploy", nil)
			w.done("%s restarted with the new config", app)
			return nil
		}
		if spec.Static != "" {
			w.done("%s is a static site: nothing runs, nothing to restart", app)
			return nil
		}
		if err := d.replaceContainers(ctx, rel, spec, w); err != nil {
			return err
		}
		d.record(ctx, store.EventProcessRestarted, app, fmt.Sprintf("%s restarted (v%d)", app, rel.Version), map[string]any{"version": rel.Version})
		w.done("%s restarted", app)
		return nil
	})
}

// Stop stops the app's containers until Start; its route answers 503.
func (d *Daemon) Stop(ctx context.Context, app string, out io.Writer) error {
	return d.withRelease(ctx, app, out, func(rel store.Release, spec releaseSpec, w *progress) error {
		a, err := d.store.GetApp(ctx, app)
		if err != nil {
			return err
		}
		cs, err := d.appContainers(ctx, app)
		if err != nil {
			return err
		}
		if a.Stopped && len(cs) == 0 {
			w.done("%s is already stopped (ps:start starts it)", app)
			return nil
		}
		if err := d.store.SetStopped(ctx, app, true); err != nil {
			return err
		}
		d.cron.syncApp(ctx, app)
		d.setUpstreams(app, nil)
		if err := d.applyRoutes(ctx); err != nil {
			return err
		}
		for _, ct := range cs {
			d.stopContainer(context.WithoutCancel(ctx), ct)
		}
		d.record(ctx, store.EventProcessStopped, app, fmt.Sprintf("%s stopped (%d container(s))", app, len(cs)), map[string]any{"containers": len(cs)})
		w.done("%s stopped (%d container(s)); it answers 503 until ps:start", app, len(cs))
		return nil
	})
}

// Start starts a stopped app at its scale. An app that is not stopped is
// left as it is.
func (d *Daemon) Start(ctx context.Context, app string, out io.Writer) error {
	return d.withRelease(ctx, app, out, func(rel store.Release, spec releaseSpec, w *progress) error {
		a, err := d.store.GetApp(ctx, app)
		if err != nil {
			return err
		}
		if !a.Stopped {
			w.done("%s is already running (ps:restart replaces its containers)", app)
			return nil
		}
		if err := d.store.SetStopped(ctx, app, false); err != nil {
			return err
		}
		d.cron.syncApp(ctx, app)
		d.record(ctx, store.EventProcessStarted, app, app+" started", nil)
		return d.rescale(ctx, app, w)
	})
}

// RollbackRequest names the release to go back to.
type RollbackRequest struct {
	App     string
	Version int // 0: the newest earlier release that served
}

// Rollback makes a new release from an old one's image, spec and config
// vars and deploys it like any other: no build, same health checks, same
// swap. It says which config vars the rollback removes, restores or
// changes (names only). Asking for the serving release is a *Error
// matching ErrAlreadyServing.
func (d *Daemon) Rollback(ctx context.Context, req RollbackRequest, out io.Writer) error {
	app := req.App
	return d.withRelease(ctx, app, out, func(cur store.Release, _ releaseSpec, w *progress) error {
		target, err := d.rollbackTarget(ctx, app, cur, req.Version)
		if err != nil {
			return err
		}
		if gone, err := d.imageGone(ctx, target); err != nil {
			return err
		} else if gone {
			return d.prunedError(target)
		}
		now, err := d.configVars(ctx, app)
		if err != nil {
			return err
		}
		then, err := d.releaseVars(target)
		if err != nil {
			return err
		}
		diff := diffVars(now, then)
		rel, err := d.store.CreateRelease(ctx, store.Release{
			App: app, Image: target.Image, BuildID: target.BuildID, CommitSHA: target.CommitSHA,
			Description: fmt.Sprintf("rollback to v%d", target.Version), Spec: target.Spec, Config: target.Config,
		})
		if err != nil {
			return err
		}
		w.step("Rolling back %s to v%d (%s) as v%d", app, target.Version, short(target.CommitSHA), rel.Version)
		if s := diff.String(); s != "" {
			w.step("Config vars as in v%d: %s", target.Version, s)
		}
		if err := d.deployRelease(ctx, rel, w); err != nil {
			d.failRelease(ctx, rel, err)
			return err
		}
		data := map[string]any{"version": rel.Version, "target_version": target.Version}
		diff.addTo(data)
		d.record(ctx, store.EventDeployRollback, app, fmt.Sprintf("%s rolled back to v%d as v%d", app, target.Version, rel.Version), data)
		if warn := d.noWebWarning(app, target.Spec); warn != "" {
			w.done("%s rolled back: v%d runs v%d's image %s", app, rel.Version, target.Version, warn)
			return nil
		}
		w.done("%s rolled back: v%d serves v%d's image at %s", app, rel.Version, target.Version, d.AppURL(app))
		return nil
	})
}

// varsDiff names the config vars a change removes, adds back and changes.
type varsDiff struct{ removed, restored, changed []string }

// diffVars compares the vars now with the ones a release brings back.
func diffVars(now, then map[string]string) varsDiff {
	var d varsDiff
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if v, ok := then[k]; !ok {
			d.removed = append(d.removed, k)
		} else if v != now[k] {
			d.changed = append(d.changed, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(then)) {
		if _, ok := now[k]; !ok {
			d.restored = append(d.restored, k)
		}
	}
	return d
}

// String is the diff for people, "" when nothing differs.
func (d varsDiff) String() string {
	var parts []string
	for _, p := range []struct {
		verb  string
		names []string
	}{{"removes", d.removed}, {"restores", d.restored}, {"changes", d.changed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.verb+" "+strings.Join(p.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// addTo puts the diff's non-empty lists into event data.
func (d varsDiff) addTo(data map[string]any) {
	for k, v := range map[string][]string{"config_removed": d.removed, "config_restored": d.restored, "config_changed": d.changed} {
		if len(v) > 0 {
			data[k] = v
		}
	}
}

// rollbackTarget is release v, or without one the newest release before
// cur that served, as Heroku's rollback picks.
func (d *Daemon) rollbackTarget(ctx context.Context, app string, cur store.Release, v int) (store.Release, error) {
	if v > 0 {
		if v == cur.Version {
			return store.Release{}, &Error{Msg: fmt.Sprintf("v%d is already serving", v), Err: ErrAlreadyServing}
		}
		r, err := d.store.GetRelease(ctx, app, v)
		if errors.Is(err, store.ErrNotFound) {
			return store.Release{}, InputError{fmt.Sprintf("%s has no release v%d (releases %s lists them)", app, v, app)}
		}
		if err != nil {
			return store.Release{}, err
		}
		if r.Status == store.ReleaseFailed || r.Status == store.ReleasePending {
			return store.Release{}, InputError{fmt.Sprintf("release v%d never served (%s); pick one that did", v, r.Status)}
		}
		return r, nil
	}
	rels, err := d.store.ListReleases(ctx, app, keptReleases)
	if err != nil {
		return store.Release{}, err
	}
	for _, r := range rels {
		if r.Version < cur.Version && r.Status == store.ReleaseSuperseded {
			return r, nil
		}
	}
	return store.Release{}, InputError{fmt.Sprintf("%s has no release before v%d that served: nothing to roll back to", app, cur.Version)}
}

// CancelBuild stops the app's running build; its push fails. No build
// running matches store.ErrNotFound.
func (d *Daemon) CancelBuild(_ context.Context, app string) error {
	d.mu.Lock()
	cancel, ok := d.running[app]
	d.mu.Unlock()
	if !ok {
		return &Error{Msg: fmt.Sprintf("no build of %s is running", app), Err: store.ErrNotFound}
	}
	cancel()
	return nil
}
