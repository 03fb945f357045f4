package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// backupOptions are the engine's backup settings from xcloud.toml.
func backupOptions(cfg config.Config) daemon.BackupOptions {
	return daemon.BackupOptions{
		KeyFile: cfg.Secrets.KeyFile, HostKeyFile: cfg.SSH.HostKey,
		StagingDir: cfg.Path("backup-staging"), CaddyDir: cfg.Path("caddy"), ServiceRestoreDir: cfg.Path("service-restore"),
		Schedule: cfg.Backup.Schedule, Dir: cfg.Backup.Dir, Keep: cfg.Backup.Keep, WithKey: cfg.Backup.WithKey,
	}
}

const restoreUsage = "usage: xcloud restore FILE [--force] [-config FILE]"

// runRestore is `xcloud restore FILE`: on a box whose daemon is stopped, it
// brings back what `backup` archived. The archive is read whole and checked
// against its manifest into a directory next to data_dir before anything
// changes, the volumes' files unpacked meanwhile into a staging volume
// where restore can write volumes itself; then the directory takes
// data_dir's place and the volumes get their files.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var file, cfgPath string
	force := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--force" || a == "-force":
			force = true
		case a == "-config" || a == "--config":
			if i+1 == len(args) {
				return errors.New(restoreUsage)
			}
			i++
			cfgPath = args[i]
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			_, cfgPath, _ = strings.Cut(a, "=")
		case strings.HasPrefix(a, "-") && a != "-":
			return fmt.Errorf("restore: unknown flag %q (%s)", a, restoreUsage)
		case file != "":
			return fmt.Errorf("restore: one archive at a time, got %q and %q (%s)", file, a, restoreUsage)
		default:
			file = a
		}
	}
	if file == "" {
		return errors.New(restoreUsage)
	}
	cfgPath = cmp.Or(cfgPath, os.Getenv("XCLOUD_CONFIG"), config.DefaultPath)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if addr, up := daemonAnswers(cfg.SSH.Listen); up {
		return fmt.Errorf("restore: the daemon is running (it answers on %s): stop it first", addr)
	}
	if n, err := entries(cfg.DataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	} else if n > 0 && !force {
		return fmt.Errorf("restore: data_dir %s is not empty: restore onto a fresh install, or repeat with --force to replace it (it is kept as %s.replaced-TIME)", cfg.DataDir, cfg.DataDir)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()

	// Everything is read and checked next to data_dir (the same file
	// system, so it moves into place with a rename) before anything changes.
	parent := filepath.Dir(cfg.DataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".xcloud-restore-")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp) // gone already once in place

	inst := instanceID(cfg.DataDir)
	var pod *podman.Client
	connect := func() error {
		if pod != nil {
			return nil
		}
		p, err := podman.Connect(ctx, podman.Options{Socket: cfg.Podman.Socket})
		pod = p
		return err
	}
	// Each volume's tar is unpacked as it is read, into a staging volume on
	// the volumes' file system, and moved into its volume once the archive
	// checked: its bytes are written once. Where restore cannot write
	// volumes itself (rootless Podman), the tar is kept for a helper
	// container.
	var stage *daemon.VolumeStaging
	tried := false
	defer func() {
		if stage != nil {
			if err := stage.Remove(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(stderr, "restore: %v\n", err)
			}
		}
	}()
	sink := func(volume string) (io.WriteCloser, error) {
		if !tried {
			tried = true
			if connect() != nil {
				return nil, nil // refused below, with the reason
			}
			var err error
			if stage, err = daemon.NewVolumeStaging(ctx, pod, inst); err != nil {
				return nil, err
			}
		}
		if stage == nil {
			return nil, nil
		}
		return stage.Sink(ctx, volume)
	}
	m, err := backup.ExtractTo(f, tmp, store.SchemaVersion(), sink)
	if errors.Is(err, daemon.ErrNeedHelper) {
		// Devices or FIFOs in a volume: read the archive again, keeping
		// the volumes' tars for tar in a helper container.
		fmt.Fprintln(stderr, "-----> A volume holds devices or FIFOs: reading the archive again to import it with tar in a helper container")
		if stage != nil {
			if err := stage.Remove(ctx); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			stage = nil
		}
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		m, err = backup.Extract(f, tmp, store.SchemaVersion())
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", file, err)
	}
	snap, _, err := store.OpenSnapshot(ctx, filepath.Join(tmp, filepath.FromSlash(backup.DatabaseName)))
	if err != nil {
		return fmt.Errorf("restore %s: %w", file, err)
	}
	snap.Close()

	if len(m.Volumes) > 0 || len(m.Images) > 0 {
		// Volumes and images go into Podman now: without it, refuse
		// before anything changes.
		if err := connect(); err != nil {
			return fmt.Errorf("restore: the archive has volumes or images, and Podman does not answer: %w", err)
		}
	}
	if len(m.Volumes) > 0 {
		helper := false // a volume not staged is imported by a helper container
		for _, v := range m.Volumes {
			helper = helper || stage == nil || !stage.Staged(v.Name)
		}
		if helper {
			if ok, err := pod.ImageExists(ctx, cfg.Stack.Base); err != nil || !ok {
				return fmt.Errorf("restore: volumes are imported with the stack's base image %s, which Podman does not have: run xcloud stack build first", cfg.Stack.Base)
			}
		}
		have, err := pod.ListVolumes(ctx, map[string]string{"xcloud.managed": "true"})
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		for _, v := range m.Volumes {
			name, _ := daemon.VolumeLabels(inst, v.Name)
			for _, h := range have {
				if h.Name == name && !force {
					return fmt.Errorf("restore: volume %s already exists in Podman: remove it, or repeat with --force to replace its data", name)
				}
			}
		}
	}
	if err := checkKeyFile(cfg.Secrets.KeyFile, filepath.Join(tmp, backup.KeyName), cfg.DataDir, force); err != nil {
		return err
	}

	// From here on, things change.
	if err := arrange(tmp, m); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if n, _ := entries(cfg.DataDir); n > 0 {
		aside := fmt.Sprintf("%s.replaced-%s", cfg.DataDir, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(cfg.DataDir, aside); err != nil {
			return fmt.Errorf("restore: move the old data_dir aside: %w", err)
		}
		fmt.Fprintf(stderr, "-----> The old data_dir is now %s\n", aside)
	} else if err := os.Remove(cfg.DataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, cfg.DataDir); err != nil {
		return fmt.Errorf("restore: move into place: %w", err)
	}
	for _, k := range []struct{ from, to string }{{backup.KeyName, cfg.Secrets.KeyFile}, {backup.HostKeyName, cfg.SSH.HostKey}} {
		if err := placeOutside(filepath.Join(cfg.DataDir, ".restore", k.from), k.to); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	volDir := filepath.Join(cfg.DataDir, ".restore", backup.VolumesDir)
	for _, v := range m.Volumes {
		name, labels := daemon.VolumeLabels(inst, v.Name)
		fmt.Fprintf(stderr, "-----> Importing volume %s\n", v.Name)
		if stage != nil && stage.Staged(v.Name) {
			if err := stage.Place(ctx, v.Name, name, labels, force); err != nil {
				return fmt.Errorf("restore: %w (the rest of the node is restored; run restore again with --force)", err)
			}
			continue
		}
		if force {
			if err := pod.RemoveVolume(ctx, name); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		}
		if err := daemon.ImportVolume(ctx, pod, cfg.Stack.Base, name, labels, volDir, v.Name+".tar"); err != nil {
			return fmt.Errorf("restore: %w (the rest of the node is restored; run restore again with --force)", err)
		}
	}
	imgDir := filepath.Join(cfg.DataDir, ".restore", backup.ImagesDir)
	for _, im := range m.Images {
		fmt.Fprintf(stderr, "-----> Loading the image of %s (%s)\n", im.App, im.Ref)
		if err := loadImage(ctx, pod, filepath.Join(imgDir, im.App+".tar"), im.Ref); err != nil {
			return fmt.Errorf("restore: %w (the rest of the node is restored; the daemon builds this app again on start)", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, ".restore")); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "Restored %d app(s), %d volume(s), %d service dump(s) and %d image(s) from %s (%s, %s) into %s.\n",
		len(m.Apps), len(m.Volumes), len(m.Services), len(m.Images), file, m.Version, m.CreatedAt.Format(time.RFC3339), cfg.DataDir)
	if !m.WithKey {
		fmt.Fprintf(stdout, "The archive has no config-var key: config vars are readable only with the key the backed-up node used at %s.\n", cfg.Secrets.KeyFile)
	}
	if len(m.Images) > 0 {
		fmt.Fprintln(stdout, "Start the daemon: it serves each app from its restored image, and builds again from its repository any app whose image the archive lacks (see events).")
	} else {
		fmt.Fprintln(stdout, "Start the daemon: it builds each app's image again from its repository (see events), then serves it.")
	}
	if len(m.Services) > 0 {
		fmt.Fprintln(stdout, "It also makes each service again and restores its dump once it answers (services:backups NAME lists the dump).")
	}
	return nil
}

// arrange lays the checked archive in tmp out as a data_dir: the database
// at the top, repositories, static files and certificates where the daemon
// keeps them, each service's dump as a stored dump (service-backups/NAME,
// named by the archive's time) with a note in service-restore/NAME that
// the next start restores it, keys, volumes and images aside in .restore
// until placed.
func arrange(tmp string, m backup.Manifest) error {
	aside := filepath.Join(tmp, ".restore")
	if err := os.Mkdir(aside, 0o700); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(backup.DatabaseName)), filepath.Join(tmp, "xcloud.db")); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(tmp, "db")); err != nil {
		return err
	}
	for _, name := range []string{backup.KeyName, backup.HostKeyName, backup.VolumesDir, backup.ImagesDir} {
		err := os.Rename(filepath.Join(tmp, name), filepath.Join(aside, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, dir := range []string{"repos", "static"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o700); err != nil {
			return err
		}
	}
	id := m.CreatedAt.UTC().Format("20060102T150405Z") // the services' dump IDs
	for _, sv := range m.Services {
		dumps, note := filepath.Join(tmp, "service-backups", sv.Name), filepath.Join(tmp, "service-restore")
		for _, d := range []string{dumps, note} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return err
			}
		}
		if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(backup.ServiceFile(sv.Name))), filepath.Join(dumps, id+".dump")); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(note, sv.Name), []byte(id+"\n"), 0o600); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(tmp, backup.ServicesDir)); err != nil {
		return err
	}
	// The daemon's data_dir is private to its user; MkdirTemp made it so.
	return os.Chmod(tmp, 0o700)
}

// loadImage loads the image archive at path into Podman as ref.
func loadImage(ctx context.Context, pod *podman.Client, path, ref string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pod.LoadImageArchive(ctx, f, ref)
}

// checkKeyFile refuses to replace an existing config-var key outside
// data_dir with a different one from the archive, unless forced: config
// vars sealed with it would become unreadable.
func checkKeyFile(keyFile, fromArchive, dataDir string, force bool) error {
	want, err := os.ReadFile(fromArchive)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if within(keyFile, dataDir) {
		return nil // replaced with data_dir
	}
	have, err := os.ReadFile(keyFile)
	if err == nil && string(have) != string(want) && !force {
		return fmt.Errorf("restore: %s holds another config-var key than the archive's: repeat with --force to replace it", keyFile)
	}
	return nil
}

// placeOutside moves a restored key to path; one inside data_dir that is
// not at the default place is moved there too.
func placeOutside(from, path string) error {
	if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.Rename(from, path); err == nil {
		return nil
	}
	// Another file system (a credentials directory): write, then rename.
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	tmp := path + ".restore"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// entries counts what dir holds; a missing dir holds nothing.
func entries(dir string) (int, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return len(es), err
}

// daemonAnswers reports whether something accepts connections on the
// daemon's SSH address (a daemon of this data_dir, most likely).
func daemonAnswers(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen, false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return addr, false
	}
	c.Close()
	return addr, true
}
