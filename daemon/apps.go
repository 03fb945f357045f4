package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Version is the daemon's version string.
func (d *Daemon) Version() string { return d.opts.Version }

// App returns one app; an unknown name matches store.ErrNotFound.
func (d *Daemon) App(ctx context.Context, name string) (store.App, error) {
	return d.store.GetApp(ctx, name)
}

// AddApp creates an app after removing anything an earlier app of the
// same name left behind. A taken name matches store.ErrExists, a bad one
// store.ErrInvalidName.
func (d *Daemon) AddApp(ctx context.Context, name string) (store.App, error) {
	return d.createApp(ctx, name)
}

// AppInfo is an app as apps:list and apps:info show it.
type AppInfo struct {
	Name           string    `json:"name"`
	URL            string    `json:"url"`
	CurrentRelease int       `json:"current_release"`
	Commit         string    `json:"commit,omitempty"`
	Image          string    `json:"image,omitempty"`
	Domains        []string  `json:"domains"`
	CreatedAt      time.Time `json:"created_at"`
	Disk           *DiskUse  `json:"disk,omitempty"` // AppInfo only: measuring takes a moment
}

// Apps lists every app with its URL, release and domains.
func (d *Daemon) Apps(ctx context.Context) ([]AppInfo, error) {
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	list := []AppInfo{}
	for _, a := range apps {
		info, err := d.appInfo(ctx, a)
		if err != nil {
			return nil, err
		}
		list = append(list, info)
	}
	return list, nil
}

// AppInfo returns one app with its URL, release, domains and disk use.
func (d *Daemon) AppInfo(ctx context.Context, app string) (AppInfo, error) {
	a, err := d.store.GetApp(ctx, app)
	if err != nil {
		return AppInfo{}, err
	}
	info, err := d.appInfo(ctx, a)
	if err != nil {
		return info, err
	}
	disk, err := d.appDiskUse(ctx, a.Name)
	if err != nil {
		return info, fmt.Errorf("measure disk use: %w", err)
	}
	info.Disk = &disk
	return info, nil
}

func (d *Daemon) appInfo(ctx context.Context, a store.App) (AppInfo, error) {
	info := AppInfo{Name: a.Name, URL: d.AppURL(a.Name), CurrentRelease: a.CurrentRelease, CreatedAt: a.CreatedAt, Domains: []string{}}
	if a.CurrentRelease > 0 {
		r, err := d.store.CurrentRelease(ctx, a.Name)
		if err != nil {
			return info, err
		}
		info.Commit, info.Image = r.CommitSHA, r.Image
	}
	doms, err := d.store.Domains(ctx, a.Name)
	if err != nil {
		return info, err
	}
	info.Domains = append(info.Domains, doms...)
	return info, nil
}

// Releases lists the app's newest n releases, newest first.
func (d *Daemon) Releases(ctx context.Context, app string, n int) ([]store.Release, error) {
	return d.store.ListReleases(ctx, app, n)
}

// Builds lists the app's newest n builds, newest first.
func (d *Daemon) Builds(ctx context.Context, app string, n int) ([]store.Build, error) {
	return d.store.ListBuilds(ctx, app, n)
}

// BuildLog returns a build's output; id 0 is the latest build. An unknown
// build, or none yet, matches store.ErrNotFound.
func (d *Daemon) BuildLog(ctx context.Context, app string, id int64) ([]byte, error) {
	if id > 0 {
		b, err := d.store.GetBuild(ctx, app, id)
		if err != nil {
			return nil, fmt.Errorf("build %d of %s: %w", id, app, err)
		}
		id = b.ID
	} else {
		bs, err := d.store.ListBuilds(ctx, app, 1)
		if err != nil {
			return nil, err
		}
		if len(bs) == 0 {
			return nil, fmt.Errorf("app %q has no builds yet: %w", app, store.ErrNotFound)
		}
		id = bs[0].ID
	}
	return d.store.BuildLog(ctx, id)
}
