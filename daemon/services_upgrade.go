package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// services:upgrade moves a PostgreSQL service's data to a newer major:
// a stored backup first, then a dump of the running server restored into
// a new server of the newer major on a volume of its own, which then takes
// the old one's place. Which majors there are comes from one table, the
// releases (the stack's image and ServiceOptions.Releases); with the
// stack's one major only, an upgrade is refused.

// The majors the stack's service images install (daemon/stack: the
// postgresql-17 and valkey-server packages of trixie).
const (
	stackPostgresMajor = 17
	stackRedisMajor    = 8
)

// ServiceRelease is one major version of a service type and the image
// that runs it.
type ServiceRelease struct {
	Type  string // store.ServicePostgres or store.ServiceRedis
	Major int
	Image string
}

// Version names the release for people: "PostgreSQL 17".
func (r ServiceRelease) Version() string {
	if r.Type == store.ServiceRedis {
		return fmt.Sprintf("Valkey %d (Redis-compatible)", r.Major)
	}
	return fmt.Sprintf("PostgreSQL %d", r.Major)
}

// serviceReleases lists the releases of typ, oldest major first: the
// stack's, and those ServiceOptions.Releases adds (one of the same major
// replaces the stack's).
func (d *Daemon) serviceReleases(typ string) []ServiceRelease {
	major := stackPostgresMajor
	if typ == store.ServiceRedis {
		major = stackRedisMajor
	}
	out := []ServiceRelease{{Type: typ, Major: major, Image: d.stackImage(typ)}}
	for _, r := range d.opts.Services.Releases {
		if r.Type != typ {
			continue
		}
		out = slices.DeleteFunc(out, func(o ServiceRelease) bool { return o.Major == r.Major })
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ServiceRelease) int { return cmp.Compare(a.Major, b.Major) })
	return out
}

// newestRelease is what services:create runs.
func (d *Daemon) newestRelease(typ string) ServiceRelease {
	rs := d.serviceReleases(typ)
	return rs[len(rs)-1]
}

// serviceRelease is the release svc's data is of. A major no release
// names (0: stored before majors were) takes the stack's image.
func (d *Daemon) serviceRelease(svc store.Service) ServiceRelease {
	rs := d.serviceReleases(svc.Type)
	if i := slices.IndexFunc(rs, func(r ServiceRelease) bool { return r.Major == svc.Major }); i >= 0 {
		return rs[i]
	}
	r := ServiceRelease{Type: svc.Type, Major: svc.Major, Image: d.stackImage(svc.Type)}
	if r.Major == 0 {
		r = rs[0]
	}
	return r
}

// readOnly makes new connections to database $1 read-only and ends the
// ones open, so that nothing is written after the dump begins; readWrite
// undoes it. Apps reading keep working; their writes fail meanwhile.
const (
	readOnly = `psql -U postgres -q -v ON_ERROR_STOP=1 -v db="$1" -d postgres >/dev/null <<'SQL'
ALTER DATABASE :"db" SET default_transaction_read_only = on;
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db' AND pid <> pg_backend_pid();
SQL
`
	readWrite = `psql -U postgres -q -v ON_ERROR_STOP=1 -v db="$1" -d postgres >/dev/null <<'SQL'
ALTER DATABASE :"db" RESET default_transaction_read_only;
SQL
`
)

// UpgradeService moves a PostgreSQL service's data to the newest major
// there is an image of. It is refused when there is none newer, and for
// Redis, whose data files carry over between releases. A failure before
// the new server takes over leaves the service as it was.
func (d *Daemon) UpgradeService(ctx context.Context, name string, out io.Writer) error {
	svc, old, err := d.runningService(ctx, name)
	if err != nil {
		return err
	}
	cur := d.serviceRelease(svc)
	if svc.Type == store.ServiceRedis {
		return &Error{Msg: fmt.Sprintf("%s is a redis service (%s): its data files carry over between releases, so there is no major upgrade to run; services:upgrade is for postgres services", name, cur.Version()), Err: store.ErrConflict}
	}
	next := d.newestRelease(svc.Type)
	if next.Major <= cur.Major {
		return &Error{Msg: fmt.Sprintf("service %s runs %s, the newest this node has an image of: nothing to upgrade to", name, cur.Version()), Err: store.ErrConflict}
	}
	if ok, err := d.rt.ImageExists(ctx, next.Image); err != nil {
		return err
	} else if !ok {
		return &Error{Msg: fmt.Sprintf("the image of %s, %s, is not in local storage: run xcloud stack build", next.Version(), next.Image), Err: store.ErrNotFound}
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	password, err := d.servicePassword(svc)
	if err != nil {
		return err
	}
	w := &progress{w: out}
	w.step("Storing a backup of %s (%s) first", name, cur.Version())
	b, err := d.storeServiceDump(ctx, svc, time.Now())
	if err != nil {
		return fmt.Errorf("a backup before the upgrade: %w", err)
	}
	fmt.Fprintf(out, "       stored as %s (services:restore %s %s brings it back)\n", b.ID, name, b.ID)

	up := svc
	up.Major, up.Volume = next.Major, d.ServiceName(name)+"-"+strconv.Itoa(next.Major)
	if up.Volume == d.serviceVolume(svc) {
		return fmt.Errorf("upgrade %s: the new volume would be the old one, %s", name, up.Volume)
	}
	w.step("Starting %s on a new volume, %s", next.Version(), up.Volume)
	if err := d.rt.EnsureVolume(ctx, up.Volume, d.serviceLabels(name, roleService)); err != nil {
		return err
	}
	spec := d.serviceSpec(up, password)
	spec.Name += "-upgrade"
	spec.Labels = d.serviceLabels(name, roleServiceOneOff) // not supervised; reconcile removes a leftover
	tmp, err := rt.RunAliased(ctx, spec, nil, nil, true)
	undo := func(why error) error {
		uctx := context.WithoutCancel(ctx)
		if tmp.ID != "" {
			if err := d.rt.Remove(uctx, tmp.ID); err != nil {
				d.log.Warn("remove upgrade container", "service", name, "err", err)
			}
		}
		if err := d.rt.RemoveVolume(uctx, up.Volume); err != nil {
			d.log.Warn("remove upgrade volume", "service", name, "err", err)
		}
		return &Error{Msg: fmt.Sprintf("the upgrade of %s failed, nothing changed (it runs %s): %v", name, cur.Version(), why), Err: store.ErrConflict}
	}
	if err == nil {
		err = d.waitService(ctx, rt, up, tmp.ID)
	}
	if err != nil {
		return undo(err)
	}

	w.step("Copying the data; %s takes no writes until %s takes over (reads go on)", name, next.Version())
	if err := d.execService(ctx, rt, old.ID, []string{"sh", "-c", readOnly, "xcloud-upgrade", name}, nil, nil); err != nil {
		return undo(err)
	}
	if err := d.copyDatabase(ctx, rt, svc, old.ID, tmp.ID); err != nil {
		if rerr := d.execService(context.WithoutCancel(ctx), rt, old.ID, []string{"sh", "-c", readWrite, "xcloud-upgrade", name}, nil, nil); rerr != nil {
			d.log.Error("writes back on after a failed upgrade", "service", name, "err", rerr)
		}
		return undo(err)
	}
	// A clean shutdown writes the last checkpoint before the volume
	// changes hands.
	if err := d.rt.Stop(ctx, tmp.ID, serviceStopGrace); err != nil {
		return undo(err)
	}
	if err := d.rt.Remove(ctx, tmp.ID); err != nil {
		d.log.Warn("remove upgrade container", "service", name, "err", err)
	}
	if err := d.store.SetServiceMajor(ctx, name, up.Major, up.Volume); err != nil {
		tmp.ID = ""
		return undo(err)
	}

	w.step("Moving %s to %s", name, next.Version())
	if err := d.remakeService(ctx, rt, up); err != nil {
		return fmt.Errorf("the data of %s is on %s, but the server does not start on it: %w (the backup %s stays)", name, next.Version(), err, b.ID)
	}
	if err := d.rt.RemoveVolume(ctx, d.serviceVolume(svc)); err != nil {
		d.log.Warn("remove the volume of the old major", "service", name, "err", err)
	}
	w.done("%s runs %s; the backup taken before, %s, stays (services:backups %s)", name, next.Version(), b.ID, name)
	return nil
}

// copyDatabase streams a dump of svc's database from the container from
// into the same database of the container to.
func (d *Daemon) copyDatabase(ctx context.Context, rt serviceRuntime, svc store.Service, from, to string) error {
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		err := d.execService(ctx, rt, from, backupCommand(svc), nil, pw)
		pw.CloseWithError(err)
		dumped <- err
	}()
	err := d.execService(ctx, rt, to, []string{"pg_restore", "-U", "postgres", "--no-owner", "--no-privileges", "--exit-on-error", "-d", svc.Name}, pr, nil)
	pr.Close() // a restore that gave up early ends the dump
	derr := <-dumped
	switch {
	case derr != nil && !errors.Is(derr, io.ErrClosedPipe):
		return fmt.Errorf("dump: %w", derr)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	return derr
}
