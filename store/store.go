// Package store keeps all of xcloud's state (apps, builds, releases, SSH
// keys, domains and the event log) in a single SQLite database.
//
// It uses the pure-Go modernc.org/sqlite driver in WAL mode with one writer
// connection (every write is an IMMEDIATE transaction) and a small read-only
// pool. The schema is versioned with PRAGMA user_version; before an existing
// database is migrated it is copied with VACUUM INTO into a backups
// directory. Mutations that correspond to an event insert the event row in
// the same transaction and report it to Options.OnEvent after commit.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options configures Open. The zero value is usable.
type Options struct {
	// BackupsDir receives VACUUM INTO snapshots taken before migrating an
	// existing database. Created with mode 0700 when needed. Defaults to
	// "backups" next to the database file.
	BackupsDir string
	// Logger defaults to slog.Default().With("system", "store").
	Logger *slog.Logger
	// OnEvent, if set, is called synchronously after each successful commit
	// once per event inserted by that transaction, in insertion order. It
	// must not block for long and must not call back into a write method
	// expecting ordering guarantees.
	OnEvent func(Event)
}

// Store is the SQLite-backed state store. It is safe for concurrent use.
type Store struct {
	w       *sql.DB // single writer connection, IMMEDIATE transactions
	r       *sql.DB // read-only pool
	log     *slog.Logger
	onEvent func(Event)
	// version counts committed writes (see Version).
	version atomic.Uint64
}

// readConns is the size of the read-only connection pool.
const readConns = 4

// cacheSize is each connection's page cache, in KiB when negative.
// SQLite's default of 2 MB a connection is memory outside Go's heap that
// fills as the database grows (build logs, events): up to 10 MB over the
// five connections, resident for good. The database is small and in the
// kernel's page cache, so a page not cached here costs a read(2).
const cacheSize = "-256"

// Open opens the database at path, creating it with mode 0600 if missing
// (its directory must exist), applies any pending
// migrations and returns the Store. It refuses a database whose schema is
// newer than this code knows.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	return open(ctx, path, opts, schemaMigrations())
}

// open is Open with an explicit migration list, so tests can simulate
// upgrades.
func open(ctx context.Context, path string, opts Options, steps []string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default().With("system", "store")
	}
	backups := opts.BackupsDir
	if backups == "" {
		backups = filepath.Join(filepath.Dir(abs), "backups")
	}
	// Create the file ourselves so the database (and, following it, its
	// -wal and -shm files) is private to the daemon's user.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String()

	w, err := sql.Open("sqlite", uri+"?_pragma=busy_timeout(5000)&_pragma=cache_size("+cacheSize+")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite")
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w, steps, backups, log); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}

	r, err := sql.Open("sqlite", uri+"?_pragma=busy_timeout(5000)&_pragma=cache_size("+cacheSize+")&_pragma=foreign_keys(1)&_pragma=query_only(1)&_time_format=sqlite")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return &Store{w: w, r: r, log: log, onEvent: opts.OnEvent}, nil
}

// Close runs PRAGMA optimize and closes the database.
func (s *Store) Close() error {
	var errs []error
	if _, err := s.w.Exec("PRAGMA optimize"); err != nil {
		s.log.Warn("pragma optimize failed", "err", err)
	}
	errs = append(errs, s.r.Close(), s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// wtx is a write transaction that collects the events it inserts.
type wtx struct {
	*sql.Tx
	events []Event
}

// write runs fn in an IMMEDIATE transaction on the writer connection. On
// success it commits and then passes each event recorded with tx.event to
// the OnEvent hook.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &wtx{Tx: t}
	if err := fn(tx); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.version.Add(1)
	if s.onEvent != nil {
		for _, e := range tx.events {
			s.onEvent(e)
		}
	}
	return nil
}

// Version changes whenever a write commits. A loop that reads the same
// rows every second (liveness, GitOps polling) keeps what it read with the
// version it saw before reading, and reads again only once that changed:
// an idle daemon then makes no garbage per app per second. A write
// committed between Version and the read costs one needless read later.
func (s *Store) Version() uint64 { return s.version.Load() }

// read runs fn in a read-only transaction on the read pool, giving it a
// consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// now returns the current time in UTC.
func now() time.Time { return time.Now().UTC() }

// toDB converts a time to the stored representation (unix nanoseconds);
// the zero time is stored as 0.
func toDB(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromDB converts a stored timestamp back to a UTC time; 0 is the zero time.
func fromDB(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// queryer is satisfied by *sql.Tx and *sql.DB.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// requireApp returns ErrNotFound (wrapped) when app does not exist.
func requireApp(ctx context.Context, q queryer, app string) error {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM apps WHERE name = ?", app).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("app %q: %w", app, ErrNotFound)
	}
	return err
}

// clampLimit applies the default page size to limit.
// execOne runs a statement that must change one row or more: none is
// ErrNotFound.
func execOne(ctx context.Context, tx *wtx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

func clampLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return limit
}
