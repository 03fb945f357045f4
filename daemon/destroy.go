package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Destroyed is what Destroy removed.
type Destroyed struct {
	Containers int `json:"containers"`
	Images     int `json:"images"`
	Domains    int `json:"domains"`
	// KeptVolumes are the app's volumes left with their data (see
	// DestroyWithVolumes); DeletedVolumes the ones deleted.
	KeptVolumes    []string `json:"kept_volumes"`
	DeletedVolumes []string `json:"deleted_volumes"`
}

// Destroy removes an app and everything it owns: containers, images,
// routes, repository, static files, log history, and (through the
// database) releases, builds, domains and config vars. out gets the
// test hook's pause line only. The app's volumes stay with their data.
func (d *Daemon) Destroy(ctx context.Context, app string, out io.Writer) (Destroyed, error) {
	return d.destroy(ctx, app, false, out)
}

// DestroyWithVolumes is Destroy that also deletes the app's volumes and
// their data, except those another app mounts too.
func (d *Daemon) DestroyWithVolumes(ctx context.Context, app string, out io.Writer) (Destroyed, error) {
	return d.destroy(ctx, app, true, out)
}

func (d *Daemon) destroy(ctx context.Context, app string, volumes bool, out io.Writer) (Destroyed, error) {
	lock := d.appLock(app)
	if err := lockCtx(ctx, lock); err != nil {
		return Destroyed{}, err
	}
	defer lock.Unlock()
	pauseCtx := ctx
	ctx = context.WithoutCancel(ctx) // half a destroy helps nobody

	if _, err := d.store.GetApp(ctx, app); err != nil {
		return Destroyed{}, err
	}
	// The database first, leaving a tombstone: once the app is gone there,
	// a crash at any later step leaves remains that the next start (or a new
	// app of the same name) removes before anything else sees them.
	doms, _ := d.store.Domains(ctx, app)
	mounts, err := d.store.Mounts(ctx, app)
	if err != nil {
		return Destroyed{}, err
	}
	if err := d.store.DeleteApp(ctx, app); err != nil {
		return Destroyed{}, err
	}
	d.pause(pauseCtx, "destroy", out)
	d.cron.syncApp(ctx, app)
	d.setUpstreams(app, nil)
	d.mu.Lock()
	delete(d.roots, app)
	delete(d.sites, app)
	d.mu.Unlock()
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("remove routes of destroyed app", "app", app, "err", err)
	}
	gone, err := d.removeRemains(ctx, app)
	if err != nil {
		// Its containers may be left: every volume stays, and says so.
		if kept, _ := d.dropVolumes(ctx, app, mounts, false); len(kept) > 0 {
			return Destroyed{}, fmt.Errorf("%s is destroyed (its volumes %s keep their data); removing its files, containers and images failed and will be retried when xcloud restarts: %w", app, strings.Join(kept, ", "), err)
		}
		return Destroyed{}, fmt.Errorf("%s is destroyed; removing its files, containers and images failed and will be retried when xcloud restarts: %w", app, err)
	}
	kept, deleted := d.dropVolumes(ctx, app, mounts, volumes)
	return Destroyed{Containers: gone.containers, Images: gone.images, Domains: len(doms), KeptVolumes: kept, DeletedVolumes: deleted}, nil
}

type remains struct{ containers, images int }

// removeRemains removes what an app that no longer exists in the database
// had outside it: containers, images, network, repository, static files and
// log history (moved to the new name if it was renamed), then its
// tombstone. Every step tolerates a previous partial run,
// so it finishes a destroy that a crash interrupted. The caller holds the
// app's lock.
func (d *Daemon) removeRemains(ctx context.Context, app string) (remains, error) {
	var gone remains
	// A renamed app's files belong to its new name: they move, not go.
	ts, err := d.store.Tombstones(ctx)
	if err != nil {
		return gone, err
	}
	for _, t := range ts {
		if t.Name == app && t.RenamedTo != "" {
			d.moveFiles(app, t.RenamedTo)
		}
	}
	cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: app}))
	if err != nil {
		return gone, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range cs {
		d.stopContainer(ctx, ct)
	}
	gone.containers = len(cs)
	var errs []error
	// An image left behind could be named in a new app's FROM line: it
	// keeps the tombstone like any other remain.
	if gone.images, err = d.removeImages(ctx, app); err != nil {
		errs = append(errs, err)
	}
	d.leaveAppNetwork(ctx, app) // linked services; their links went with the app's rows
	if err := d.removeAppNetwork(ctx, app); err != nil {
		errs = append(errs, err) // a new app of the same name must not inherit it
	}
	for _, p := range []string{filepath.Join(d.opts.ReposDir, app+".git"), filepath.Join(d.opts.StaticDir, app)} {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	d.logs.remove(app)
	if err := errors.Join(errs...); err != nil {
		return gone, err
	}
	return gone, d.store.ClearTombstone(ctx, app)
}

// createApp creates an app after removing anything an earlier app of the
// same name left behind, so a new app never sees an old one's code, files,
// logs or images.
func (d *Daemon) createApp(ctx context.Context, app string) (store.App, error) {
	if err := store.ValidateAppName(app); err != nil {
		return store.App{}, err
	}
	if err := d.hostReserved(d.appHost(app), app); err != nil {
		return store.App{}, err
	}
	lock := d.appLock(app)
	if err := lockCtx(ctx, lock); err != nil {
		return store.App{}, err
	}
	defer lock.Unlock()
	if _, err := d.store.GetApp(ctx, app); err == nil {
		return store.App{}, fmt.Errorf("create app %q: %w", app, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.App{}, err
	}
	// Only a destroy or rename that did not finish leaves containers,
	// images or a network behind, and it leaves a tombstone: without one
	// there is nothing to ask Podman for (its image listing can wait
	// minutes behind builds), only files to make sure of.
	ts, err := d.store.Tombstones(ctx)
	if err != nil {
		return store.App{}, err
	}
	if slices.ContainsFunc(ts, func(t store.Tombstone) bool { return t.Name == app }) {
		if _, err := d.removeRemains(context.WithoutCancel(ctx), app); err != nil {
			return store.App{}, fmt.Errorf("remove what an earlier app %s left: %w", app, err)
		}
	} else {
		for _, p := range []string{filepath.Join(d.opts.ReposDir, app+".git"), filepath.Join(d.opts.StaticDir, app)} {
			if err := os.RemoveAll(p); err != nil {
				return store.App{}, fmt.Errorf("remove what an earlier app %s left: %w", app, err)
			}
		}
		d.logs.remove(app)
	}
	return d.store.CreateApp(ctx, app)
}

// finishDestroys removes the remains of every app whose destroy a crash
// interrupted.
func (d *Daemon) finishDestroys(ctx context.Context) {
	ts, err := d.store.Tombstones(ctx)
	if err != nil {
		d.log.Error("list unfinished destroys", "err", err)
		return
	}
	for _, t := range ts {
		app := t.Name
		lock := d.appLock(app)
		if err := lockCtx(ctx, lock); err != nil {
			return
		}
		if _, err := d.store.GetApp(ctx, app); errors.Is(err, store.ErrNotFound) {
			if _, err := d.removeRemains(ctx, app); err != nil {
				d.log.Error("finish destroying app", "app", app, "err", err)
			} else {
				d.log.Info("finished destroying app", "app", app)
			}
		}
		lock.Unlock()
	}
}

// removeImages removes the app's images. Build layers depend on each
// other, so it removes in rounds until none is left. Under load Podman's
// listing and removal fail now and then (an image removed by a build beside
// it mid-listing): a round without progress waits and tries again, up to a
// bound, rather than leaving images behind.
func (d *Daemon) removeImages(ctx context.Context, app string) (int, error) {
	const patience = 30 * time.Second
	removed := 0
	deadline := time.Now().Add(patience)
	var lastErr error
	for {
		ids, err := d.rt.ImageIDs(ctx, d.labels(map[string]string{labelApp: app}))
		if err == nil && len(ids) == 0 {
			return removed, nil
		}
		progress := false
		if err != nil {
			lastErr = err
		}
		for _, id := range ids {
			if err := d.rt.RemoveImage(ctx, id); err != nil {
				lastErr = err // a child layer goes first; next round
				continue
			}
			removed++
			progress = true
		}
		if progress {
			continue
		}
		if time.Now().After(deadline) {
			return removed, fmt.Errorf("%d image(s) left after %s: %w", len(ids), patience, lastErr)
		}
		select {
		case <-ctx.Done():
			return removed, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
