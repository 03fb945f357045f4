package store

import (
	"context"
	"database/sql"
	"fmt"
)

// validProcessType is `^[a-zA-Z0-9_-]{1,63}$` written out (see validAppName).
func validProcessType(typ string) bool {
	return len(typ) >= 1 && len(typ) <= 63 &&
		only(typ, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
}

// SetFormation sets how many containers of each process type the app runs,
// in one transaction. Types not named keep their quantity. It returns an
// error wrapping ErrNotFound for an unknown app and ErrInvalidName for a bad
// type or a negative quantity.
func (s *Store) SetFormation(ctx context.Context, app string, scale map[string]int) error {
	for typ, n := range scale {
		if !validProcessType(typ) || n < 0 {
			return fmt.Errorf("set formation of %q: %s=%d: %w", app, typ, n, ErrInvalidName)
		}
	}
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		for typ, n := range scale {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO formation (app, type, quantity) VALUES (?, ?, ?)
				 ON CONFLICT (app, type) DO UPDATE SET quantity = excluded.quantity`, app, typ, n); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set formation of %q: %w", app, err)
	}
	return nil
}

// Formation returns the quantities set for the app's process types; types
// never set are absent.
func (s *Store) Formation(ctx context.Context, app string) (map[string]int, error) {
	out := map[string]int{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT type, quantity FROM formation WHERE app = ?", app)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ string
			var n int
			if err := rows.Scan(&typ, &n); err != nil {
				return err
			}
			out[typ] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("formation of %q: %w", app, translate(err))
	}
	return out, nil
}
