package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
	"github.com/xcloud-dev/xcloud/store"
)

// Scheduled dumps of a service (services:backup-schedule) are stored as
// files under ServiceOptions.BackupDir, one directory per service, named
// by when they were taken (the ID services:backups lists and
// services:restore takes). The daemon checks the schedules every
// scheduleTick; a failed dump is a service:backup-failed event, which the
// notifiers deliver.

// scheduleTick is how often schedules are checked: cron's resolution is a
// minute.
const scheduleTick = 20 * time.Second

// maxKeep bounds services:backup-schedule --keep.
const maxKeep = 1000

// dumpIDLayout names stored dumps: sortable, no separators a shell minds.
const dumpIDLayout = "20060102T150405Z"

// dumpIDRe is compiled on first use: only database services need it.
var dumpIDRe = lazyre.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// StoredBackup is one stored dump of a service.
type StoredBackup struct {
	ID        string    `json:"id"`
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrNoBackupDir: the daemon was given no directory to store dumps in.
var ErrNoBackupDir = errors.New("no directory for service dumps")

func (d *Daemon) serviceBackupDir(name string) (string, error) {
	if d.opts.Services.BackupDir == "" {
		return "", &Error{Msg: "this daemon stores no service dumps (no backup directory)", Err: ErrNoBackupDir}
	}
	return filepath.Join(d.opts.Services.BackupDir, name), nil
}

// SetServiceBackupSchedule makes the daemon store a dump of the service on
// schedule (cron, "@daily", "@every 6h"; "off" for none), keeping the
// newest keep.
func (d *Daemon) SetServiceBackupSchedule(ctx context.Context, name, schedule string, keep int) error {
	if _, err := d.service(ctx, name); err != nil {
		return err
	}
	if schedule == "off" {
		schedule = ""
	}
	if schedule != "" {
		if _, err := cron.ParseStandard(schedule); err != nil {
			return &Error{Msg: fmt.Sprintf("schedule %q: not a cron schedule like \"0 3 * * *\" or \"@daily\": %v", schedule, err), Err: store.ErrInvalidName}
		}
		if _, err := d.serviceBackupDir(name); err != nil {
			return err
		}
	}
	if keep < 1 || keep > maxKeep {
		return &Error{Msg: fmt.Sprintf("--keep %d: want 1 to %d dumps", keep, maxKeep), Err: store.ErrInvalidName}
	}
	return d.store.SetServiceBackupSchedule(ctx, name, schedule, keep)
}

// ServiceBackups lists the service's stored dumps, newest first.
func (d *Daemon) ServiceBackups(ctx context.Context, name string) ([]StoredBackup, error) {
	if _, err := d.service(ctx, name); err != nil {
		return nil, err
	}
	dir, err := d.serviceBackupDir(name)
	if err != nil {
		return []StoredBackup{}, nil // none stored
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list dumps of %s: %w", name, err)
	}
	out := []StoredBackup{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".dump")
		if !ok || !dumpIDRe().MatchString(id) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		at, _ := time.Parse(dumpIDLayout, id)
		out = append(out, StoredBackup{ID: id, Bytes: info.Size(), CreatedAt: at})
	}
	slices.SortFunc(out, func(a, b StoredBackup) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

// RestoreStoredService restores the service from its stored dump id.
func (d *Daemon) RestoreStoredService(ctx context.Context, name, id string, out io.Writer) error {
	if _, err := d.service(ctx, name); err != nil {
		return err
	}
	dir, err := d.serviceBackupDir(name)
	if err != nil {
		return err
	}
	if !dumpIDRe().MatchString(id) {
		return &Error{Msg: fmt.Sprintf("%q is not a dump ID like 20260102T030000Z (services:backups %s lists them)", id, name), Err: store.ErrInvalidName}
	}
	f, err := os.Open(filepath.Join(dir, id+".dump"))
	if errors.Is(err, os.ErrNotExist) {
		return &Error{Msg: fmt.Sprintf("service %s has no stored dump %s (services:backups %s lists them)", name, id, name), Err: store.ErrNotFound}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return d.RestoreService(ctx, name, f, out)
}

// storeServiceDump takes a dump of the service into its directory and
// removes the oldest beyond its keep.
func (d *Daemon) storeServiceDump(ctx context.Context, svc store.Service, now time.Time) (StoredBackup, error) {
	dir, err := d.serviceBackupDir(svc.Name)
	if err != nil {
		return StoredBackup{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return StoredBackup{}, fmt.Errorf("store a dump of %s: %w", svc.Name, err)
	}
	id := now.UTC().Format(dumpIDLayout)
	path := filepath.Join(dir, id+".dump")
	f, err := os.CreateTemp(dir, id+".part*")
	if err != nil {
		return StoredBackup{}, fmt.Errorf("store a dump of %s: %w", svc.Name, err)
	}
	part := f.Name()
	defer os.Remove(part) // gone after the rename
	err = d.BackupService(ctx, svc.Name, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, path)
	}
	if err != nil {
		return StoredBackup{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return StoredBackup{}, err
	}
	all, err := d.ServiceBackups(ctx, svc.Name)
	if err != nil {
		return StoredBackup{}, err
	}
	for i, b := range all {
		if i >= max(svc.BackupKeep, 1) {
			if err := os.Remove(filepath.Join(dir, b.ID+".dump")); err != nil {
				d.log.Warn("remove an old service dump", "service", svc.Name, "id", b.ID, "err", err)
			}
		}
	}
	return StoredBackup{ID: id, Bytes: info.Size(), CreatedAt: now.UTC().Truncate(time.Second)}, nil
}

// backupScheduler runs services' scheduled dumps. next holds each
// scheduled service's next run, by name and schedule.
type backupScheduler struct {
	next map[string]time.Time
	spec map[string]string
}

// runBackupSchedules checks the schedules every scheduleTick until ctx
// ends.
func (d *Daemon) runBackupSchedules(ctx context.Context) {
	s := &backupScheduler{next: map[string]time.Time{}, spec: map[string]string{}}
	t := time.NewTicker(scheduleTick)
	defer t.Stop()
	for {
		d.backupTick(ctx, s, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backupTick runs the dumps due at now. A schedule seen for the first
// time (or changed) is due at its next time after now.
func (d *Daemon) backupTick(ctx context.Context, s *backupScheduler, now time.Time) {
	svcs, err := d.store.ListServices(ctx)
	if err != nil {
		d.log.Warn("list services for their backups", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, svc := range svcs {
		if svc.BackupSchedule == "" {
			continue
		}
		seen[svc.Name] = true
		sched, err := cron.ParseStandard(svc.BackupSchedule)
		if err != nil {
			continue // checked when set
		}
		if s.spec[svc.Name] != svc.BackupSchedule {
			s.spec[svc.Name], s.next[svc.Name] = svc.BackupSchedule, sched.Next(now)
			continue
		}
		if now.Before(s.next[svc.Name]) {
			continue
		}
		s.next[svc.Name] = sched.Next(now)
		b, err := d.storeServiceDump(ctx, svc, now)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Error("scheduled service dump", "service", svc.Name, "err", err)
			if _, aerr := d.store.AddEvent(ctx, store.Event{Type: store.EventServiceBackupFailed,
				Message: fmt.Sprintf("scheduled dump of service %s failed: %v", svc.Name, err),
				Data:    map[string]any{"service": svc.Name, "error": err.Error()}}); aerr != nil {
				d.log.Error("record failed service dump", "err", aerr)
			}
			continue
		}
		d.log.Info("stored a service dump", "service", svc.Name, "id", b.ID, "bytes", b.Bytes)
	}
	for name := range s.spec {
		if !seen[name] {
			delete(s.spec, name)
			delete(s.next, name)
		}
	}
}

// pruneStoredDumps removes a destroyed service's stored dumps but the
// newest, whose path it returns; with purge, all of them ("").
func (d *Daemon) pruneStoredDumps(name string, purge bool) (string, error) {
	dir, err := d.serviceBackupDir(name)
	if err != nil {
		return "", nil // none stored
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("stored dumps of %s: %w", name, err)
	}
	var dumps []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".dump"); ok && dumpIDRe().MatchString(id) {
			dumps = append(dumps, e.Name())
		}
	}
	slices.Sort(dumps)
	if purge || len(dumps) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("remove the stored dumps of %s: %w", name, err)
		}
		return "", nil
	}
	for _, f := range dumps[:len(dumps)-1] {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("remove a stored dump of %s: %w", name, err)
		}
	}
	return filepath.Join(dir, dumps[len(dumps)-1]), nil
}
