package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// App statuses, as apps:list and apps:info show them.
const (
	StatusRunning   = "running"    // the current release serves
	StatusStopped   = "stopped"    // ps:stop: it answers 503 until ps:start
	StatusFailed    = "failed"     // its last deploy failed, or none of its containers runs
	StatusNoRelease = "no release" // nothing deployed yet
)

// AppInfo is an app as apps:list and apps:info show it. Its JSON has null
// for a release, commit, image or deploy time the app does not have;
// processes and disk are measured by AppInfo only, so apps:list leaves
// them out.
type AppInfo struct {
	Name       string    `json:"name"`
	Status     string    `json:"status"` // one of the Status* constants
	URL        string    `json:"url"`
	GitRemote  string    `json:"git_remote"` // what to push to
	Version    int       `json:"version"`    // the current release; 0: none
	CommitSHA  string    `json:"commit_sha"`
	Image      string    `json:"image"`
	DeployedAt time.Time `json:"deployed_at"` // when the current release was made
	// LastDeploy is the newest release's status, which differs from the
	// current one's when a later deploy failed; "" for none.
	LastDeploy string    `json:"last_deploy"`
	Domains    []string  `json:"domains"`
	CreatedAt  time.Time `json:"created_at"`
	Processes  []Process `json:"processes,omitempty"` // AppInfo only
	Disk       *DiskUse  `json:"disk,omitempty"`      // AppInfo only: measuring takes a moment
}

// MarshalJSON implements json.Marshaler.
func (a AppInfo) MarshalJSON() ([]byte, error) {
	type plain AppInfo
	return json.Marshal(struct {
		plain
		Version    *int       `json:"version"`
		CommitSHA  *string    `json:"commit_sha"`
		Image      *string    `json:"image"`
		DeployedAt *time.Time `json:"deployed_at"`
		LastDeploy *string    `json:"last_deploy"`
	}{plain(a), store.NullInt(a.Version), store.NullString(a.CommitSHA), store.NullString(a.Image), store.NullTime(a.DeployedAt), store.NullString(a.LastDeploy)})
}

// Apps lists every app with its status, URL, release and domains.
func (d *Daemon) Apps(ctx context.Context) ([]AppInfo, error) {
	// A few queries for all apps and one list of the install's
	// containers, not some of each an app: the list stays fast as apps
	// are added.
	apps, err := d.store.AppOverviews(ctx)
	if err != nil {
		return nil, err
	}
	running, err := d.runningApps(ctx, d.labels(nil))
	if err != nil {
		return nil, err
	}
	list := []AppInfo{}
	for _, a := range apps {
		info, err := d.appInfo(a, running)
		if err != nil {
			return nil, err
		}
		list = append(list, info)
	}
	return list, nil
}

// AppInfo returns one app with its status, URL, release, domains,
// processes and disk use.
func (d *Daemon) AppInfo(ctx context.Context, app string) (AppInfo, error) {
	a, err := d.store.GetAppOverview(ctx, app)
	if err != nil {
		return AppInfo{}, err
	}
	running, err := d.runningApps(ctx, d.labels(map[string]string{labelApp: app}))
	if err != nil {
		return AppInfo{}, err
	}
	info, err := d.appInfo(a, running)
	if err != nil {
		return info, err
	}
	if d.rt != nil { // nil in tests of the command layer alone
		if info.Processes, err = d.Processes(ctx, app); err != nil {
			return info, err
		}
	}
	disk, err := d.appDiskUse(ctx, a.App.Name)
	if err != nil {
		return info, fmt.Errorf("measure disk use: %w", err)
	}
	info.Disk = &disk
	return info, nil
}

// appInfo words what o holds; running holds the apps with a running
// container (see runningApps).
func (d *Daemon) appInfo(o store.AppOverview, running map[string]bool) (AppInfo, error) {
	a := o.App
	info := AppInfo{Name: a.Name, URL: d.AppURL(a.Name), GitRemote: d.GitRemote(a.Name), Version: a.CurrentRelease,
		CreatedAt: a.CreatedAt, LastDeploy: string(o.LastDeploy), Domains: []string{}}
	var spec releaseSpec
	if a.CurrentRelease > 0 {
		r := o.Current
		info.CommitSHA, info.Image, info.DeployedAt = r.CommitSHA, r.Image, r.CreatedAt
		var err error
		if spec, err = parseSpec(r.Spec); err != nil {
			return info, err
		}
	}
	info.Status = d.appStatus(a, info.LastDeploy, spec, o.Formation, running)
	info.Domains = append(info.Domains, o.Domains...)
	return info, nil
}

// appStatus words what the app is doing: no release, stopped, failed (its
// newest release failed, or it should run containers and none runs), or
// running.
func (d *Daemon) appStatus(a store.App, lastDeploy string, spec releaseSpec, formation map[string]int, running map[string]bool) string {
	switch {
	case lastDeploy == string(store.ReleaseFailed):
		return StatusFailed
	case a.CurrentRelease == 0:
		return StatusNoRelease
	case a.Stopped:
		return StatusStopped
	case spec.Static != "" || d.rt == nil:
		return StatusRunning
	}
	want := 0
	for _, n := range spec.scale(formation) {
		want += n
	}
	if want == 0 {
		return StatusRunning // scaled to zero on purpose
	}
	if running[a.Name] {
		return StatusRunning
	}
	return StatusFailed
}

// runningApps lists the containers matching labels once and returns the
// apps that have a running one (one-off containers do not count). Nil
// without a runtime (tests of the command layer alone).
func (d *Daemon) runningApps(ctx context.Context, labels map[string]string) (map[string]bool, error) {
	if d.rt == nil {
		return nil, nil
	}
	cs, err := d.rt.List(ctx, labels)
	if err != nil {
		return nil, err
	}
	running := map[string]bool{}
	for _, c := range cs {
		if c.Running && c.Labels[labelOneOff] == "" {
			running[c.Labels[labelApp]] = true
		}
	}
	return running, nil
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
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Msg: fmt.Sprintf("build %d of %s does not exist (builds %s lists them)", id, app, app), Err: store.ErrNotFound}
		}
		if err != nil {
			return nil, err
		}
		id = b.ID
	} else {
		bs, err := d.store.ListBuilds(ctx, app, 1)
		if err != nil {
			return nil, err
		}
		if len(bs) == 0 {
			return nil, &Error{Msg: fmt.Sprintf("%s has no builds yet: push to build", app), Err: store.ErrNotFound}
		}
		id = bs[0].ID
	}
	return d.store.BuildLog(ctx, id)
}

// sshHostPort is where users reach the SSH door: Options.SSHAddr split, or
// placeholders when it is not known.
func (d *Daemon) sshHostPort() (string, string) {
	host, port, err := net.SplitHostPort(d.opts.SSHAddr)
	if err != nil || host == "" || port == "" {
		return "HOST", "PORT"
	}
	return host, port
}

// GitRemote is the URL to push app to: ssh://xcloud@HOST:PORT/APP.git.
func (d *Daemon) GitRemote(app string) string {
	host, port := d.sshHostPort()
	return "ssh://xcloud@" + net.JoinHostPort(host, port) + "/" + app + ".git"
}

// SSHCommand is how users run an admin command, "ssh -p PORT xcloud@HOST"
// (no -p on port 22).
func (d *Daemon) SSHCommand() string {
	host, port := d.sshHostPort()
	if port == "22" {
		return "ssh xcloud@" + host
	}
	return "ssh -p " + port + " xcloud@" + host
}
