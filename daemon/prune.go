package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// Images and what keeps them.
//
// A build makes the image localhost/xcloud/APP:bN and, on its way, untagged
// build layers; app.json's predeploy commits an untagged image per release
// (it carries an empty xcloud.oneoff label). Releases name their image by
// ID, and config changes and rollbacks reuse an earlier release's image, so
// what is kept is counted by image: the current release's image and those
// of the Options.KeepReleases newest releases before it that served and run
// another image. Every other release image of the app is removed once a
// deploy is live. Untagged leaf build layers (the end of a builder stage,
// with the dependency layers below it) are the build cache: the app keeps
// those of its newest build, and all of them together stay under
// Options.BuildCacheMax.

// keptImages returns the images an app's releases keep, given its releases
// (any order) and how many images before the current one to keep. Static
// sites' releases need no image (their files are on disk); failed releases
// never served and cannot be rolled back to; a pending release is a deploy
// under way and keeps its image.
func keptImages(rels []store.Release, keep int) map[string]bool {
	rels = slices.Clone(rels)
	slices.SortFunc(rels, func(a, b store.Release) int { return b.Version - a.Version })
	kept := map[string]bool{}
	var cur *store.Release
	for i, r := range rels {
		if needsImage(r) && (r.Status == store.ReleaseActive || r.Status == store.ReleasePending) {
			kept[imageID(r.Image)] = true
			if r.Status == store.ReleaseActive {
				cur = &rels[i]
			}
		}
	}
	older := 0
	for _, r := range rels {
		if older >= keep {
			break
		}
		if cur != nil && r.Version > cur.Version {
			continue // a rollback's target is older than the current release
		}
		if r.Status != store.ReleaseSuperseded || !needsImage(r) || kept[imageID(r.Image)] {
			continue
		}
		kept[imageID(r.Image)] = true
		older++
	}
	return kept
}

// needsImage reports whether running r needs its image.
func needsImage(r store.Release) bool {
	if r.Image == "" || r.Image == staticImage {
		return false
	}
	spec, err := parseSpec(r.Spec)
	return err != nil || spec.Static == "" // not knowing, keep it
}

// imageID normalises an image ID to its bare hex form.
func imageID(id string) string { return strings.TrimPrefix(id, "sha256:") }

// imagesToRemove returns the IDs of the app's images (imgs: every image
// carrying the app's labels) that no kept release uses, oldest first:
// images of releases past the kept ones, build outputs of failed deploys
// and static sites, predeploy commits of releases no longer kept, and build
// layers no build newer than cacheSince made. An image a container uses
// stays, as do build layers other images sit on (they go with the last of
// those).
func imagesToRemove(rels []store.Release, keep int, imgs []podman.ImageInfo, cacheSince time.Time) []string {
	kept := keptImages(rels, keep)
	used := map[string]bool{} // any release's image, kept or not
	for _, r := range rels {
		used[imageID(r.Image)] = true
	}
	imgs = slices.Clone(imgs)
	slices.SortStableFunc(imgs, func(a, b podman.ImageInfo) int { return a.Created.Compare(b.Created) })
	var out []string
	for _, im := range imgs {
		id := imageID(im.ID)
		if kept[id] || im.Containers > 0 {
			continue
		}
		_, commit := im.Labels[labelOneOff]
		switch {
		case len(im.Names) > 0, used[id], commit:
			out = append(out, id) // a release image or a build's output
		case im.Dangling && im.Created.Before(cacheSince):
			out = append(out, id) // a build layer of an older build
		}
	}
	return out
}

// isBuildCache reports whether an image is a build layer kept only as
// cache: untagged, with no child image, no release commit, unused.
func isBuildCache(im podman.ImageInfo) bool {
	_, commit := im.Labels[labelOneOff]
	return im.Dangling && len(im.Names) == 0 && !commit && im.Containers == 0
}

// cacheToRemove picks the build layers to remove, oldest first (each
// frees at least its own layer), so that
// what stays of the cache (layers plus other bytes, such as RUN cache
// mounts) fits in max; max <= 0 means no bound.
func cacheToRemove(layers []podman.ImageInfo, other, max int64) []string {
	if max <= 0 {
		return nil
	}
	total := other
	for _, im := range layers {
		total += im.Own
	}
	layers = slices.Clone(layers)
	slices.SortStableFunc(layers, func(a, b podman.ImageInfo) int { return a.Created.Compare(b.Created) })
	var out []string
	for _, im := range layers {
		if total <= max {
			break
		}
		out = append(out, imageID(im.ID))
		total -= im.Own
	}
	return out
}

// bgPrune is an app's image prune handed to the background (pruneLater).
type bgPrune struct {
	running bool               // it holds the app's lock; under Daemon.mu
	stop    context.Context    // done once it is to give way (see pruneImages)
	yield   context.CancelFunc // a deploy or command waits for the lock: ends stop
}

// pruneLater prunes the app's images in the background once the caller, a
// deploy holding the app's lock, lets go of it: the push returns without
// waiting for Podman's image removals (seconds on a busy machine). The
// prune takes the app's lock, as pruning needs (no build of the app under
// way), and gives way when a deploy or command asks for the lock
// (lockApp), which schedules it again when it lets go. One prune
// waits per app: it reads the releases when it runs. Close waits for it.
func (d *Daemon) pruneLater(app string) {
	if d.bgctx == nil {
		// Not opened (engine tests): nothing runs in the background, and
		// the caller holds the lock.
		d.pruneImages(context.Background(), app, nil)
		return
	}
	d.mu.Lock()
	if d.prunes == nil {
		d.prunes = map[string]*bgPrune{}
	}
	if d.prunes[app] != nil {
		d.mu.Unlock()
		return
	}
	stop, yield := context.WithCancel(d.bgctx)
	p := &bgPrune{stop: stop, yield: yield}
	d.prunes[app] = p
	d.mu.Unlock()
	ended := d.pruneStarted()
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer ended()
		defer yield()
		lock := d.appLock(app)
		err := lockCtx(d.bgctx, lock)
		d.mu.Lock()
		p.running = err == nil
		if err != nil {
			delete(d.prunes, app)
		}
		d.mu.Unlock()
		if err != nil {
			return // closing
		}
		// An app renamed or destroyed meanwhile is not this app's any more:
		// its images went with it.
		if _, err := d.store.GetApp(d.bgctx, app); err == nil {
			d.pruneImages(d.bgctx, app, stop)
		}
		// Gone before the lock is free, so the next holder's deploy
		// schedules its own.
		d.mu.Lock()
		delete(d.prunes, app)
		d.mu.Unlock()
		lock.Unlock()
	}()
}

// yieldPrune asks the app's background prune to stop, if it holds the
// app's lock, and reports whether it did.
func (d *Daemon) yieldPrune(app string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.prunes[app]
	if p == nil || !p.running {
		return false
	}
	p.yield()
	return true
}

// pruneImages removes the app's images no kept release needs and the
// build layers of its older builds; the build cache bound and the disk
// measurement follow in the background (see measureDisk). Its caller holds
// the app's lock, so no build of the app is under way: deploys hand it to
// the background once the new release is live (pruneLater). Once stop
// (nil: never) is done it gives up: a listing under way is abandoned (on a
// busy machine, Podman takes seconds to list), and the removals stop
// between two images; a removal under way is not cut short, as Podman
// would finish it anyway, behind the lock's back. Failures are logged: a
// deploy that went live is not failed by its clean-up.
func (d *Daemon) pruneImages(ctx context.Context, app string, stop context.Context) {
	ctx = context.WithoutCancel(ctx)
	if stop == nil {
		stop = ctx
	}
	defer d.diskChanged()
	start := time.Now()
	rels, err := d.keptCandidates(ctx, app)
	if err != nil {
		d.log.Warn("list releases to prune images", "app", app, "err", err)
		return
	}
	imgs, err := d.rt.ListImages(stop, d.labels(map[string]string{labelApp: app}), false)
	if stop.Err() != nil {
		d.log.Debug("image prune stopped: the app is wanted", "app", app, "removed", 0)
		return
	}
	if err != nil {
		d.log.Warn("list images to prune", "app", app, "err", err)
		return
	}
	var since time.Time // the newest build's start: its layers are the cache
	if bs, err := d.store.ListBuilds(ctx, app, 1); err == nil && len(bs) > 0 {
		since = bs[0].StartedAt.Truncate(time.Second)
	}
	removed := 0
	for _, id := range imagesToRemove(rels, d.opts.KeepReleases, imgs, since) {
		if stop.Err() != nil {
			d.log.Debug("image prune stopped: the app is wanted", "app", app, "removed", removed)
			break
		}
		if err := d.rt.RemoveUnusedImage(ctx, id); err != nil {
			d.log.Debug("keep image", "app", app, "image", short12(id), "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		d.log.Info("removed images no kept release needs", "app", app, "count", removed,
			"keep_releases", d.opts.KeepReleases, "took", time.Since(start).Round(time.Millisecond))
	}
}

// pruneAll prunes every app's images once at start, so an upgrade or a
// lower keep_releases takes effect before the next deploy. An app a deploy
// or command holds is skipped: its deploy prunes it.
func (d *Daemon) pruneAll(ctx context.Context) {
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("list apps to prune images", "err", err)
		}
		return
	}
	for _, a := range apps {
		if ctx.Err() != nil {
			return
		}
		lock := d.appLock(a.Name)
		if !lock.TryLock() {
			continue
		}
		// Close abandons a listing under way: Podman may take long.
		d.pruneImages(ctx, a.Name, ctx)
		lock.Unlock()
	}
}

// keptCandidates returns the releases that decide what an app keeps: the
// newest keptReleases and the current one.
func (d *Daemon) keptCandidates(ctx context.Context, app string) ([]store.Release, error) {
	rels, err := d.store.ListReleases(ctx, app, keptReleases)
	if err != nil {
		return nil, err
	}
	if cur, err := d.store.CurrentRelease(ctx, app); err == nil {
		if !slices.ContainsFunc(rels, func(r store.Release) bool { return r.Version == cur.Version }) {
			rels = append(rels, cur)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return rels, nil
}

// boundBuildCache removes build cache, oldest first, until it fits in
// [build] cache_max: first this daemon's untagged build layers no release
// uses, then, when the RUN cache mounts alone exceed the bound, whole
// cache mounts, least recently used first. It runs only while no build
// does (it takes every build slot, or skips), so no build loses a layer or
// a mount it is using. imgs are this daemon's images, build layers
// included; it reports whether it removed any.
func (d *Daemon) boundBuildCache(ctx context.Context, imgs []podman.ImageInfo) (removed bool) {
	max := d.opts.BuildCacheMax
	if max <= 0 {
		return false
	}
	var layers []podman.ImageInfo
	for _, im := range imgs {
		if isBuildCache(im) {
			layers = append(layers, im)
		}
	}
	mounts := dirSize(d.opts.BuildCacheDir)
	remove := cacheToRemove(layers, mounts, max)
	if len(remove) == 0 && mounts <= max {
		return false
	}
	taken := 0
	defer func() {
		for range taken {
			<-d.builds
		}
	}()
	for range cap(d.builds) {
		select {
		case d.builds <- struct{}{}:
			taken++
		default:
			d.log.Debug("build cache over its bound, trimmed later: a build is running")
			return false
		}
	}
	freed := int64(0)
	for _, id := range remove {
		if err := d.rt.RemoveUnusedImage(ctx, id); err != nil {
			d.log.Debug("keep build layer", "image", short12(id), "err", err)
			continue
		}
		removed = true
		for _, im := range layers {
			if imageID(im.ID) == id {
				freed += im.Own
			}
		}
	}
	if freed > 0 {
		d.log.Info("build cache over its bound: removed the oldest build layers", "freed_bytes", freed, "cache_max", max)
	}
	if mounts > max {
		d.trimCacheMounts(mounts, max)
	}
	return removed
}

// trimCacheMounts removes whole RUN cache mounts (the directories under
// the cache directory, each one mount target's tree), least recently
// modified first, until what stays fits in max. A mount is a cache: a build
// that finds it gone fills it again.
func (d *Daemon) trimCacheMounts(total, max int64) {
	type mount struct {
		path string
		mod  time.Time
		size int64
	}
	var ms []mount
	entries, err := os.ReadDir(d.opts.BuildCacheDir)
	if err != nil {
		d.log.Warn("list build cache mounts", "err", err)
		return
	}
	for _, e := range entries {
		p := filepath.Join(d.opts.BuildCacheDir, e.Name())
		ms = append(ms, mount{path: p, mod: newestMod(p), size: dirSize(p)})
	}
	slices.SortFunc(ms, func(a, b mount) int { return a.mod.Compare(b.mod) })
	for _, m := range ms {
		if total <= max {
			return
		}
		if err := removeAllWritable(m.path); err != nil {
			d.log.Warn("remove build cache mount", "dir", m.path, "err", err)
			continue
		}
		total -= m.size
		d.log.Info("build cache over its bound: removed a RUN cache mount", "dir", m.path, "freed_bytes", m.size)
	}
}

// removeAllWritable is os.RemoveAll for trees with read-only directories
// (Go's module cache makes its directories read-only).
func removeAllWritable(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// newestMod returns the newest modification time in a tree.
func newestMod(dir string) time.Time {
	var t time.Time
	filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil && info.ModTime().After(t) {
			t = info.ModTime()
		}
		return nil
	})
	return t
}

// dirSize returns the bytes of the regular files under path (a file or a
// tree); 0 when it does not exist.
func dirSize(path string) int64 {
	if path == "" {
		return 0
	}
	var n int64
	filepath.WalkDir(path, func(_ string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// imageGone reports whether a release's image is no longer in local
// storage, so rolling back to it cannot work.
func (d *Daemon) imageGone(ctx context.Context, r store.Release) (bool, error) {
	if !needsImage(r) {
		return false, nil
	}
	ok, err := d.rt.ImageExists(ctx, r.Image)
	if err != nil {
		return false, err
	}
	return !ok, nil
}

// prunedError is the one line a rollback to a release whose image was
// pruned answers.
func (d *Daemon) prunedError(r store.Release) error {
	return fmt.Errorf("v%d's image was removed: only the current release and the %d before it keep theirs ([deploy] keep_releases); nothing changed", r.Version, d.opts.KeepReleases)
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
