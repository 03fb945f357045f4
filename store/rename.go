package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Rename is what changes with an app's name besides the name itself. Config
// values and snapshots are sealed by the daemon with the app's name as
// associated data, so it seals them anew for the new name.
type Rename struct {
	Old, New string
	// Vars are the app's config vars sealed for New: they replace all.
	Vars map[string][]byte
	// Snapshots are the releases' config snapshots sealed for New, by
	// version; a release missing here keeps its snapshot.
	Snapshots map[int][]byte
	// Images maps an image a release runs to the one it runs from now on
	// (the same image labelled with the new name).
	Images map[string]string
}

// RenameApp gives an app a new name in one transaction: its builds,
// releases, domains, config vars, scale, cron runs, key permissions and the
// events since its creation follow, and a tombstone for the old name stays
// until the daemon has moved or removed what the app had outside the
// database (see Tombstones). It records app:renamed. It returns an error
// wrapping ErrNotFound for an unknown app, ErrExists for a taken name,
// ErrInvalidName for a bad one and ErrUnfinishedDestroy while the new name
// has a tombstone.
func (s *Store) RenameApp(ctx context.Context, r Rename) error {
	if err := ValidateAppName(r.New); err != nil {
		return fmt.Errorf("rename app %q: %w", r.Old, err)
	}
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, r.Old); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM app_tombstones WHERE name = ?", r.New).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrUnfinishedDestroy
		}
		// Children are moved one table at a time; the foreign keys are
		// checked once, at commit.
		if _, err := tx.ExecContext(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
			return err
		}
		var since int64
		if err := tx.QueryRowContext(ctx,
			"SELECT COALESCE(max(id), 0) FROM events WHERE app = ? AND type = ?", r.Old, EventAppCreated).Scan(&since); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE apps SET name = ? WHERE name = ?", r.New, r.Old); err != nil {
			return translate(err)
		}
		for _, table := range []string{"builds", "releases", "domains", "config_vars", "formation", "cron_runs"} {
			if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET app = ? WHERE app = ?", r.New, r.Old); err != nil {
				return fmt.Errorf("move %s: %w", table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE events SET app = ? WHERE app = ? AND id >= ?", r.New, r.Old, since); err != nil {
			return err
		}
		if err := replaceConfigVars(ctx, tx, r.New, r.Vars); err != nil {
			return err
		}
		for v, snap := range r.Snapshots {
			if _, err := tx.ExecContext(ctx, "UPDATE releases SET config = ? WHERE app = ? AND version = ?", snap, r.New, v); err != nil {
				return err
			}
		}
		for from, to := range r.Images {
			if _, err := tx.ExecContext(ctx, "UPDATE releases SET image = ? WHERE app = ? AND image = ?", to, r.New, from); err != nil {
				return err
			}
		}
		if err := renameInKeys(ctx, tx, r.Old, r.New); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT OR REPLACE INTO app_tombstones (name, destroyed_at, renamed_to) VALUES (?, ?, ?)", r.Old, toDB(now()), r.New); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventAppRenamed, r.New, fmt.Sprintf("app %s renamed to %s", r.Old, r.New),
			map[string]any{"from": r.Old, "to": r.New})
		return err
	})
	if err != nil {
		return fmt.Errorf("rename app %q to %q: %w", r.Old, r.New, translate(err))
	}
	return nil
}

// renameInKeys moves the keys' permissions from the old name to the new.
func renameInKeys(ctx context.Context, tx *wtx, old, new string) error {
	rows, err := tx.QueryContext(ctx, "SELECT name, apps FROM ssh_keys")
	if err != nil {
		return err
	}
	changed := map[string]string{}
	for rows.Next() {
		var name, js string
		if err := rows.Scan(&name, &js); err != nil {
			rows.Close()
			return err
		}
		var apps []string
		if err := json.Unmarshal([]byte(js), &apps); err != nil {
			rows.Close()
			return fmt.Errorf("decode apps of key %q: %w", name, err)
		}
		if i := slices.Index(apps, old); i >= 0 {
			apps[i] = new
			b, _ := json.Marshal(apps)
			changed[name] = string(b)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for name, js := range changed {
		if _, err := tx.ExecContext(ctx, "UPDATE ssh_keys SET apps = ? WHERE name = ?", js, name); err != nil {
			return err
		}
	}
	return nil
}
