package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// schemaMigrations returns the ordered schema steps. Step i (0-based) takes
// the database from user_version i to i+1. Append new steps; never edit or
// reorder shipped ones.
func schemaMigrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV7, schemaV8, schemaV9, schemaV10, schemaV11, schemaV12, schemaV13, schemaV14}
}

// schemaV1 is the initial schema. Child tables reference apps(name) so that
// deleting an app cascades to its builds, releases, domains and config vars.
// Events deliberately have no foreign key: history outlives the app.
// Timestamps are INTEGER unix nanoseconds (UTC).
const schemaV1 = `
CREATE TABLE apps (
	id              INTEGER PRIMARY KEY,
	name            TEXT    NOT NULL UNIQUE,
	created_at      INTEGER NOT NULL,
	current_release INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE builds (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	app         TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	ref         TEXT    NOT NULL,
	commit_sha  TEXT    NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
	image       TEXT    NOT NULL DEFAULT '',
	error       TEXT    NOT NULL DEFAULT '',
	log         BLOB,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX builds_app_id ON builds (app, id);
CREATE INDEX builds_running ON builds (status) WHERE status = 'running';

CREATE TABLE releases (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	app         TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	version     INTEGER NOT NULL,
	build_id    INTEGER REFERENCES builds(id) ON DELETE SET NULL,
	image       TEXT    NOT NULL,
	commit_sha  TEXT    NOT NULL DEFAULT '',
	status      TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'superseded', 'failed')),
	description TEXT    NOT NULL DEFAULT '',
	error       TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	UNIQUE (app, version)
);
CREATE UNIQUE INDEX releases_one_active ON releases (app) WHERE status = 'active';
CREATE INDEX releases_pending ON releases (status) WHERE status = 'pending';

CREATE TABLE ssh_keys (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL UNIQUE,
	fingerprint TEXT    NOT NULL UNIQUE,
	public_key  TEXT    NOT NULL,
	admin       INTEGER NOT NULL DEFAULT 0,
	apps        TEXT    NOT NULL DEFAULT '[]', -- JSON array of app names
	created_at  INTEGER NOT NULL
);

CREATE TABLE domains (
	host       TEXT    PRIMARY KEY,
	app        TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
);
CREATE INDEX domains_app ON domains (app);

CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	type       TEXT    NOT NULL,
	app        TEXT    NOT NULL DEFAULT '',
	message    TEXT    NOT NULL DEFAULT '',
	data       TEXT    NOT NULL DEFAULT '{}', -- JSON object
	created_at INTEGER NOT NULL
);
CREATE INDEX events_app_id ON events (app, id);

-- Encrypted config vars; value is ciphertext. Unused until config vars land.
CREATE TABLE config_vars (
	app   TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	name  TEXT NOT NULL,
	value BLOB NOT NULL,
	PRIMARY KEY (app, name)
);
`

// schemaV2 adds what a release needs to be re-run without its repository
// (the daemon's JSON spec: process types, health checks, cron) and the
// per-app scale of each process type, and whether an admin stopped the app.
const schemaV2 = `
ALTER TABLE releases ADD COLUMN spec TEXT NOT NULL DEFAULT '{}';
ALTER TABLE apps ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;

CREATE TABLE formation (
	app      TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	type     TEXT    NOT NULL,
	quantity INTEGER NOT NULL CHECK (quantity >= 0),
	PRIMARY KEY (app, type)
);
`

// schemaV3 adds per-app resource limits (the daemon's JSON, opaque here).
const schemaV3 = `
ALTER TABLE apps ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
`

// schemaV4 gives each release a snapshot of the app's config vars, sealed
// by the daemon like config_vars values, so a rollback restores both.
const schemaV4 = `
ALTER TABLE releases ADD COLUMN config BLOB;
`

// schemaV5 records cron job runs: what ran, from which release, how it
// ended and the tail of its output. Runs go with their app.
const schemaV5 = `
CREATE TABLE cron_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	app         TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	job         TEXT    NOT NULL,
	command     TEXT    NOT NULL,
	schedule    TEXT    NOT NULL,
	release     INTEGER NOT NULL,
	trigger     TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual')),
	status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
	exit_code   INTEGER NOT NULL DEFAULT -1,
	output      BLOB,
	error       TEXT    NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cron_runs_app_job ON cron_runs (app, job, id);
CREATE INDEX cron_runs_running ON cron_runs (status) WHERE status = 'running';
`

// migrate brings db up to len(steps). An existing database (version > 0)
// that needs any step is first copied with VACUUM INTO into backupsDir.
// Each step runs in its own transaction together with the user_version bump.
func migrate(ctx context.Context, db *sql.DB, steps []string, backupsDir string, log *slog.Logger) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := len(steps)
	if version > known {
		return fmt.Errorf("database schema version %d is newer than this xcloud supports (%d): upgrade xcloud or restore a backup", version, known)
	}
	if version == known {
		return nil
	}
	if version > 0 {
		path, err := backup(ctx, db, backupsDir, version)
		if err != nil {
			return err
		}
		log.Info("backed up database before migration", "path", path, "from", version, "to", known)
	}
	for v := version; v < known; v++ {
		if err := applyStep(ctx, db, v, steps[v]); err != nil {
			return err
		}
		log.Info("applied migration", "version", v+1)
	}
	return nil
}

// applyStep runs one migration step taking the schema from version from to
// from+1, re-checking the version inside the (immediate) transaction.
func applyStep(ctx context.Context, db *sql.DB, from int, step string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: begin: %w", from+1, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("migration %d: read schema version: %w", from+1, err)
	}
	if cur != from {
		return fmt.Errorf("migration %d: schema version changed concurrently (now %d)", from+1, cur)
	}
	if _, err := tx.ExecContext(ctx, step); err != nil {
		return fmt.Errorf("migration %d: %w", from+1, err)
	}
	// PRAGMA takes no bound parameters; from+1 is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", from+1)); err != nil {
		return fmt.Errorf("migration %d: set schema version: %w", from+1, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", from+1, err)
	}
	return nil
}

// backup snapshots the database into dir as xcloud-<timestamp>-v<version>.db
// and returns the file's path.
func backup(ctx context.Context, db *sql.DB, dir string, version int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup before migration: %w", err)
	}
	name := fmt.Sprintf("xcloud-%s-v%d.db", time.Now().UTC().Format("20060102T150405.000Z"), version)
	path := filepath.Join(dir, name)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return "", fmt.Errorf("backup before migration to %s: %w", path, err)
	}
	return path, nil
}

// schemaV6 keeps a tombstone for each destroyed app until the daemon has
// removed everything the app had outside the database (containers, images,
// repository, files, logs, network). A crash mid-destroy leaves the
// tombstone, and the next start, or a new app of the same name, finishes it.
const schemaV6 = `
CREATE TABLE app_tombstones (
	name         TEXT    PRIMARY KEY,
	destroyed_at INTEGER NOT NULL
);
`

// schemaV7 lets a tombstone stand for a renamed app: its name's containers
// and images go, while its repository, static files and logs move to the
// new name (renamed_to) rather than being deleted.
const schemaV7 = `
ALTER TABLE app_tombstones ADD COLUMN renamed_to TEXT NOT NULL DEFAULT '';
`

// schemaV8 records who acted (an SSH key's name, an API token's name, or
// "xcloud" for the daemon itself) with every event.
const schemaV8 = `
ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
`

// schemaV9 keeps the HTTP API's tokens: only a SHA-256 hash of each secret,
// never the secret. A revoked token's row stays for the record, so only a
// live token's name must be unique.
const schemaV9 = `
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL,
	hash         BLOB    NOT NULL UNIQUE,
	scope        TEXT    NOT NULL,
	apps         TEXT    NOT NULL DEFAULT '[]', -- JSON array of app names
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,  -- 0: never
	last_used_at INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0   -- 0: live
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at = 0;
`

// schemaV10 adds persistent storage: named volumes (kept when the apps
// using them go), each app's mounts of a volume or an admin's host
// directory, and the app's deploy strategy. A mount follows its app's
// rename (ON UPDATE CASCADE) and goes with its app; a volume still
// mounted cannot be deleted (the foreign key has no action).
const schemaV10 = `
CREATE TABLE volumes (
	name       TEXT    PRIMARY KEY,
	created_at INTEGER NOT NULL
);

CREATE TABLE mounts (
	app        TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	volume     TEXT    REFERENCES volumes(name), -- NULL for a host directory
	host_dir   TEXT    NOT NULL DEFAULT '',
	path       TEXT    NOT NULL,
	read_only  INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app, path),
	CHECK ((volume IS NULL) <> (host_dir = ''))
);
CREATE INDEX mounts_volume ON mounts (volume);

ALTER TABLE apps ADD COLUMN deploy_strategy TEXT NOT NULL DEFAULT 'rolling'
	CHECK (deploy_strategy IN ('rolling', 'recreate'));
`

// schemaV11 adds database services (services:create): each with its type,
// its password sealed like config vars, its memory cap and when it was
// last backed up, and the apps linked to it with the config var the link
// set. A link goes with its app or its service and follows an app's
// rename.
const schemaV11 = `
CREATE TABLE services (
	name           TEXT    PRIMARY KEY,
	type           TEXT    NOT NULL CHECK (type IN ('postgres', 'redis')),
	password       BLOB    NOT NULL,
	memory         INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	last_backup_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE service_links (
	service    TEXT    NOT NULL REFERENCES services(name) ON DELETE CASCADE,
	app        TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	var        TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (service, app),
	UNIQUE (app, var)
);
CREATE INDEX service_links_app ON service_links (app);
`

// schemaV12 adds GitOps and previews: an app's git:sync source (URL, ref,
// polling), its deploy key (private half sealed by the daemon) and the
// remote's host key trusted on first use, its webhook secret (sealed), the
// webhook deliveries seen (replay protection), which apps take preview
// pushes with their sealed config overrides, and each preview app's parent
// and branch.
const schemaV12 = `
CREATE TABLE git_syncs (
	app            TEXT    PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	url            TEXT    NOT NULL DEFAULT '',
	ref            TEXT    NOT NULL DEFAULT '',
	auto           INTEGER NOT NULL DEFAULT 0,
	interval_ns    INTEGER NOT NULL DEFAULT 0,
	deploy_key     BLOB,
	public_key     TEXT    NOT NULL DEFAULT '',
	known_host     TEXT    NOT NULL DEFAULT '',
	webhook_secret BLOB,
	last_sha       TEXT    NOT NULL DEFAULT '',
	last_sync_at   INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX git_syncs_auto ON git_syncs (auto) WHERE auto = 1;

CREATE TABLE webhook_deliveries (
	app         TEXT    NOT NULL REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	delivery    TEXT    NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (app, delivery)
);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (received_at);

CREATE TABLE preview_parents (
	app       TEXT    PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	overrides BLOB
);

CREATE TABLE previews (
	app        TEXT    PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE ON UPDATE CASCADE,
	parent     TEXT    NOT NULL,
	branch     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	pushed_at  INTEGER NOT NULL,
	UNIQUE (parent, branch)
);
`

// schemaV13 adds scheduled dumps of database services: a cron schedule
// ("" for none) and how many stored dumps to keep.
const schemaV13 = `
ALTER TABLE services ADD COLUMN backup_schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN backup_keep INTEGER NOT NULL DEFAULT 7;
`

// schemaV14 adds, for services, the host address a service's port is
// published on (services:expose; "" for none), the major version it runs
// and the volume holding its data ("" for the one named after it, as
// services:upgrade moves data to a volume of the new major); and, for
// SSH keys, the services an app key may link its apps to (keys:add
// --service). Every service made before ran the stack's only majors.
const schemaV14 = `
ALTER TABLE services ADD COLUMN expose TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN major INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN volume TEXT NOT NULL DEFAULT '';
UPDATE services SET major = 17 WHERE type = 'postgres';
UPDATE services SET major = 8 WHERE type = 'redis';
ALTER TABLE ssh_keys ADD COLUMN services TEXT NOT NULL DEFAULT '[]'; -- JSON array of service names
`
