package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
)

// SchemaVersion is the database schema version this code migrates to.
func SchemaVersion() int { return len(schemaMigrations()) }

// Snapshot writes a consistent copy of the database to path, which must not
// exist, with VACUUM INTO, and returns its schema version. It runs on a
// read connection: writers go on meanwhile, and the copy is the database as
// of the snapshot's start, with no write half in it.
func (s *Store) Snapshot(ctx context.Context, path string) (int, error) {
	// VACUUM runs outside a transaction, on a connection of its own.
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("snapshot database: %w", err)
	}
	defer conn.Close()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("snapshot database: %w", err)
	}
	// A read connection is query_only, which VACUUM INTO (a write, of
	// another file) needs lifted; the connection goes back to the pool
	// query_only again, or not at all.
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return 0, fmt.Errorf("snapshot database: %w", err)
	}
	_, verr := conn.ExecContext(ctx, "VACUUM INTO ?", path)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = 1"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return 0, fmt.Errorf("snapshot database: %w", err)
	}
	if verr != nil {
		return 0, fmt.Errorf("snapshot database to %s: %w", path, verr)
	}
	return version, nil
}

// OpenSnapshot opens a database file read-only, without migrating it: a
// snapshot to read (a backup's releases) or check (a restore's schema). Its
// read methods work; every write fails. It refuses a schema newer than this
// code knows.
func OpenSnapshot(ctx context.Context, path string) (*Store, int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open snapshot: %w", err)
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String()
	db, err := sql.Open("sqlite", uri+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)&_time_format=sqlite")
	if err != nil {
		return nil, 0, fmt.Errorf("open snapshot: %w", err)
	}
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		_ = db.Close()
		return nil, 0, fmt.Errorf("open snapshot %s: not an xcloud database: %w", abs, err)
	}
	if version > SchemaVersion() {
		_ = db.Close()
		return nil, version, fmt.Errorf("open snapshot %s: database schema version %d is newer than this xcloud supports (%d)", abs, version, SchemaVersion())
	}
	// Both handles are the one read-only pool: writes fail with SQLite's
	// read-only error.
	return &Store{w: db, r: db, log: slog.New(slog.DiscardHandler)}, version, nil
}
