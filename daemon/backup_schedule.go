package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/xcloud-dev/xcloud/store"
)

// Scheduled archives are named backupPrefix + UTC time + backupSuffix, so
// their names sort by age.
const (
	backupPrefix = "xcloud-backup-"
	backupSuffix = ".tar.zst"
)

// startBackups runs scheduled backups ([backup] schedule) until the
// daemon's background context ends.
func (d *Daemon) startBackups() {
	d.clearStaging()
	d.restoreServices()
	if d.opts.Backup.Schedule == "" {
		return
	}
	sched, err := cron.ParseStandard(d.opts.Backup.Schedule)
	if err != nil {
		// config.Validate checked it; a bad one here is a wiring mistake.
		d.log.Error("backup schedule", "schedule", d.opts.Backup.Schedule, "err", err)
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		ctx := d.bgctx
		for {
			next := sched.Next(time.Now())
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if path, err := d.BackupToDir(ctx); err != nil {
				d.log.Error("scheduled backup failed", "err", err)
			} else {
				d.log.Info("scheduled backup written", "file", path)
			}
		}
	}()
}

// BackupToDir writes a backup into [backup] dir as
// xcloud-backup-<time>.tar.zst (whole or not at all: it is renamed into
// place once complete), then deletes the oldest archives beyond keep. It
// is what the schedule runs; the backup's event is recorded as xcloud's.
func (d *Daemon) BackupToDir(ctx context.Context) (string, error) {
	ctx = store.WithActor(ctx, "xcloud")
	dir := d.opts.Backup.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.recordBackupFailure(ctx, err)
		return "", fmt.Errorf("backup dir: %w", err)
	}
	name := backupPrefix + time.Now().UTC().Format("20060102T150405Z") + backupSuffix
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, ".partial-"+name+"-")
	if err != nil {
		d.recordBackupFailure(ctx, err)
		return "", fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone already once renamed
	_, err = d.Backup(ctx, tmp, BackupRequest{WithKey: d.opts.Backup.WithKey})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", err // Backup recorded it, or the file did not reach the disk
	}
	d.pruneBackups(dir, d.opts.Backup.Keep)
	return path, nil
}

func (d *Daemon) recordBackupFailure(ctx context.Context, err error) {
	if _, aerr := d.store.AddEvent(context.WithoutCancel(ctx), store.Event{Type: store.EventBackupFailed, Message: "backup failed: " + err.Error()}); aerr != nil {
		d.log.Error("record event", "err", aerr)
	}
}

// pruneBackups deletes the oldest scheduled archives in dir beyond keep.
func (d *Daemon) pruneBackups(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		d.log.Warn("list backups", "dir", dir, "err", err)
		return
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			d.log.Warn("remove old backup", "file", names[0], "err", err)
		} else {
			d.log.Info("removed old backup", "file", names[0])
		}
		names = names[1:]
	}
}

// clearStaging removes what backups cut short by a stop left in the
// staging directory; at start no backup runs yet.
func (d *Daemon) clearStaging() {
	dir := d.opts.Backup.StagingDir
	if dir == "" {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // none yet
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "backup-") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				d.log.Warn("remove an interrupted backup's copies", "dir", e.Name(), "err", err)
			}
		}
	}
	// Scheduled archives cut short by a stop.
	if entries, err := os.ReadDir(d.opts.Backup.Dir); err == nil && d.opts.Backup.Dir != "" {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".partial-"+backupPrefix) {
				_ = os.Remove(filepath.Join(d.opts.Backup.Dir, e.Name()))
			}
		}
	}
}
