package daemon

import (
	"context"
	"slices"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// recreateContainers is replaceContainers for deploy strategy recreate:
// an app with one writer (SQLite on a volume) never has two containers
// at once. The route answers 503 with Retry-After while the old
// containers stop and the new ones start; when the new ones fail, the
// current release is started again.
func (d *Daemon) recreateContainers(ctx context.Context, rel store.Release, spec releaseSpec, scale map[string]int, w *progress) error {
	w.step("Deploy strategy recreate: stopping %s's containers before v%d starts; the app is down until the new ones pass their health checks", rel.App, rel.Version)
	d.setUpstreams(rel.App, nil)
	if err := d.applyRoutes(ctx); err != nil {
		return err
	}
	d.retire(ctx, rel.App, nil, w)
	started, err := d.startRelease(ctx, rel, spec, scale, w)
	if err != nil {
		d.restartCurrent(ctx, rel.App, w)
		return err
	}
	d.pause(ctx, "after-start", w)
	if err := d.swap(ctx, rel, started, w); err != nil {
		for _, c := range started {
			d.removeContainer(context.WithoutCancel(ctx), c.ID)
		}
		d.restartCurrent(ctx, rel.App, w)
		return err
	}
	return nil
}

// restartCurrent brings the app's current release back to its scale and
// routes it, after a recreate stopped it for a release that failed. The
// caller holds the app's lock.
func (d *Daemon) restartCurrent(ctx context.Context, app string, w *progress) {
	ctx = context.WithoutCancel(ctx)
	a, err := d.store.GetApp(ctx, app)
	if err != nil || a.CurrentRelease == 0 || a.Stopped {
		return
	}
	w.step("Starting v%d again", a.CurrentRelease)
	running, err := d.ensureScale(ctx, app, nil, w)
	if err != nil {
		d.log.Error("restart the current release after a failed recreate", "app", app, "err", err)
	}
	d.setUpstreams(app, webUpstreams(running))
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("route the current release after a failed recreate", "app", app, "err", err)
	}
}

// retireBeforeReplacing takes c out of the app's route and stops it, so
// that the container replacing it (an unhealthy one's, with strategy
// recreate) never runs beside it.
func (d *Daemon) retireBeforeReplacing(ctx context.Context, app string, c podman.Container) {
	d.mu.Lock()
	ups := slices.DeleteFunc(slices.Clone(d.upstreams[app]), func(u string) bool { return u == upstream(c.HostPort) })
	d.mu.Unlock()
	d.setUpstreams(app, ups)
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("route around a container to replace", "app", app, "err", err)
	}
	d.stopContainer(context.WithoutCancel(ctx), c)
}
