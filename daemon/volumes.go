package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// Volume labels. With labelManaged and labelInstance they mark the Podman
// named volumes of this install; backup and restore rely on them.
const labelVolume = "xcloud.volume"

// StorageOptions confine what storage:mount may bind from the host.
type StorageOptions struct {
	// HostDirs are the host directories (and what is under them) an admin
	// may mount into apps; none: host directories cannot be mounted.
	HostDirs []string
	// Never are paths no host mount may be, contain or lie under: the data
	// directory and the Podman socket, as a path or unix:// URL (/ and /etc
	// are always refused).
	Never []string
}

// Volume is one named volume of this install: NAME as storage:mount takes
// it, the Podman volume that holds its data (xcloud-<Instance>-<NAME>,
// labelled xcloud.managed, xcloud.instance and xcloud.volume) and the apps
// mounting it now.
type Volume struct {
	Name   string   `json:"name"`
	Podman string   `json:"podman_volume"`
	Apps   []string `json:"apps"`
	// Size is the bytes it holds; -1 when not measured.
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	// Missing: the store knows it but Podman has no such volume (it is
	// created empty at the next container start).
	Missing bool `json:"missing,omitempty"`
}

// PodmanVolume returns the Podman volume that holds the named volume's data.
func (d *Daemon) PodmanVolume(name string) string {
	return "xcloud-" + d.opts.Instance + "-" + name
}

func (d *Daemon) volumeLabels(name string) map[string]string {
	return d.labels(map[string]string{labelVolume: name})
}

// Volumes returns every named volume of this install, by name: those the
// store knows (mounted or kept) and any Podman volume labelled as this
// install's that the store does not know (left by an interrupted destroy).
// Sizes are not measured (-1).
func (d *Daemon) Volumes(ctx context.Context) ([]Volume, error) {
	known, err := d.store.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	mounts, err := d.store.Mounts(ctx, "")
	if err != nil {
		return nil, err
	}
	have, err := d.rt.ListVolumes(ctx, d.labels(nil))
	if err != nil {
		return nil, err
	}
	inPodman := map[string]podman.VolumeInfo{}
	for _, v := range have {
		if n := v.Labels[labelVolume]; n != "" && v.Name == d.PodmanVolume(n) {
			inPodman[n] = v
		}
	}
	byName := map[string]*Volume{}
	var out []Volume
	for _, k := range known {
		_, ok := inPodman[k.Name]
		out = append(out, Volume{Name: k.Name, Podman: d.PodmanVolume(k.Name), Apps: []string{}, Size: -1, CreatedAt: k.CreatedAt, Missing: !ok})
	}
	for n, v := range inPodman {
		if !slices.ContainsFunc(known, func(k store.Volume) bool { return k.Name == n }) {
			out = append(out, Volume{Name: n, Podman: v.Name, Apps: []string{}, Size: -1, CreatedAt: v.CreatedAt})
		}
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Name, b.Name) })
	for i := range out {
		byName[out[i].Name] = &out[i]
	}
	for _, m := range mounts {
		if v := byName[m.Volume]; v != nil && !slices.Contains(v.Apps, m.App) {
			v.Apps = append(v.Apps, m.App)
		}
	}
	return out, nil
}

// VolumesMeasured is Volumes with each volume's size.
func (d *Daemon) VolumesMeasured(ctx context.Context) ([]Volume, error) {
	vs, err := d.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		if !vs[i].Missing {
			vs[i].Size = d.volumeSize(ctx, vs[i].Name)
		}
	}
	return vs, nil
}

// volumeSize is the bytes the named volume holds, -1 when unknown: a
// listing is still worth having without it.
func (d *Daemon) volumeSize(ctx context.Context, name string) int64 {
	n, err := d.rt.VolumeSize(ctx, d.PodmanVolume(name))
	if err != nil {
		d.log.Warn("measure volume", "volume", name, "err", err)
		return -1
	}
	return n
}

// MountInfo is one of an app's mounts with what its source holds.
type MountInfo struct {
	store.Mount
	// Size is the volume's bytes; -1 for a host directory or when not
	// measured.
	Size int64 `json:"size"`
}

// Storage returns the app's mounts by path, with the size of each volume.
func (d *Daemon) Storage(ctx context.Context, app string) ([]MountInfo, error) {
	ms, err := d.store.Mounts(ctx, app)
	if err != nil {
		return nil, err
	}
	out := make([]MountInfo, 0, len(ms))
	for _, m := range ms {
		size := int64(-1)
		if m.Volume != "" {
			size = d.volumeSize(ctx, m.Volume)
		}
		out = append(out, MountInfo{Mount: m, Size: size})
	}
	return out, nil
}

// MountRequest is a storage:mount: Source NAME:/path or /host/dir:/path.
type MountRequest struct {
	App      string
	Spec     string // SOURCE:/path
	ReadOnly bool
	// Admin: the caller may mount host directories and volumes other apps
	// use (or used).
	Admin bool
}

// Mount records a mount of a named volume (created now when new) or of a
// host directory into every container the app starts from now on: the
// next deploy or ps:restart. Bad input is an *Error wrapping
// ErrInvalidMount, a host directory or another app's volume without
// Admin one wrapping ErrMountForbidden; nothing changes then.
func (d *Daemon) Mount(ctx context.Context, r MountRequest) (store.Mount, error) {
	m, err := d.parseMount(r.App, r.Spec)
	if err != nil {
		return store.Mount{}, err
	}
	m.ReadOnly = r.ReadOnly
	lock := d.appLock(r.App)
	if err := lockCtx(ctx, lock); err != nil {
		return store.Mount{}, err
	}
	defer lock.Unlock()
	all, err := d.store.Mounts(ctx, "")
	if err != nil {
		return store.Mount{}, err
	}
	for _, o := range all {
		if o.App == r.App && pathsClash(o.Path, m.Path) {
			return store.Mount{}, &Error{Msg: fmt.Sprintf("%s clashes with the mount of %s at %s", m.Path, o.Source(), o.Path), Err: ErrInvalidMount}
		}
	}
	if m.HostDir != "" {
		if !r.Admin {
			return store.Mount{}, &Error{Msg: "mounting a host directory needs an admin key or token", Err: ErrMountForbidden}
		}
		dir, err := d.allowedHostDir(m.HostDir)
		if err != nil {
			return store.Mount{}, err
		}
		m.HostDir = dir
	} else {
		if !r.Admin {
			if err := d.ownVolume(ctx, r.App, m.Volume, all); err != nil {
				return store.Mount{}, err
			}
		}
		if err := d.rt.EnsureVolume(ctx, d.PodmanVolume(m.Volume), d.volumeLabels(m.Volume)); err != nil {
			return store.Mount{}, err
		}
	}
	return d.store.AddMount(ctx, m)
}

// ownVolume refuses a volume the app does not mount already but which
// exists: other apps' data is for admins to share.
func (d *Daemon) ownVolume(ctx context.Context, app, name string, all []store.Mount) error {
	var users []string
	for _, o := range all {
		if o.Volume == name {
			if o.App == app {
				return nil
			}
			users = append(users, o.App)
		}
	}
	if len(users) > 0 {
		return &Error{Msg: fmt.Sprintf("volume %s is used by %s: only an admin may mount it into %s", name, strings.Join(users, ", "), app), Err: ErrMountForbidden}
	}
	vs, err := d.Volumes(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(vs, func(v Volume) bool { return v.Name == name }) {
		return &Error{Msg: fmt.Sprintf("volume %s exists (kept from an earlier app): only an admin may mount it into %s", name, app), Err: ErrMountForbidden}
	}
	return nil
}

// Unmount removes the app's mount SOURCE:/path. Containers keep it until
// the next deploy or ps:restart; a volume's data stays.
func (d *Daemon) Unmount(ctx context.Context, app, spec string) (store.Mount, error) {
	src, p, ok := strings.Cut(spec, ":")
	if !ok || src == "" || p == "" {
		return store.Mount{}, &Error{Msg: fmt.Sprintf("%q: want NAME:/path or /host/dir:/path", spec), Err: ErrInvalidMount}
	}
	lock := d.appLock(app)
	if err := lockCtx(ctx, lock); err != nil {
		return store.Mount{}, err
	}
	defer lock.Unlock()
	m, err := d.store.RemoveMount(ctx, app, src, path.Clean(p))
	if errors.Is(err, store.ErrNotFound) {
		return store.Mount{}, &Error{Msg: fmt.Sprintf("%s has no mount of %s at %s (storage %s lists them)", app, src, p, app), Err: store.ErrNotFound}
	}
	return m, err
}

// parseMount checks SOURCE:/path without looking at the host.
func (d *Daemon) parseMount(app, spec string) (store.Mount, error) {
	bad := func(format string, a ...any) (store.Mount, error) {
		return store.Mount{}, &Error{Msg: fmt.Sprintf(format, a...), Err: ErrInvalidMount}
	}
	src, p, ok := strings.Cut(spec, ":")
	if !ok || src == "" || p == "" {
		return bad("%q: want NAME:/path or /host/dir:/path", spec)
	}
	if err := checkMountPath(p); err != nil {
		return store.Mount{}, err
	}
	m := store.Mount{App: app, Path: p}
	if strings.HasPrefix(src, "/") {
		if err := checkPathChars("host directory", src); err != nil {
			return store.Mount{}, err
		}
		m.HostDir = src
		return m, nil
	}
	if err := store.ValidateVolumeName(src); err != nil {
		return bad("%v", err)
	}
	m.Volume = src
	return m, nil
}

// forbiddenUnder are container paths nothing may be mounted at or under:
// the kernel's and the runtime's.
var forbiddenUnder = []string{"/proc", "/sys", "/dev"}

// checkMountPath refuses a container path that is not a clean absolute
// path, or is /, the app's own directory, or the kernel's.
func checkMountPath(p string) error {
	bad := func(format string, a ...any) error {
		return &Error{Msg: fmt.Sprintf(format, a...), Err: ErrInvalidMount}
	}
	if !strings.HasPrefix(p, "/") {
		return bad("mount path %q is relative: give an absolute path such as /app/data", p)
	}
	if err := checkPathChars("mount path", p); err != nil {
		return err
	}
	if path.Clean(p) != p {
		return bad("mount path %q is not clean: write it as %s", p, path.Clean(p))
	}
	switch p {
	case "/":
		return bad("mount path / would hide the whole image: mount under a directory such as /app/data")
	case "/app":
		return bad("mount path /app would hide the app itself: mount under it, such as /app/data")
	}
	for _, f := range forbiddenUnder {
		if under(p, f) {
			return bad("mount path %s is the kernel's (%s): choose another", p, f)
		}
	}
	return nil
}

// checkPathChars refuses characters Podman's mount syntax or a terminal
// would misread.
func checkPathChars(what, p string) error {
	if strings.ContainsAny(p, ":,") || strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return &Error{Msg: fmt.Sprintf("%s %q has a character it cannot have (':', ',' or a control character)", what, p), Err: ErrInvalidMount}
	}
	return nil
}

// under reports whether p is dir or lies under it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// pathsClash reports whether two container paths are the same or one is
// inside the other: one mount would hide part of the other.
func pathsClash(a, b string) bool { return under(a, b) || under(b, a) }

// allowedHostDir resolves dir (symlinks too) and returns it when it is an
// existing directory inside one of the allowed host directories, and is
// not /, /etc, or the data directory or Podman socket (nor holds them).
func (d *Daemon) allowedHostDir(dir string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", &Error{Msg: fmt.Sprintf(format, a...), Err: ErrInvalidMount}
	}
	if filepath.Clean(dir) != dir {
		return bad("host directory %q is not clean: write it as %s", dir, filepath.Clean(dir))
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return bad("host directory %s: %v", dir, errors.Unwrap(err))
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return bad("host directory %s is not a directory", dir)
	}
	if real == "/" || under(real, "/etc") {
		return bad("host directory %s (%s) may never be mounted", dir, real)
	}
	for _, n := range d.opts.Storage.Never {
		if n == "" {
			continue
		}
		n = strings.TrimPrefix(n, "unix://") // a socket's URL
		rn := n
		if r, err := filepath.EvalSymlinks(n); err == nil {
			rn = r
		}
		if under(real, rn) || under(rn, real) {
			return bad("host directory %s may never be mounted: it is or holds %s", dir, n)
		}
	}
	for _, a := range d.opts.Storage.HostDirs {
		ra := a
		if r, err := filepath.EvalSymlinks(a); err == nil {
			ra = r
		}
		if under(real, ra) {
			return real, nil
		}
	}
	if len(d.opts.Storage.HostDirs) == 0 {
		return bad("host directory %s is not allowed: no host directories are ([storage] host_dirs in xcloud.toml is empty)", dir)
	}
	return bad("host directory %s is not allowed: it is not under [storage] host_dirs (%s)", dir, strings.Join(d.opts.Storage.HostDirs, ", "))
}

// containerMounts returns the app's mounts as its containers take them,
// making sure each volume exists with its labels (a restore or a manual
// removal may have left it missing).
func (d *Daemon) containerMounts(ctx context.Context, app string) ([]podman.Mount, error) {
	ms, err := d.store.Mounts(ctx, app)
	if err != nil {
		return nil, err
	}
	out := make([]podman.Mount, 0, len(ms))
	for _, m := range ms {
		pm := podman.Mount{HostDir: m.HostDir, Path: m.Path, ReadOnly: m.ReadOnly}
		if m.Volume != "" {
			pm.Volume = d.PodmanVolume(m.Volume)
			if err := d.rt.EnsureVolume(ctx, pm.Volume, d.volumeLabels(m.Volume)); err != nil {
				return nil, err
			}
		}
		out = append(out, pm)
	}
	return out, nil
}

// DeployStrategy returns the app's deploy strategy (store.StrategyRolling
// or store.StrategyRecreate).
func (d *Daemon) DeployStrategy(ctx context.Context, app string) (string, error) {
	return d.store.DeployStrategy(ctx, app)
}

// SetDeployStrategy sets how the app's deploys swap containers. Another
// strategy is an *Error wrapping ErrInvalidMount's sibling
// ErrInvalidStrategy.
func (d *Daemon) SetDeployStrategy(ctx context.Context, app, strategy string) error {
	if strategy != store.StrategyRolling && strategy != store.StrategyRecreate {
		return &Error{Msg: fmt.Sprintf("strategy %q: want rolling or recreate", strategy), Err: ErrInvalidStrategy}
	}
	return d.store.SetDeployStrategy(ctx, app, strategy)
}

// dropVolumes deletes, when asked, the volumes of a destroyed app's
// mounts that no other app mounts, and returns the names it kept and
// deleted. Its containers are gone already. A volume that cannot be
// removed is kept (and logged): data is never lost by accident.
func (d *Daemon) dropVolumes(ctx context.Context, app string, mounts []store.Mount, del bool) (kept, deleted []string) {
	kept, deleted = []string{}, []string{}
	var names []string
	for _, m := range mounts {
		if m.Volume != "" && !slices.Contains(names, m.Volume) {
			names = append(names, m.Volume)
		}
	}
	if !del {
		return names, deleted
	}
	others, err := d.store.Mounts(ctx, "")
	if err != nil {
		d.log.Error("list mounts", "err", err)
		return names, deleted
	}
	for _, n := range names {
		if slices.ContainsFunc(others, func(m store.Mount) bool { return m.Volume == n }) {
			kept = append(kept, n) // another app's data too
			continue
		}
		if err := d.rt.RemoveVolume(ctx, d.PodmanVolume(n)); err != nil {
			d.log.Error("remove volume of destroyed app", "app", app, "volume", n, "err", err)
			kept = append(kept, n)
			continue
		}
		if err := d.store.DeleteVolume(ctx, n, app); err != nil {
			d.log.Error("forget deleted volume", "app", app, "volume", n, "err", err)
			kept = append(kept, n)
			continue
		}
		deleted = append(deleted, n)
	}
	return kept, deleted
}
