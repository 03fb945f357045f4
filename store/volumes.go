package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Storage events.
const (
	// EventStorageMounted: storage:mount added a mount; data "volume" (or
	// "host_dir"), "path" and "read_only".
	EventStorageMounted = "storage:mounted"
	// EventStorageUnmounted: storage:unmount removed a mount.
	EventStorageUnmounted = "storage:unmounted"
	// EventStorageDestroyed: a volume and its data were deleted
	// (apps:destroy --volumes); data "volume".
	EventStorageDestroyed = "storage:destroyed"
)

// Deploy strategies: how a deploy swaps an app's containers.
const (
	// StrategyRolling starts the new containers and drains the old ones
	// once the new ones are healthy: no downtime, a short overlap.
	StrategyRolling = "rolling"
	// StrategyRecreate stops the old containers before the new ones start:
	// never two writers, a short downtime.
	StrategyRecreate = "recreate"
)

// volumeNamePattern is the rule every volume name must satisfy.
const volumeNamePattern = `^[a-z][a-z0-9-]{0,62}$`

// ValidateVolumeName reports whether name is a valid volume name. The
// returned error wraps ErrInvalidName and states the rule.
func ValidateVolumeName(name string) error {
	if !validVolumeName(name) {
		return invalidNameError(fmt.Sprintf(
			"invalid volume name %q: must match %s (lowercase letter first, then lowercase letters, digits or '-', at most 63 characters)",
			name, volumeNamePattern))
	}
	return nil
}

// Volume is a named volume the store knows. It outlives the apps that
// mount it until it is deleted.
type Volume struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Mount is one app's mount of a named volume (Volume set) or of a host
// directory (HostDir set) at Path inside its containers.
type Mount struct {
	App       string    `json:"app"`
	Volume    string    `json:"volume,omitempty"`
	HostDir   string    `json:"host_dir,omitempty"`
	Path      string    `json:"path"`
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
}

// Source is the volume's name or the host directory.
func (m Mount) Source() string {
	if m.Volume != "" {
		return m.Volume
	}
	return m.HostDir
}

const mountCols = "app, COALESCE(volume, ''), host_dir, path, read_only, created_at"

func scanMount(r rowScanner) (Mount, error) {
	var (
		m  Mount
		at int64
	)
	if err := r.Scan(&m.App, &m.Volume, &m.HostDir, &m.Path, &m.ReadOnly, &at); err != nil {
		return Mount{}, err
	}
	m.CreatedAt = fromDB(at)
	return m, nil
}

// AddMount records a mount, creating the volume's row when it is new, and
// records storage:mounted. Path checks (absolute, not clashing) are the
// caller's; the store only refuses a second mount at the same path. It
// returns an error wrapping ErrNotFound for an unknown app, ErrExists when
// the app already has a mount at that path and ErrInvalidName for a bad
// volume name.
func (s *Store) AddMount(ctx context.Context, m Mount) (Mount, error) {
	if (m.Volume == "") == (m.HostDir == "") {
		return Mount{}, fmt.Errorf("add mount: want a volume or a host directory")
	}
	if m.Volume != "" {
		if err := ValidateVolumeName(m.Volume); err != nil {
			return Mount{}, fmt.Errorf("add mount: %w", err)
		}
	}
	m.CreatedAt = now()
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, m.App); err != nil {
			return err
		}
		var vol any
		data := map[string]any{"path": m.Path, "read_only": m.ReadOnly}
		if m.Volume != "" {
			vol = m.Volume
			data["volume"] = m.Volume
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO volumes (name, created_at) VALUES (?, ?)",
				m.Volume, toDB(m.CreatedAt)); err != nil {
				return err
			}
		} else {
			data["host_dir"] = m.HostDir
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO mounts (app, volume, host_dir, path, read_only, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			m.App, vol, m.HostDir, m.Path, m.ReadOnly, toDB(m.CreatedAt)); err != nil {
			return translate(err)
		}
		mode := ""
		if m.ReadOnly {
			mode = " read-only"
		}
		_, err := tx.event(ctx, EventStorageMounted, m.App, fmt.Sprintf("%s mounted at %s%s", m.Source(), m.Path, mode), data)
		return err
	})
	if err != nil {
		return Mount{}, fmt.Errorf("mount %s at %s for %s: %w", m.Source(), m.Path, m.App, err)
	}
	return m, nil
}

// RemoveMount deletes the app's mount of source (a volume name or host
// directory) at path and records storage:unmounted; the volume and its
// data stay. It returns an error wrapping ErrNotFound when there is no
// such mount.
func (s *Store) RemoveMount(ctx context.Context, app, source, path string) (Mount, error) {
	var m Mount
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		m, err = scanMount(tx.QueryRowContext(ctx, "SELECT "+mountCols+" FROM mounts WHERE app = ? AND path = ?", app, path))
		if errors.Is(err, sql.ErrNoRows) || err == nil && m.Source() != source {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := execOne(ctx, tx, "DELETE FROM mounts WHERE app = ? AND path = ?", app, path); err != nil {
			return err
		}
		data := map[string]any{"path": m.Path}
		if m.Volume != "" {
			data["volume"] = m.Volume
		} else {
			data["host_dir"] = m.HostDir
		}
		_, err = tx.event(ctx, EventStorageUnmounted, app, fmt.Sprintf("%s unmounted from %s", m.Source(), m.Path), data)
		return err
	})
	if err != nil {
		return Mount{}, fmt.Errorf("unmount %s from %s for %s: %w", source, path, app, err)
	}
	return m, nil
}

// Mounts returns the app's mounts ordered by path; app "" returns every
// app's, ordered by app then path.
func (s *Store) Mounts(ctx context.Context, app string) ([]Mount, error) {
	var out []Mount
	err := s.read(ctx, func(tx *sql.Tx) error {
		q, args := "SELECT "+mountCols+" FROM mounts ORDER BY app, path", []any{}
		if app != "" {
			q, args = "SELECT "+mountCols+" FROM mounts WHERE app = ? ORDER BY path", []any{app}
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMount(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return out, nil
}

// Volumes returns every named volume the store knows, by name.
func (s *Store) Volumes(ctx context.Context) ([]Volume, error) {
	var out []Volume
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT name, created_at FROM volumes ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				v  Volume
				at int64
			)
			if err := rows.Scan(&v.Name, &at); err != nil {
				return err
			}
			v.CreatedAt = fromDB(at)
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	return out, nil
}

// DeleteVolume forgets a volume no app mounts and records
// storage:destroyed for app (the app whose destroy deleted it, or "").
// It returns an error wrapping ErrNotFound for an unknown volume and
// ErrConflict while an app mounts it.
func (s *Store) DeleteVolume(ctx context.Context, name, app string) error {
	err := s.write(ctx, func(tx *wtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM mounts WHERE volume = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		if err := execOne(ctx, tx, "DELETE FROM volumes WHERE name = ?", name); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventStorageDestroyed, app, fmt.Sprintf("volume %s deleted with its data", name),
			map[string]any{"volume": name})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	return nil
}

// DeployStrategy returns the app's deploy strategy (StrategyRolling unless
// set). It returns an error wrapping ErrNotFound for an unknown app.
func (s *Store) DeployStrategy(ctx context.Context, app string) (string, error) {
	var st string
	err := s.r.QueryRowContext(ctx, "SELECT deploy_strategy FROM apps WHERE name = ?", app).Scan(&st)
	if err != nil {
		return "", fmt.Errorf("deploy strategy of %q: %w", app, translate(err))
	}
	return st, nil
}

// SetDeployStrategy sets the app's deploy strategy, StrategyRolling or
// StrategyRecreate. It returns an error wrapping ErrNotFound for an
// unknown app and ErrConflict for another strategy.
func (s *Store) SetDeployStrategy(ctx context.Context, app, strategy string) error {
	if strategy != StrategyRolling && strategy != StrategyRecreate {
		return fmt.Errorf("deploy strategy %q: %w", strategy, ErrConflict)
	}
	return s.setAppColumn(ctx, app, "deploy_strategy", strategy)
}
