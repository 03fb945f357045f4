package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// BackupOptions configure backups of the whole node.
type BackupOptions struct {
	// KeyFile is the config-var key and HostKeyFile the SSH server's key,
	// archived only when asked (WithKey).
	KeyFile     string
	HostKeyFile string
	// StagingDir is where a backup gathers its copies before streaming
	// them: on the file system of ReposDir and StaticDir, so repositories
	// and static files are hard-linked rather than copied.
	StagingDir string
	// CaddyDir is the proxy's certificate storage, archived so a restored
	// node does not ask the ACME CA for every certificate again.
	CaddyDir string
	// ServiceRestoreDir is where `xcloud restore` leaves, per service, the
	// ID of the stored dump the next start restores it from.
	ServiceRestoreDir string
	// Schedule (cron), Dir, Keep and WithKey: scheduled backups
	// (backup_schedule.go); Schedule "" runs none.
	Schedule string
	Dir      string
	Keep     int
	WithKey  bool
}

// BackupRequest is what `backup` asks for.
type BackupRequest struct {
	// WithKey archives the config-var key too.
	WithKey bool
	// WithImages archives each app's current release image, so a
	// restored node serves without building; without it restore builds
	// them again from the repositories.
	WithImages bool
}

// BackupResult describes a written archive.
type BackupResult struct {
	Manifest backup.Manifest
	Bytes    int64 // of the compressed archive
}

// stageAttempts bounds how often a backup gathers its copies again when a
// deploy removed a file it was copying.
const stageAttempts = 5

// errVanished: a file went away while it was being copied (a git gc, a
// static copy pruned by a deploy): the copy is gathered again.
var errVanished = errors.New("a file went away during the copy")

// Backup writes an archive of the whole node to w: a snapshot of the
// database, the repository of every app in it, the static files its
// releases serve, its volumes and, with WithKey, the config-var key. The
// database and repositories are gathered first (a VACUUM INTO, hard
// links), so a push or deploy during the backup cannot tear the archive;
// the archive is the state of the snapshot's moment, each repository
// holding at least the commits its releases name. Volumes are then read
// as they are and streamed into the archive without a staged copy.
func (d *Daemon) Backup(ctx context.Context, w io.Writer, req BackupRequest) (res BackupResult, err error) {
	start := time.Now()
	defer func() {
		typ, msg, data := store.EventBackupSucceeded, "", map[string]any{}
		if err != nil {
			typ, msg = store.EventBackupFailed, "backup failed: "+err.Error()
		} else {
			msg = fmt.Sprintf("backup of %d apps and %d volumes, %s", len(res.Manifest.Apps), len(res.Manifest.Volumes), formatSize(res.Bytes))
			if n := len(res.Manifest.Images); n > 0 {
				msg = fmt.Sprintf("backup of %d apps, %d volumes and %d images, %s", len(res.Manifest.Apps), len(res.Manifest.Volumes), n, formatSize(res.Bytes))
			}
			data["bytes"] = res.Bytes
		}
		data["seconds"] = time.Since(start).Seconds()
		if _, eerr := d.store.AddEvent(context.WithoutCancel(ctx), store.Event{Type: typ, Message: msg, Data: data}); eerr != nil {
			d.log.Error("record backup event", "err", eerr)
		}
	}()
	if err := os.MkdirAll(d.opts.Backup.StagingDir, 0o700); err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	stage, err := os.MkdirTemp(d.opts.Backup.StagingDir, "backup-")
	if err != nil {
		return BackupResult{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(stage)

	var st staged
	for attempt := 1; ; attempt++ {
		st, err = d.stage(ctx, stage)
		if err == nil {
			break
		}
		if !errors.Is(err, errVanished) || attempt == stageAttempts {
			return BackupResult{}, err
		}
		d.log.Info("backup: gathering the copies again", "attempt", attempt+1, "err", err)
		if err := os.RemoveAll(stage); err != nil {
			return BackupResult{}, fmt.Errorf("backup: %w", err)
		}
		if err := os.Mkdir(stage, 0o700); err != nil {
			return BackupResult{}, fmt.Errorf("backup: %w", err)
		}
	}
	gathered := time.Now()

	// The compressed archive is written out by a goroutine of its own, so
	// compressing goes on while the SSH channel encrypts and sends, in
	// pieces of eight full SSH packets; up to 2 MiB wait.
	out := newAsyncWriter(w, 8, 8*sshPacketData)
	defer out.Close() // after an error: its goroutine ends
	cw := &countWriter{w: out}
	hdr := backup.Header{Version: d.opts.Version, Schema: st.schema, CreatedAt: st.at}
	if req.WithImages {
		hdr.Format = backup.Format
	}
	aw, err := backup.NewWriter(cw, hdr)
	if err != nil {
		return BackupResult{}, err
	}
	if err := d.writeArchive(aw, stage, st, req.WithKey); err != nil {
		aw.Abort()
		return BackupResult{}, err
	}
	written := time.Now()
	// Volumes are read as they are now and streamed straight into the
	// archive: no copy of them is staged on disk.
	vols, how, err := d.archiveVolumes(ctx, aw)
	if err != nil {
		aw.Abort()
		return BackupResult{}, err
	}
	volumesDone := time.Now()
	svcs, err := d.archiveServices(ctx, aw, st.services)
	if err != nil {
		aw.Abort()
		return BackupResult{}, err
	}
	servicesDone := time.Now()
	var imgs []backup.Image
	if req.WithImages {
		if imgs, err = d.archiveImages(ctx, aw, st.images); err != nil {
			aw.Abort()
			return BackupResult{}, err
		}
	}
	m, err := aw.Close(backup.Manifest{Apps: st.apps, Volumes: vols, Services: svcs, Images: imgs})
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		return BackupResult{}, err
	}
	read := make([]string, 0, len(how))
	for _, v := range vols {
		read = append(read, v.Name+"="+how[v.Name])
	}
	d.log.Info("backup written", "bytes", cw.n, "files", len(m.Files), "volumes_read", strings.Join(read, ","),
		"snapshot_s", gathered.Sub(start).Seconds(), "files_s", written.Sub(gathered).Seconds(), "volumes_s", volumesDone.Sub(written).Seconds(), "services_s", servicesDone.Sub(volumesDone).Seconds(),
		"images", len(imgs), "images_s", time.Since(servicesDone).Seconds())
	return BackupResult{Manifest: m, Bytes: cw.n}, nil
}

func (d *Daemon) writeArchive(aw *backup.Writer, stage string, st staged, withKey bool) error {
	if err := aw.AddFile(backup.DatabaseName, filepath.Join(stage, "xcloud.db")); err != nil {
		return err
	}
	for _, app := range st.repos {
		if err := aw.AddTree(backup.ReposDir+"/"+app+".git", filepath.Join(stage, "repos", app+".git")); err != nil {
			return err
		}
	}
	for _, app := range st.static {
		if err := aw.AddTree(backup.StaticDir+"/"+app, filepath.Join(stage, "static", app)); err != nil {
			return err
		}
	}
	if st.caddy {
		if err := aw.AddTree(backup.CaddyDir, filepath.Join(stage, "caddy")); err != nil {
			return err
		}
	}
	if withKey {
		if err := aw.AddFile(backup.KeyName, d.opts.Backup.KeyFile); err != nil {
			return fmt.Errorf("archive the config-var key: %w", err)
		}
		// The host key keeps clients' known_hosts valid after a restore.
		if _, err := os.Stat(d.opts.Backup.HostKeyFile); err == nil {
			if err := aw.AddFile(backup.HostKeyName, d.opts.Backup.HostKeyFile); err != nil {
				return fmt.Errorf("archive the SSH host key: %w", err)
			}
		}
	}
	return nil
}

// staged is what stage gathered.
type staged struct {
	schema int
	at     time.Time
	apps   []string // every app in the snapshot
	repos  []string // apps with a repository
	static []string // apps with static files
	// services are the snapshot's database services, dumped after the
	// volumes.
	services []store.Service
	caddy    bool // certificates were copied
	// images are the snapshot's current release images (archived only
	// with WithImages).
	images []backup.Image
}

// stage snapshots the database into dir, then hard-links each of the
// snapshot's apps' repository and the static files its releases need.
// The database goes first: a push stores its commits before a release
// names them, so the repositories copied after hold every commit the
// snapshot's releases name.
func (d *Daemon) stage(ctx context.Context, dir string) (staged, error) {
	st := staged{at: time.Now().UTC()}
	dbPath := filepath.Join(dir, "xcloud.db")
	schema, err := d.store.Snapshot(ctx, dbPath)
	if err != nil {
		return st, err
	}
	st.schema = schema
	snap, _, err := store.OpenSnapshot(ctx, dbPath)
	if err != nil {
		return st, err
	}
	defer snap.Close()
	apps, err := snap.ListApps(ctx)
	if err != nil {
		return st, err
	}
	if st.services, err = snap.ListServices(ctx); err != nil {
		return st, err
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	if st.images, err = releaseImages(ctx, snap, names); err != nil {
		return st, err
	}
	// Certificates and the local CA (hard links: Caddy writes a file
	// whole and renames it into place; its lock files are left out).
	if src := d.opts.Backup.CaddyDir; src != "" {
		err := linkTree(src, filepath.Join(dir, "caddy"))
		switch {
		case errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errVanished):
			// none yet (TLS off, or never started)
		case err != nil:
			return st, fmt.Errorf("copy the certificates: %w", err)
		default:
			st.caddy = true
		}
	}
	for _, a := range apps {
		st.apps = append(st.apps, a.Name)
		src := gitreceive.RepoDir(d.opts.ReposDir, a.Name)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue // created, never pushed to
		}
		if err := linkRepo(src, filepath.Join(dir, "repos", a.Name+".git")); err != nil {
			return st, fmt.Errorf("copy the repository of %s: %w", a.Name, err)
		}
		st.repos = append(st.repos, a.Name)
		dirs, err := staticDirs(ctx, snap, a.Name)
		if err != nil {
			return st, err
		}
		for _, sd := range dirs {
			err := linkTree(filepath.Join(d.opts.StaticDir, a.Name, sd.dir), filepath.Join(dir, "static", a.Name, sd.dir))
			if errors.Is(err, fs.ErrNotExist) && !sd.current {
				continue // pruned: only a rollback target is lost
			}
			if errors.Is(err, fs.ErrNotExist) {
				return st, fmt.Errorf("static files of %s: %w", a.Name, errVanished)
			}
			if err != nil {
				return st, fmt.Errorf("copy the static files of %s: %w", a.Name, err)
			}
			if len(st.static) == 0 || st.static[len(st.static)-1] != a.Name {
				st.static = append(st.static, a.Name)
			}
		}
	}
	return st, nil
}

type staticDir struct {
	dir     string
	current bool
}

// staticDirs lists the static copies the snapshot's releases of app use.
func staticDirs(ctx context.Context, snap *store.Store, app string) ([]staticDir, error) {
	rels, err := snap.ListReleases(ctx, app, keptReleases)
	if err != nil {
		return nil, err
	}
	cur, err := snap.CurrentRelease(ctx, app)
	if err == nil {
		rels = append(rels, cur)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	seen := map[string]int{}
	var out []staticDir
	for _, r := range rels {
		spec, err := parseSpec(r.Spec)
		if err != nil || spec.Static == "" || r.Status == store.ReleaseFailed {
			continue
		}
		isCur := r.Status == store.ReleaseActive
		if i, ok := seen[spec.Static]; ok {
			out[i].current = out[i].current || isCur
			continue
		}
		seen[spec.Static] = len(out)
		out = append(out, staticDir{dir: spec.Static, current: isCur})
	}
	return out, nil
}

// linkRepo hard-links a bare repository into dst in an order a push or a
// git gc running meanwhile cannot tear: loose refs before packed-refs (a
// ref packed meanwhile is then in the packed-refs read later), refs before
// objects (objects are only ever added before a ref names them), loose
// objects before packs (an object packed and pruned meanwhile is then in a
// pack listed later). Git replaces files by renaming, so a link is the
// file as it was. A file gone between listing and linking makes the copy
// start over (errVanished).
func linkRepo(src, dst string) error {
	objects := filepath.Join(src, "objects")
	packs := filepath.Join(objects, "pack")
	packed := filepath.Join(src, "packed-refs")
	passes := []func(p string, dir bool) (want, descend bool){
		func(p string, dir bool) (bool, bool) { return p != objects && p != packed, p != objects },
		func(p string, dir bool) (bool, bool) { return p == packed, p != objects },
		func(p string, dir bool) (bool, bool) {
			in := strings.HasPrefix(p, objects) && p != packs
			return in, p == src || (in && !strings.HasPrefix(p, packs))
		},
		func(p string, dir bool) (bool, bool) {
			return strings.HasPrefix(p, packs), p == src || p == objects || strings.HasPrefix(p, packs)
		},
	}
	for _, pass := range passes {
		if err := linkWalk(src, dst, pass); err != nil {
			return err
		}
	}
	return nil
}

// linkTree hard-links every regular file under src into dst.
func linkTree(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	return linkWalk(src, dst, func(string, bool) (bool, bool) { return true, true })
}

// linkWalk links the regular files under src that pick wants into dst,
// descending into the directories it says to.
func linkWalk(src, dst string, pick func(p string, dir bool) (want, descend bool)) error {
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != src {
				return fmt.Errorf("%s: %w", p, errVanished)
			}
			return err
		}
		// A push's quarantine, a pack being written, a lock: git's own
		// scratch files, never part of the repository's state.
		if name := e.Name(); strings.HasPrefix(name, "incoming-") || strings.HasPrefix(name, "tmp_") || strings.HasSuffix(name, ".lock") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		want, descend := pick(p, e.IsDir())
		if e.IsDir() {
			if !descend && p != src {
				return filepath.SkipDir
			}
			// Empty directories matter too: git wants refs/ and objects/.
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !want || !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return err
		}
		err = os.Link(p, out)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", p, errVanished)
		}
		if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EMLINK) {
			err = copyFile(p, out) // another file system, or links not allowed
		}
		return err
	})
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", src, errVanished)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// VolumeLabels returns the name and labels a volume NAME has in the
// install whose instance is given: what a restore creates.
func VolumeLabels(instance, name string) (string, map[string]string) {
	d := &Daemon{opts: Options{Instance: instance}}
	return d.PodmanVolume(name), d.volumeLabels(name)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
