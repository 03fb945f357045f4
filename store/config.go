package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SetConfigVars sets and unsets an app's config vars in one transaction.
// Values are stored as given: the daemon seals them before they get here.
// Unsetting a name that is not set is not an error. It returns an error
// wrapping ErrNotFound for an unknown app.
func (s *Store) SetConfigVars(ctx context.Context, app string, set map[string][]byte, unset []string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		for name, v := range set {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO config_vars (app, name, value) VALUES (?, ?, ?)
				 ON CONFLICT (app, name) DO UPDATE SET value = excluded.value`, app, name, v); err != nil {
				return translate(err)
			}
		}
		for _, name := range unset {
			if _, err := tx.ExecContext(ctx, "DELETE FROM config_vars WHERE app = ? AND name = ?", app, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set config vars of %q: %w", app, err)
	}
	return nil
}

// replaceConfigVars makes vars the app's complete set of config vars.
func replaceConfigVars(ctx context.Context, tx *wtx, app string, vars map[string][]byte) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM config_vars WHERE app = ?", app); err != nil {
		return err
	}
	for name, v := range vars {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO config_vars (app, name, value) VALUES (?, ?, ?)", app, name, v); err != nil {
			return translate(err)
		}
	}
	return nil
}

// ConfigVars returns an app's config vars (sealed values) by name.
func (s *Store) ConfigVars(ctx context.Context, app string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT name, value FROM config_vars WHERE app = ?", app)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var v []byte
			if err := rows.Scan(&name, &v); err != nil {
				return err
			}
			out[name] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("config vars of %q: %w", app, translate(err))
	}
	return out, nil
}
