package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// Disk kinds, as xcloud_disk_bytes{kind} names them.
const (
	diskImages     = "images"      // apps' images: their layers on top of the stack's
	diskBuildCache = "build_cache" // build layers no release uses, RUN cache mounts
	diskRepos      = "repos"       // apps' git repositories
	diskStatic     = "static"      // static sites' files
	diskLogs       = "logs"        // apps' log history
)

// diskKinds lists the kinds in the order they are reported.
var diskKinds = []string{diskImages, diskBuildCache, diskRepos, diskStatic, diskLogs}

// diskEvery is how often the disk metric is measured when nothing changes;
// a deploy's clean-up asks for a measurement at once.
const diskEvery = 5 * time.Minute

// DiskUse is what an app uses on disk, as apps:info shows it.
type DiskUse struct {
	Images      int   `json:"images"`       // release images kept
	ImageBytes  int64 `json:"image_bytes"`  // their layers on top of the stack's images
	CacheBytes  int64 `json:"cache_bytes"`  // build layers kept as build cache
	RepoBytes   int64 `json:"repo_bytes"`   // the git repository
	StaticBytes int64 `json:"static_bytes"` // static sites' files
	LogBytes    int64 `json:"log_bytes"`    // log history
}

// appDiskUse measures one app's disk use. Image bytes are the layers the
// app's images add to the images they are built on, each counted once:
// the stack's images, which every app shares, are not counted, as
// removing the app would not free them.
func (d *Daemon) appDiskUse(ctx context.Context, app string) (DiskUse, error) {
	var u DiskUse
	var imgs []podman.ImageInfo
	if d.rt != nil { // nil in tests of the command layer alone
		var err error
		if imgs, err = d.rt.ListImages(ctx, d.labels(map[string]string{labelApp: app}), true); err != nil {
			return u, err
		}
	}
	for _, im := range imgs {
		switch {
		case isBuildCache(im):
			u.CacheBytes += im.Own
		case isReleaseImage(im):
			u.Images++
			u.ImageBytes += im.Own
		default: // a build layer under a release image
			u.ImageBytes += im.Own
		}
	}
	u.RepoBytes = dirSize(filepath.Join(d.opts.ReposDir, app+".git"))
	if d.opts.StaticDir != "" {
		u.StaticBytes = dirSize(filepath.Join(d.opts.StaticDir, app))
	}
	if d.opts.LogsDir != "" {
		u.LogBytes = logBytes(d.opts.LogsDir, app)
	}
	return u, nil
}

// isReleaseImage reports whether an image is a build's output or a
// predeploy commit rather than a build layer.
func isReleaseImage(im podman.ImageInfo) bool {
	_, commit := im.Labels[labelOneOff]
	return len(im.Names) > 0 || commit
}

// logBytes sums an app's log file and its rotated copies.
func logBytes(dir, app string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		name := e.Name()
		if name != app+".log" && !strings.HasPrefix(name, app+".log.") {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// diskUse measures what the daemon keeps on disk, by kind: imgs are this
// daemon's images, build layers included.
func (d *Daemon) diskUse(imgs []podman.ImageInfo) map[string]int64 {
	out := map[string]int64{}
	for _, k := range diskKinds {
		out[k] = 0
	}
	for _, im := range imgs {
		if isBuildCache(im) {
			out[diskBuildCache] += im.Own
		} else {
			out[diskImages] += im.Own
		}
	}
	out[diskBuildCache] += dirSize(d.opts.BuildCacheDir)
	out[diskRepos] = dirSize(d.opts.ReposDir)
	out[diskStatic] = dirSize(d.opts.StaticDir)
	out[diskLogs] = dirSize(d.opts.LogsDir)
	return out
}

// diskChanged asks the disk measurer for a fresh measurement.
func (d *Daemon) diskChanged() {
	select {
	case d.diskKick <- struct{}{}:
	default:
	}
}

// measureDisk bounds the build cache and reports disk use to the
// observer at start, every diskEvery and after each deploy's clean-up,
// until ctx ends, off the deploys' path. Measuring walks the data
// directories and lists Podman's images: scrapes read the last result.
func (d *Daemon) measureDisk(ctx context.Context) {
	t := time.NewTicker(diskEvery)
	defer t.Stop()
	d.pruneAll(ctx)
	kicked := false
	for {
		d.measureDiskOnce(ctx)
		d.diskMeasured(kicked)
		kicked = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.diskKick:
			kicked = true
		}
	}
}

// measureDiskOnce bounds the build cache and reports disk use, from one
// listing of the images (Podman 4.3 takes seconds to list them all on a
// busy box), listed again only when build layers were removed.
func (d *Daemon) measureDiskOnce(ctx context.Context) {
	imgs, err := d.rt.ListImages(ctx, d.labels(nil), true)
	if err == nil && d.boundBuildCache(ctx, imgs) {
		imgs, err = d.rt.ListImages(ctx, d.labels(nil), true)
	}
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("list images to measure disk use and bound the build cache", "err", err)
		}
		return
	}
	use := d.diskUse(imgs)
	for _, k := range diskKinds {
		d.obs.DiskUsage(k, use[k])
	}
}
