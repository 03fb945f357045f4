package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// appNamePattern is the rule every app name must satisfy.
// It is a DNS label (the app is served at NAME.<base_domain>): it cannot
// end in '-'.
const appNamePattern = `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`

// validAppName is appNamePattern written out: a volume name that does not
// end in '-'. A regexp with the counted repetition would hold some 20 KB
// for the life of the process (Go expands {0,61} into 61 copies).
func validAppName(name string) bool {
	return validVolumeName(name) && name[len(name)-1] != '-'
}

// validVolumeName is volumeNamePattern written out.
func validVolumeName(name string) bool {
	return len(name) >= 1 && len(name) <= 63 && 'a' <= name[0] && name[0] <= 'z' &&
		only(name, "abcdefghijklmnopqrstuvwxyz0123456789-")
}

// only reports whether every byte of s is one of set's.
func only(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// App is a deployable application.
// Its JSON (see json.go) has the current release as "version", null for
// none, and leaves the daemon's limits blob out.
type App struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	CreatedAt      time.Time `json:"created_at"`
	CurrentRelease int       `json:"version"` // version of the active release; 0 = none
	Stopped        bool      `json:"stopped"` // an admin stopped it (ps:stop); reconcile leaves it down
	Limits         []byte    `json:"-"`       // resource limits as the daemon's JSON; "{}" when unset
}

const appCols = "id, name, created_at, current_release, stopped, limits"

// ValidateAppName reports whether name is a valid app name. The returned
// error wraps ErrInvalidName and states the rule.
func ValidateAppName(name string) error {
	if !validAppName(name) {
		return invalidNameError(fmt.Sprintf(
			"invalid app name %q: must match %s (lowercase letter first, then lowercase letters, digits or '-', not ending in '-', at most 63 characters)",
			name, appNamePattern))
	}
	return nil
}

// invalidNameError is a complete, user-facing message that wraps
// ErrInvalidName without repeating its text.
type invalidNameError string

func (e invalidNameError) Error() string { return string(e) }
func (e invalidNameError) Unwrap() error { return ErrInvalidName }

// CreateApp creates an app and records app:created. It returns an error
// wrapping ErrInvalidName for a bad name, ErrExists if it is taken and
// ErrUnfinishedDestroy while a destroyed app of that name has a tombstone.
func (s *Store) CreateApp(ctx context.Context, name string) (App, error) {
	if err := ValidateAppName(name); err != nil {
		return App{}, fmt.Errorf("create app: %w", err)
	}
	a := App{Name: name, CreatedAt: now(), Limits: []byte("{}")}
	err := s.write(ctx, func(tx *wtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM app_tombstones WHERE name = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrUnfinishedDestroy
		}
		err := tx.QueryRowContext(ctx, "INSERT INTO apps (name, created_at) VALUES (?, ?) RETURNING id",
			name, toDB(a.CreatedAt)).Scan(&a.ID)
		if err != nil {
			return translate(err)
		}
		_, err = tx.event(ctx, EventAppCreated, name, fmt.Sprintf("app %s created", name), nil)
		return err
	})
	if err != nil {
		return App{}, fmt.Errorf("create app %q: %w", name, err)
	}
	return a, nil
}

// GetApp returns the named app or an error wrapping ErrNotFound.
func (s *Store) GetApp(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx,
		"SELECT "+appCols+" FROM apps WHERE name = ?", name))
	if err != nil {
		return App{}, fmt.Errorf("get app %q: %w", name, translate(err))
	}
	return a, nil
}

// ListApps returns all apps ordered by name.
func (s *Store) ListApps(ctx context.Context) ([]App, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+appCols+" FROM apps ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	var out []App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("list apps: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

// DeleteApp deletes the app together with its builds, releases, domains
// and config vars, leaves a tombstone for what lives outside the database
// (see Tombstones), and records app:destroyed. Past events are kept.
func (s *Store) DeleteApp(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := execOne(ctx, tx, "DELETE FROM apps WHERE name = ?", name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT OR REPLACE INTO app_tombstones (name, destroyed_at) VALUES (?, ?)", name, toDB(now())); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventAppDestroyed, name, fmt.Sprintf("app %s destroyed", name), nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete app %q: %w", name, err)
	}
	return nil
}

// Tombstone stands for an app that left the database while some of what it
// had outside it may remain: destroyed, or renamed to RenamedTo.
type Tombstone struct {
	Name      string
	RenamedTo string // "" for a destroyed app
}

// Tombstones returns the apps destroyed or renamed whose files, containers
// and images may not all be removed (or moved) yet.
func (s *Store) Tombstones(ctx context.Context) ([]Tombstone, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, renamed_to FROM app_tombstones ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list tombstones: %w", err)
	}
	defer rows.Close()
	var out []Tombstone
	for rows.Next() {
		var t Tombstone
		if err := rows.Scan(&t.Name, &t.RenamedTo); err != nil {
			return nil, fmt.Errorf("list tombstones: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tombstones: %w", err)
	}
	return out, nil
}

// ClearTombstone records that everything of the destroyed app is gone.
func (s *Store) ClearTombstone(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM app_tombstones WHERE name = ?", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("clear tombstone of %q: %w", name, err)
	}
	return nil
}

// rowScanner is satisfied by *sql.Row and *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanApp(r rowScanner) (App, error) {
	var (
		a      App
		at     int64
		limits string
	)
	if err := r.Scan(&a.ID, &a.Name, &at, &a.CurrentRelease, &a.Stopped, &limits); err != nil {
		return App{}, err
	}
	a.Limits = []byte(limits)
	a.CreatedAt = fromDB(at)
	return a, nil
}

// SetStopped records whether the app's processes should run. It returns an
// error wrapping ErrNotFound for an unknown app.
func (s *Store) SetStopped(ctx context.Context, name string, stopped bool) error {
	return s.setAppColumn(ctx, name, "stopped", stopped)
}

// SetLimits stores the app's resource limits (JSON, opaque to the store).
// It returns an error wrapping ErrNotFound for an unknown app.
func (s *Store) SetLimits(ctx context.Context, name string, limits []byte) error {
	return s.setAppColumn(ctx, name, "limits", string(limits))
}

// setAppColumn updates one column of an app; column is a constant of this
// package, never user input.
func (s *Store) setAppColumn(ctx context.Context, name, column string, value any) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := execOne(ctx, tx, "UPDATE apps SET "+column+" = ? WHERE name = ?", value, name); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set %s of %q: %w", column, name, err)
	}
	return nil
}
