package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// RenameRequest gives the app Old the name New.
type RenameRequest struct {
	Old, New string
	By       string // who asked, for the log
}

// Rename gives an app a new name. Releases, domains, config, scale,
// keys' permissions, the repository, static files and logs follow; the new
// name is routed to the serving containers at once, then containers of the
// new name take over as in a rolling restart, so no request is dropped.
// Progress goes to out. A taken new name matches store.ErrExists.
func (d *Daemon) Rename(ctx context.Context, req RenameRequest, out io.Writer) error {
	old, name := req.Old, req.New
	if err := store.ValidateAppName(name); err != nil {
		return err
	}
	if err := d.hostReserved(d.appHost(name), name); err != nil {
		return err
	}
	if old == name {
		return nil // nothing to do; the caller words it
	}
	// Both names' locks, in one order, so two renames cannot deadlock.
	first, second := min(old, name), max(old, name)
	for _, n := range []string{first, second} {
		lock := d.appLock(n)
		if err := lockCtx(ctx, lock); err != nil {
			return err
		}
		defer lock.Unlock()
	}
	if _, err := d.store.GetApp(ctx, old); err != nil {
		return err
	}
	if _, err := d.store.GetApp(ctx, name); err == nil {
		return fmt.Errorf("app %s already exists: %w", name, store.ErrExists)
	}
	ctx = context.WithoutCancel(ctx) // half a rename helps nobody
	w := &progress{w: out}
	if _, err := d.removeRemains(ctx, name); err != nil {
		return fmt.Errorf("remove what an earlier app %s left: %w", name, err)
	}

	r, err := d.renameData(ctx, old, name, w)
	if err != nil {
		return err
	}
	d.mu.Lock()
	ups, root := d.upstreams[old], d.roots[old]
	d.mu.Unlock()
	d.setUpstreams(name, ups) // the serving containers answer the new name at once
	if err := d.store.RenameApp(ctx, r); err != nil {
		d.setUpstreams(name, nil)
		for _, id := range r.Images {
			if rerr := d.rt.RemoveImage(ctx, id); rerr != nil {
				d.log.Warn("remove relabelled image", "image", id, "err", rerr)
			}
		}
		return err
	}
	d.log.Info("app renamed", "from", old, "to", name, "by", req.By)
	d.setUpstreams(old, nil)
	d.moveFiles(old, name)
	d.mu.Lock()
	delete(d.roots, old)
	if root != "" {
		d.roots[name] = d.staticCurrent(name)
		d.sites[name] = d.sites[old] // its static.json settings follow
	}
	delete(d.sites, old)
	d.mu.Unlock()
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("route renamed app", "app", name, "err", err)
	}
	d.cron.syncApp(ctx, old)
	d.cron.syncApp(ctx, name)

	if st, err := d.store.DeployStrategy(ctx, name); err == nil && st == store.StrategyRecreate {
		d.retire(ctx, old, nil, w) // one writer: the old name's containers go first
	}
	if err := d.takeOver(ctx, name, w); err != nil {
		// The old containers serve the new name until the next start
		// brings up the new name's and finishes the rename.
		return fmt.Errorf("renamed %s to %s, but its containers did not restart under the new name (they will at the next start): %w", old, name, err)
	}
	if _, err := d.removeRemains(ctx, old); err != nil {
		d.log.Warn("remove what the old name had", "app", old, "err", err)
	}
	w.done("Renamed %s to %s: %s", old, name, d.AppURL(name))
	return nil
}

// renameData seals the app's config for the new name and labels its
// releases' images with it (the labels tell whose an image is when images
// are pruned or an app is destroyed).
func (d *Daemon) renameData(ctx context.Context, old, name string, w *progress) (store.Rename, error) {
	r := store.Rename{Old: old, New: name, Snapshots: map[int][]byte{}, Images: map[string]string{}}
	vars, err := d.configVars(ctx, old)
	if err != nil {
		return r, err
	}
	r.Vars = d.sealVars(name, vars)
	rels, err := d.store.ListReleases(ctx, old, 1<<20)
	if err != nil {
		return r, err
	}
	have, err := d.rt.ImageIDs(ctx, d.labels(map[string]string{labelApp: old}))
	if err != nil {
		return r, err
	}
	for _, rel := range rels {
		if len(rel.Config) > 0 {
			vars, err := d.releaseVars(rel)
			if err != nil {
				return r, err
			}
			if r.Snapshots[rel.Version], err = d.sealSnapshot(name, vars); err != nil {
				return r, err
			}
		}
		if _, done := r.Images[rel.Image]; done || !hasImage(have, rel.Image) {
			continue // relabelled already, or pruned: a rollback to it says so
		}
		id, err := d.relabel(ctx, rel.Image, name)
		if err != nil {
			for _, id := range r.Images {
				if rerr := d.rt.RemoveImage(ctx, id); rerr != nil {
					d.log.Warn("remove relabelled image", "image", id, "err", rerr)
				}
			}
			return r, fmt.Errorf("label image of v%d with the new name: %w", rel.Version, err)
		}
		r.Images[rel.Image] = id
	}
	if len(r.Images) > 0 {
		w.step("Labelled %d image(s) with the new name", len(r.Images))
	}
	return r, nil
}

func hasImage(ids []string, ref string) bool {
	for _, id := range ids {
		if ref != "" && (id == ref || strings.HasPrefix(id, ref)) {
			return true
		}
	}
	return false
}

// relabel makes the same image again with the app's labels: a build FROM
// it that adds no layer.
func (d *Daemon) relabel(ctx context.Context, image, app string) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	cf := []byte("FROM " + image + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "Containerfile", Mode: 0o644, Size: int64(len(cf))}); err != nil {
		return "", err
	}
	if _, err := tw.Write(cf); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return d.rt.Build(ctx, podman.BuildSpec{
		Context: &buf, Containerfile: "Containerfile", Out: io.Discard,
		Tag:    fmt.Sprintf("localhost/xcloud/%s:%s", app, shortID(image)),
		Labels: d.labels(map[string]string{labelApp: app}),
	})
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// takeOver starts the current release's containers under the app's (new)
// name and routes to them; the old name's containers are retired after.
func (d *Daemon) takeOver(ctx context.Context, app string, w *progress) error {
	a, err := d.store.GetApp(ctx, app)
	if err != nil || a.CurrentRelease == 0 || a.Stopped {
		return err
	}
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		return err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil || spec.Static != "" {
		return err
	}
	return d.replaceContainers(ctx, rel, spec, w)
}

// moveFiles moves a renamed app's repository, static files and log history
// to its new name; what is gone already, or there already, stays.
func (d *Daemon) moveFiles(old, name string) {
	for _, dir := range []string{d.opts.ReposDir, d.opts.StaticDir} {
		from, to := filepath.Join(dir, old), filepath.Join(dir, name)
		if dir == d.opts.ReposDir {
			from, to = from+".git", to+".git"
		}
		if _, err := os.Stat(to); err == nil {
			continue
		}
		if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Error("move app files", "from", from, "to", to, "err", err)
		}
	}
	d.logs.rename(old, name)
}

// finishRenames moves the files of renames a crash interrupted, before
// anything routes or serves the new names.
func (d *Daemon) finishRenames(ctx context.Context) error {
	ts, err := d.store.Tombstones(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.RenamedTo != "" {
			d.moveFiles(t.Name, t.RenamedTo)
		}
	}
	return nil
}
