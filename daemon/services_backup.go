package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/xcloud-dev/xcloud/store"
)

// Backups of a service stream through the SSH door: a dump made in the
// service's container goes to the caller's stdout, and a restore reads
// one from stdin into the container, where it is checked before anything
// changes.

// backupCommand writes a dump to stdout: pg_dump's custom format, or an
// RDB snapshot fetched as a replica would (to a file first: valkey-cli
// writing to stdout leaves the transfer's end marker in the stream).
func backupCommand(svc store.Service) []string {
	if svc.Type == store.ServiceRedis {
		return []string{"sh", "-c", `f=$(mktemp -u) && valkey-cli -a "$REDIS_PASSWORD" --no-auth-warning --rdb "$f" >/dev/null && cat "$f"; rc=$?; rm -f "$f"; exit $rc`}
	}
	return []string{"pg_dump", "-Fc", "-U", "postgres", "--", svc.Name}
}

// postgresRestore restores a pg_dump -Fc dump from stdin into the
// database $1: into a new database first, which then takes the old one's
// place; a dump pg_restore cannot read, or one that fails to restore
// (truncated, damaged), leaves the data as it was. Connections to the
// database are ended for the swap.
const postgresRestore = `set -u
db=$1
f=$(mktemp)
trap 'rm -f "$f"' EXIT
cat > "$f"
if ! pg_restore --list "$f" >/dev/null 2>&1; then
	echo "not a whole PostgreSQL dump made by pg_dump -Fc (truncated, or of another kind?): nothing changed" >&2
	exit 3
fi
dropdb -U postgres --if-exists xcloud_restore && createdb -U postgres xcloud_restore || exit 1
if ! err=$(pg_restore -U postgres --no-owner --no-privileges --exit-on-error -d xcloud_restore "$f" 2>&1); then
	dropdb -U postgres --if-exists xcloud_restore
	echo "the dump does not restore (truncated or damaged?): nothing changed; pg_restore said: $(echo "$err" | tail -n 1)" >&2
	exit 4
fi
psql -U postgres -q -v ON_ERROR_STOP=1 -v db="$db" -d postgres >/dev/null <<'SQL' || exit 1
ALTER DATABASE :"db" ALLOW_CONNECTIONS false;
SQL
i=0
until psql -U postgres -q -v ON_ERROR_STOP=1 -v db="$db" -d postgres >/dev/null 2>&1 <<'SQL'
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db' AND pid <> pg_backend_pid();
ALTER DATABASE :"db" RENAME TO xcloud_old;
SQL
do
	i=$((i+1))
	if [ $i -ge 50 ]; then
		psql -U postgres -q -v db="$db" -d postgres >/dev/null <<'SQL'
ALTER DATABASE :"db" ALLOW_CONNECTIONS true;
SQL
		dropdb -U postgres --if-exists xcloud_restore
		echo "connections to $db did not end: nothing changed" >&2
		exit 5
	fi
	sleep 0.1
done
psql -U postgres -q -v ON_ERROR_STOP=1 -v db="$db" -d postgres >/dev/null <<'SQL' || exit 1
ALTER DATABASE xcloud_restore RENAME TO :"db";
DROP DATABASE xcloud_old WITH (FORCE);
SQL
`

// redisRestore checks an RDB dump from stdin and leaves it where the
// entry script takes it from on the next start.
const redisRestore = `set -u
f=/data/restore.rdb.part
trap 'rm -f "$f"' EXIT
cat > "$f"
if ! valkey-check-rdb "$f" >/dev/null 2>&1; then
	echo "not a whole Redis RDB dump (services:backup; truncated or of another kind?): nothing changed" >&2
	exit 3
fi
mv "$f" /data/restore.rdb
`

// BackupService streams a dump of the service's data to w.
func (d *Daemon) BackupService(ctx context.Context, name string, w io.Writer) error {
	svc, c, err := d.runningService(ctx, name)
	if err != nil {
		return err
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	if err := d.execService(ctx, rt, c.ID, backupCommand(svc), nil, w); err != nil {
		return fmt.Errorf("back up %s: %w", name, err)
	}
	return d.store.ServiceBackedUp(ctx, name, false)
}

// RestoreService replaces the service's data with a dump read from r, as
// BackupService writes them. A dump of the other type, or a truncated
// one, is refused with the data unchanged. Apps linked to a postgres
// service lose their connections to it during the swap; a redis service
// restarts (a few seconds without it).
func (d *Daemon) RestoreService(ctx context.Context, name string, r io.Reader, out io.Writer) error {
	svc, c, err := d.runningService(ctx, name)
	if err != nil {
		return err
	}
	rt, err := d.svcRT()
	if err != nil {
		return err
	}
	w := &progress{w: out}
	if svc.Type == store.ServiceRedis {
		w.step("Reading and checking the dump")
		if err := d.execService(ctx, rt, c.ID, []string{"sh", "-c", redisRestore}, r, nil); err != nil {
			return err
		}
		w.step("Restarting %s on the restored data (it does not answer for a few seconds)", name)
		if err := d.cycleService(ctx, rt, svc, c.ID); err != nil {
			return err
		}
	} else {
		w.step("Restoring into a new database; connections to %s end while it takes the old one's place", name)
		if err := d.execService(ctx, rt, c.ID, []string{"sh", "-c", postgresRestore, "xcloud-restore", name}, r, nil); err != nil {
			return err
		}
	}
	if err := d.store.ServiceBackedUp(ctx, name, true); err != nil {
		return err
	}
	w.done("%s restored", name)
	return nil
}
