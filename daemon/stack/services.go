package stack

// The service images run the databases apps link to (services:create):
// PostgreSQL 17 and Valkey, the Redis fork Debian 13 maintains alongside
// Redis 8 under a BSD licence, both from trixie's packages, each as the
// unprivileged user its package makes. Their data lives at a fixed path
// (ServiceDataDir) the daemon mounts a volume on; the entry scripts read
// the password from the environment the daemon sets.

// Paths and ports the daemon relies on in the service images.
const (
	PostgresDataDir = "/var/lib/postgresql/data"
	PostgresPort    = 5432
	RedisDataDir    = "/data"
	RedisPort       = 6379
)

// noServiceStarts keeps package scripts from starting the server during
// the build (there is no init to stop it).
const noServiceStarts = `printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d`

func postgresImage(n Names) Image {
	return Image{
		Role: "postgres", Name: n.Postgres, From: n.Base,
		// No cluster in the image: the entry script makes one on the volume.
		Setup: noServiceStarts + " \\\n && mkdir -p /etc/postgresql-common/createcluster.d" +
			" \\\n && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/xcloud.conf",
		Packages: []string{"postgresql-17"},
		Files:    map[string]string{"xcloud-postgres": postgresEntry},
		Owner:    "postgres",
		Dirs:     []string{PostgresDataDir, "/run/postgresql"},
		Env:      []string{"PATH=/usr/lib/postgresql/17/bin:" + defaultPath, "PGDATA=" + PostgresDataDir},
		User:     "postgres",
		Cmd:      []string{"xcloud-postgres"},
	}
}

// postgresEntry initialises the cluster on the first start (superuser
// postgres with POSTGRES_PASSWORD, a database POSTGRES_DB, password logins
// over the network) and then runs the server in the foreground, so that
// stopping the container stops it cleanly (SIGTERM: smart shutdown).
const postgresEntry = `#!/bin/sh
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
	initdb --username=postgres --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
	rm -f "$pw"
	echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
	if [ "${POSTGRES_DB:-postgres}" != postgres ]; then
		createdb --username=postgres -- "$POSTGRES_DB"
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "xcloud: database $POSTGRES_DB created"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c "shared_buffers=${POSTGRES_SHARED_BUFFERS:-128MB}"
`

func redisImage(n Names) Image {
	return Image{
		Role: "redis", Name: n.Redis, From: n.Base,
		Setup:    noServiceStarts,
		Packages: []string{"valkey-server"},
		Files:    map[string]string{"xcloud-redis": redisEntry},
		Owner:    "valkey",
		Dirs:     []string{RedisDataDir},
		User:     "valkey",
		Cmd:      []string{"xcloud-redis"},
	}
}

// redisEntry runs Valkey in the foreground on RedisDataDir with both an
// append-only file and snapshots; the password goes through a file so it
// is not on the command line. A dump services:restore checked and left as
// restore.rdb replaces the data before the server starts. REDIS_MAXMEMORY,
// when set, caps the data set, refusing writes beyond it rather than
// evicting keys.
const redisEntry = `#!/bin/sh
set -eu
if [ -f /data/restore.rdb ]; then
	# The append-only file's base is an RDB file: the dump becomes it.
	d=/data/appendonlydir.new
	rm -rf "$d" && mkdir "$d"
	mv /data/restore.rdb "$d/appendonly.aof.1.base.rdb"
	: > "$d/appendonly.aof.1.incr.aof"
	printf 'file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n' > "$d/appendonly.aof.manifest"
	rm -rf /data/appendonlydir /data/dump.rdb
	mv "$d" /data/appendonlydir
	echo 'xcloud: starting from the restored dump'
fi
conf=$(mktemp)
chmod 0600 "$conf"
{
	printf 'requirepass %s\n' "$REDIS_PASSWORD"
	echo 'bind * -::*'
	echo 'protected-mode no'
	echo 'port 6379'
	echo 'dir /data'
	echo 'appendonly yes'
	echo 'dbfilename dump.rdb'
	if [ -n "${REDIS_MAXMEMORY:-}" ]; then
		echo "maxmemory $REDIS_MAXMEMORY"
		echo 'maxmemory-policy noeviction'
	fi
} > "$conf"
exec valkey-server "$conf"
`
