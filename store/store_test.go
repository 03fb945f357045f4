package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// newTestStore opens a fresh store in a temporary directory.
func newTestStore(t *testing.T, opts Options) *Store {
	t.Helper()
	dir := t.TempDir()
	if opts.BackupsDir == "" {
		opts.BackupsDir = filepath.Join(dir, "backups")
	}
	s, err := Open(context.Background(), filepath.Join(dir, "xcloud.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustCreateApp(t *testing.T, s *Store, name string) App {
	t.Helper()
	a, err := s.CreateApp(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateApp(%q): %v", name, err)
	}
	return a
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatalf("user_version: %v", err)
	}
	return v
}

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func backupFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "xcloud-*.db"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMigrationsFreshAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, backups := filepath.Join(dir, "xcloud.db"), filepath.Join(dir, "backups")
	opts := Options{BackupsDir: backups}

	s, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatalf("Open fresh: %v", err)
	}
	if got, want := userVersion(t, s.w), len(schemaMigrations()); got != want {
		t.Errorf("user_version = %d, want %d", got, want)
	}
	var mode string
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for _, table := range []string{"apps", "builds", "releases", "ssh_keys", "domains", "events", "config_vars"} {
		if n := countRows(t, s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	mustCreateApp(t, s, "web")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := backupFiles(t, backups); len(got) != 0 {
		t.Errorf("fresh database wrote backups: %v", got)
	}

	// Reopening at the current version is a no-op: data kept, no backup.
	s, err = Open(ctx, path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetApp(ctx, "web"); err != nil {
		t.Errorf("GetApp after reopen: %v", err)
	}
	if got := backupFiles(t, backups); len(got) != 0 {
		t.Errorf("reopen wrote backups: %v", got)
	}
}

func TestMigrationBackupOnUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, backups := filepath.Join(dir, "xcloud.db"), filepath.Join(dir, "backups")
	base := schemaMigrations()
	opts := Options{BackupsDir: backups}

	s, err := open(ctx, path, opts, base)
	if err != nil {
		t.Fatalf("open v%d: %v", len(base), err)
	}
	mustCreateApp(t, s, "web")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	upgraded := append(append([]string{}, base...), "CREATE TABLE extra (x INTEGER);")
	s, err = open(ctx, path, opts, upgraded)
	if err != nil {
		t.Fatalf("open upgraded: %v", err)
	}
	defer s.Close()
	if got := userVersion(t, s.w); got != len(upgraded) {
		t.Errorf("user_version = %d, want %d", got, len(upgraded))
	}
	if n := countRows(t, s, "SELECT count(*) FROM extra"); n != 0 {
		t.Errorf("extra rows = %d", n)
	}

	files := backupFiles(t, backups)
	if len(files) != 1 {
		t.Fatalf("backups = %v, want exactly one", files)
	}
	wantSuffix := "-v" + strconv.Itoa(len(base)) + ".db"
	if !strings.HasSuffix(files[0], wantSuffix) {
		t.Errorf("backup %s does not end in %s", files[0], wantSuffix)
	}
	if fi, err := os.Stat(backups); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backups dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	// The backup is a complete database at the old version.
	b, err := sql.Open("sqlite", "file:"+files[0]+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := userVersion(t, b); got != len(base) {
		t.Errorf("backup user_version = %d, want %d", got, len(base))
	}
	var name string
	if err := b.QueryRow("SELECT name FROM apps").Scan(&name); err != nil || name != "web" {
		t.Errorf("backup apps: %q, %v", name, err)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "xcloud.db")
	opts := Options{BackupsDir: filepath.Join(dir, "backups")}
	future := append(append([]string{}, schemaMigrations()...), "CREATE TABLE future (x);")
	s, err := open(ctx, path, opts, future)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path, opts)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of newer schema: err = %v, want a 'newer' error", err)
	}
}

func TestValidateAppName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"../x", false},
		{"Hello", false},
		{"a;b", false},
		{"", false},
		{"1app", false},
		{"-app", false},
		{"a" + strings.Repeat("b", 63), false}, // 64 characters
		{"a" + strings.Repeat("b", 62), true},  // 63 characters
		{"a", true},
		{"my-app2", true},
	}
	for _, tt := range tests {
		err := ValidateAppName(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateAppName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateAppName(%q) = %v, want ErrInvalidName", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), appNamePattern) || !strings.Contains(err.Error(), "invalid app name") {
			t.Errorf("ValidateAppName(%q) message %q does not state the rule", tt.name, err)
		}
	}
}

func TestVersionChangesOnCommittedWrites(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	v0 := s.Version()
	if _, err := s.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	v1 := s.Version()
	if v1 == v0 {
		t.Fatal("Version did not change when an app was created")
	}
	if _, err := s.ListApps(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, "shop"); err == nil {
		t.Fatal("creating an app twice succeeded")
	}
	if v := s.Version(); v != v1 {
		t.Fatalf("Version changed from %d to %d on a read and a write that failed", v1, v)
	}
}
