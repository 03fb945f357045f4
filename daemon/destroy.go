package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// cmdAppsDestroy removes an app and everything it owns: containers, images,
// routes, repository, static files, log history, and (through the
// database) releases, builds, domains and config vars.
func (d *Daemon) cmdAppsDestroy(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	if !c.flags["--force"] {
		return usageError{fmt.Sprintf("this deletes %s with its releases, config vars and data; repeat with --force", app)}
	}
	lock := d.appLock(app)
	if err := lockCtx(ctx, lock); err != nil {
		return err
	}
	defer lock.Unlock()
	ctx = context.WithoutCancel(ctx) // half a destroy helps nobody

	if _, err := d.store.GetApp(ctx, app); err != nil {
		return err
	}
	// The database first: once the app is gone there, a crash at any later
	// step only leaves garbage that reconcile (containers) or a retry removes.
	doms, _ := d.store.Domains(ctx, app)
	if err := d.store.DeleteApp(ctx, app); err != nil {
		return err
	}
	d.cron.syncApp(ctx, app)
	d.setUpstreams(app, nil)
	d.mu.Lock()
	delete(d.roots, app)
	d.mu.Unlock()
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("remove routes of destroyed app", "app", app, "err", err)
	}
	cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: app}))
	if err != nil {
		return err
	}
	for _, ct := range cs {
		d.stopContainer(ctx, ct)
	}
	removedImages, err := d.removeImages(ctx, app)
	if err != nil {
		// The app is gone already; leftover images only cost disk.
		d.log.Warn("remove images of destroyed app", "app", app, "err", err)
	}
	for _, p := range []string{filepath.Join(d.opts.ReposDir, app+".git"), filepath.Join(d.opts.StaticDir, app)} {
		if err := os.RemoveAll(p); err != nil {
			d.log.Error("remove app files", "path", p, "err", err)
		}
	}
	d.logs.remove(app)
	fmt.Fprintf(c.out, "Destroyed %s: %d container(s), %d image(s), %d domain(s), its repository, config vars, releases, builds and logs\n",
		app, len(cs), removedImages, len(doms))
	return nil
}

// removeImages removes the app's images. Build layers depend on each
// other, so it removes in rounds until no more can go.
func (d *Daemon) removeImages(ctx context.Context, app string) (int, error) {
	removed := 0
	for round := 0; round < 10; round++ {
		ids, err := d.rt.ImageIDs(ctx, d.labels(map[string]string{labelApp: app}))
		if err != nil {
			return removed, err
		}
		progress := false
		for _, id := range ids {
			if err := d.rt.RemoveImage(ctx, id); err != nil {
				continue // a child layer goes first; next round
			}
			removed++
			progress = true
		}
		if len(ids) == 0 || !progress {
			if len(ids) > 0 {
				d.log.Warn("images of destroyed app left", "app", app, "count", len(ids))
			}
			break
		}
	}
	return removed, nil
}
