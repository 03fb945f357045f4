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
	"time"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/store"
)

// serviceRestoreWait bounds how long a start waits for a restored service
// to answer before restoring its dump, and retries the restore meanwhile.
const (
	serviceRestoreWait  = 10 * time.Minute
	serviceRestoreRetry = 2 * time.Second
)

// archiveServices streams a dump of each service the snapshot knows into
// the archive: the dump services:backup takes (pg_dump -Fc, an RDB
// snapshot), consistent while the database runs, where a copy of its
// volume would not be. A service that is not running fails the backup: an
// archive silently without a database's data would be found out only
// when it is needed.
func (d *Daemon) archiveServices(ctx context.Context, aw *backup.Writer, svcs []store.Service) ([]backup.Service, error) {
	var out []backup.Service
	for _, svc := range svcs {
		pw, err := aw.Stream(backup.ServiceFile(svc.Name), 0o600)
		if err != nil {
			return nil, err
		}
		err = d.BackupService(ctx, svc.Name, pw)
		if cerr := pw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("dump service %s: %w", svc.Name, err)
		}
		out = append(out, backup.Service{Name: svc.Name, Kind: svc.Type})
	}
	return out, nil
}

// restoreServices restores the dumps `xcloud restore` left for the
// services (ServiceRestoreDir/NAME names the stored dump, in the services'
// dump directory), once each service answers: the start made its
// container and an empty volume. It runs in the background until each is
// restored, or fails after serviceRestoreWait (the dump stays stored for
// services:restore NAME ID; the failure is logged and a
// service:backup-failed event).
func (d *Daemon) restoreServices() {
	dir := d.opts.Backup.ServiceRestoreDir
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && dir != "" {
			d.log.Error("restored services", "err", err)
		}
		return
	}
	for _, e := range ents {
		name := e.Name()
		if store.ValidateServiceName(name) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			d.log.Error("restored service", "service", name, "err", err)
			continue
		}
		id := strings.TrimSpace(string(b))
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			d.restoreService(d.bgctx, filepath.Join(dir, name), name, id)
		}()
	}
}

func (d *Daemon) restoreService(ctx context.Context, marker, name, id string) {
	ctx = store.WithActor(ctx, "xcloud")
	ctx, cancel := context.WithTimeout(ctx, serviceRestoreWait)
	defer cancel()
	tick := time.NewTicker(serviceRestoreRetry)
	defer tick.Stop()
	for {
		err := d.restorePending(ctx, name, id)
		if err == nil {
			if err := os.Remove(marker); err != nil {
				d.log.Error("restored service", "service", name, "err", err)
			}
			d.log.Info("service restored from the node backup", "service", name, "dump", id)
			return
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg := fmt.Sprintf("restore of %s from the node backup failed: %v (services:restore %s %s tries again)", name, err, name, id)
				d.log.Error("restore service", "service", name, "err", err)
				if _, eerr := d.store.AddEvent(context.WithoutCancel(ctx), store.Event{Type: store.EventServiceBackupFailed, Message: msg, Data: map[string]any{"service": name}}); eerr != nil {
					d.log.Error("record event", "err", eerr)
				}
			}
			return
		case <-tick.C:
		}
	}
}

// restorePending restores a service from its stored dump once its
// container answers its health check.
func (d *Daemon) restorePending(ctx context.Context, name, id string) error {
	svc, c, err := d.runningService(ctx, name)
	if err != nil {
		return err
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	if err := d.waitService(ctx, rt, svc, c.ID); err != nil {
		return err
	}
	return d.RestoreStoredService(ctx, name, id, io.Discard)
}
