package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/gitsrc"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// staticImage marks releases that have files instead of an image.
const staticImage = "static"

// Static sites are served by the proxy from <StaticDir>/<app>/current, a
// symlink to the release's files: swapping it is atomic and needs no proxy
// reload.
func (d *Daemon) staticCurrent(app string) string {
	return filepath.Join(d.opts.StaticDir, app, "current")
}

// deployStatic publishes a static site straight from the pushed tree: no
// build, no container.
func (d *Daemon) deployStatic(ctx context.Context, p gitreceive.Push, src *gitsrc.Source, plan *buildpacks.Plan, w *progress) error {
	dir := p.NewSHA
	dst := filepath.Join(d.opts.StaticDir, p.App, dir)
	w.step("Publishing %s from %s", plan.StaticRoot, short(p.NewSHA))
	n, err := src.Extract(plan.StaticRoot, dst)
	if err != nil {
		return fmt.Errorf("publish static files: %w", err)
	}
	fmt.Fprintf(w, "       %d files\n", n)
	return d.releaseStatic(ctx, p, dir, builtImage{ref: staticImage}, plan.Static, w)
}

// releaseStatic records a static release of the files in dir and serves it.
func (d *Daemon) releaseStatic(ctx context.Context, p gitreceive.Push, dir string, image builtImage, site *buildpacks.StaticConfig, w *progress) error {
	spec, err := specJSON(releaseSpec{Static: dir, Site: site})
	if err != nil {
		return err
	}
	rel, err := d.store.CreateRelease(ctx, store.Release{
		App: p.App, Image: image.ref, BuildID: image.buildID, CommitSHA: p.NewSHA,
		Description: "deploy " + short(p.NewSHA), Spec: spec,
	})
	if err != nil {
		return fmt.Errorf("record release: %w", err)
	}
	if err := d.swapStatic(ctx, rel, dir, w); err != nil {
		d.failRelease(ctx, rel, err)
		return err
	}
	w.done("%s", d.deployedLine(p.App, rel.Version, spec, w.took()))
	return nil
}

// swapStatic points the app's route at a release's files, makes it current
// and retires the app's containers.
func (d *Daemon) swapStatic(ctx context.Context, rel store.Release, dir string, w *progress) error {
	if err := d.linkStatic(rel.App, dir); err != nil {
		return err
	}
	d.serveStatic(rel.App, releaseSite(rel))
	d.setUpstreams(rel.App, nil)
	if err := d.applyRoutes(ctx); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	if err := d.activate(ctx, rel); err != nil {
		return fmt.Errorf("activate release: %w", err)
	}
	d.obs.DeployFinished(rel.App, true)
	d.cron.syncApp(ctx, rel.App) // a site has no jobs; the release before may have had
	w.step("Serving %s from v%d's files", d.appHost(rel.App), rel.Version)
	d.retire(ctx, rel.App, nil, w)
	d.pruneStatic(ctx, rel.App)
	d.pruneLater(rel.App)
	return nil
}

// keptReleases is how many of an app's newest releases keep what a
// rollback to them needs: the list rollback picks from.
const keptReleases = 100

// pruneStatic removes the app's static copies that no kept release needs
// (those of failed releases and of releases past keptReleases), leftovers
// of publishes a crash cut short, and the current link once the app serves
// containers. Each deploy calls it once the new release is live, holding
// the app's lock, so no publish of the app is under way.
func (d *Daemon) pruneStatic(ctx context.Context, app string) {
	base := filepath.Join(d.opts.StaticDir, app)
	entries, err := os.ReadDir(base)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("list static copies", "app", app, "err", err)
		}
		return
	}
	rels, err := d.store.ListReleases(ctx, app, keptReleases)
	if err != nil {
		d.log.Warn("list releases to prune static copies", "app", app, "err", err)
		return
	}
	// The serving release counts even when a hundred failed ones followed it.
	if cur, err := d.store.CurrentRelease(ctx, app); err == nil {
		rels = append(rels, cur)
	} else if !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("current release to prune static copies", "app", app, "err", err)
		return
	}
	need := map[string]bool{}
	currentStatic := false
	for _, r := range rels {
		spec, err := parseSpec(r.Spec)
		if err != nil {
			// Not knowing what a release needs, keep everything.
			d.log.Warn("prune static copies", "app", app, "release", r.Version, "err", err)
			return
		}
		if spec.Static == "" || r.Status == store.ReleaseFailed {
			continue
		}
		need[spec.Static] = true
		if r.Status == store.ReleaseActive {
			currentStatic = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		if need[name] || (name == "current" && currentStatic) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(base, name)); err != nil {
			d.log.Warn("remove static copy", "app", app, "dir", name, "err", err)
			continue
		}
		d.log.Debug("removed static copy no kept release needs", "app", app, "dir", name)
	}
}

// linkStatic atomically points <app>/current at <app>/<dir>.
func (d *Daemon) linkStatic(app, dir string) error {
	base := filepath.Join(d.opts.StaticDir, app)
	if _, err := os.Stat(filepath.Join(base, dir)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the static files of %s's release are no longer kept (only the newest %d releases keep theirs): %w", app, keptReleases, err)
		}
		return fmt.Errorf("static files of %s: %w", app, err)
	}
	tmp := filepath.Join(base, ".current-"+randomSuffix())
	if err := os.Symlink(dir, tmp); err != nil {
		return fmt.Errorf("link static files: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(base, "current")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link static files: %w", err)
	}
	return nil
}

// deployStaticExport serves a site a Node.js build produced (Vite, Astro,
// Next.js export…): the files are copied out of the built image once, and
// the proxy serves them; no container runs.
func (d *Daemon) deployStaticExport(ctx context.Context, p gitreceive.Push, plan *buildpacks.Plan, image builtImage, w *progress) error {
	dir := p.NewSHA
	dst := filepath.Join(d.opts.StaticDir, p.App, dir)
	w.step("Publishing %s from the build", plan.StaticRoot)
	if _, err := os.Stat(dst); err != nil {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- untarInto(pr, dst) }()
		err := d.rt.CopyOut(ctx, image.ref, "/app/"+plan.StaticRoot, pw)
		pw.CloseWithError(err)
		if uerr := <-done; err == nil {
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("publish static files: %w", err)
		}
	}
	return d.releaseStatic(ctx, p, dir, image, plan.Static, w)
}

// untarInto extracts a tar whose entries share one top directory into dst,
// dropping that directory. Only regular files and directories are written,
// never outside dst.
func untarInto(r io.Reader, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".publish-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		_, rest, _ := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/")
		if rest == "" {
			continue
		}
		p := filepath.Join(tmp, filepath.FromSlash(rest))
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("unsafe path %q in the build output", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	return os.Rename(tmp, dst)
}
