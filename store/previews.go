package store

import (
	"context"
	"fmt"
	"time"
)

// Preview events.
const (
	// EventPreviewCreated: a push of a branch created the preview app; data
	// "parent", "branch".
	EventPreviewCreated = "preview:created"
	// EventPreviewsEnabled and EventPreviewsDisabled: previews:enable and
	// previews:disable.
	EventPreviewsEnabled  = "previews:enabled"
	EventPreviewsDisabled = "previews:disabled"
)

// Preview is an app deployed from a branch of its parent's repository.
type Preview struct {
	App       string    `json:"app"`
	Parent    string    `json:"parent"`
	Branch    string    `json:"branch"`
	CreatedAt time.Time `json:"created_at"`
	PushedAt  time.Time `json:"pushed_at"`
}

// PreviewsEnabled reports whether pushes of other branches to app deploy
// previews, and returns the sealed config overrides of its previews.
func (s *Store) PreviewsEnabled(ctx context.Context, app string) (bool, []byte, error) {
	var over []byte
	err := s.r.QueryRowContext(ctx, "SELECT overrides FROM preview_parents WHERE app = ?", app).Scan(&over)
	if err != nil {
		err = translate(err)
		if err == ErrNotFound {
			return false, nil, nil
		}
		return false, nil, fmt.Errorf("previews of %q: %w", app, err)
	}
	return true, over, nil
}

// SetPreviewsEnabled turns previews of app on or off (off forgets the
// overrides). An unknown app matches ErrNotFound.
func (s *Store) SetPreviewsEnabled(ctx context.Context, app string, on bool) error {
	err := s.write(ctx, func(tx *wtx) error {
		if on {
			if _, err := tx.ExecContext(ctx, "INSERT INTO preview_parents (app) VALUES (?) ON CONFLICT (app) DO NOTHING", app); err != nil {
				return translate(err)
			}
			_, err := tx.event(ctx, EventPreviewsEnabled, app, "previews of "+app+" enabled", nil)
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM preview_parents WHERE app = ?", app); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventPreviewsDisabled, app, "previews of "+app+" disabled", nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("set previews of %q: %w", app, err)
	}
	return nil
}

// SetPreviewOverrides stores the sealed config overrides of app's
// previews; previews must be enabled (else ErrNotFound).
func (s *Store) SetPreviewOverrides(ctx context.Context, app string, sealed []byte) error {
	err := s.write(ctx, func(tx *wtx) error {
		return execOne(ctx, tx, "UPDATE preview_parents SET overrides = ? WHERE app = ?", sealed, app)
	})
	if err != nil {
		return fmt.Errorf("set preview overrides of %q: %w", app, err)
	}
	return nil
}

// AddPreview records that app (created already) is parent's preview of
// branch, with preview:created.
func (s *Store) AddPreview(ctx context.Context, p Preview) error {
	err := s.write(ctx, func(tx *wtx) error {
		t := toDB(now())
		if _, err := tx.ExecContext(ctx, "INSERT INTO previews (app, parent, branch, created_at, pushed_at) VALUES (?, ?, ?, ?, ?)",
			p.App, p.Parent, p.Branch, t, t); err != nil {
			return translate(err)
		}
		_, err := tx.event(ctx, EventPreviewCreated, p.App, fmt.Sprintf("preview %s of %s (branch %s) created", p.App, p.Parent, p.Branch),
			map[string]any{"parent": p.Parent, "branch": p.Branch})
		return err
	})
	if err != nil {
		return fmt.Errorf("add preview %q: %w", p.App, err)
	}
	return nil
}

// TouchPreview records a push to the preview's branch (its idle clock).
func (s *Store) TouchPreview(ctx context.Context, app string) error {
	err := s.write(ctx, func(tx *wtx) error {
		return execOne(ctx, tx, "UPDATE previews SET pushed_at = ? WHERE app = ?", toDB(now()), app)
	})
	if err != nil {
		return fmt.Errorf("touch preview %q: %w", app, err)
	}
	return nil
}

const previewCols = "app, parent, branch, created_at, pushed_at"

func scanPreview(r rowScanner) (Preview, error) {
	var (
		p       Preview
		at, pus int64
	)
	if err := r.Scan(&p.App, &p.Parent, &p.Branch, &at, &pus); err != nil {
		return Preview{}, err
	}
	p.CreatedAt, p.PushedAt = fromDB(at), fromDB(pus)
	return p, nil
}

// GetPreview returns the preview app's record; an app that is no preview
// matches ErrNotFound.
func (s *Store) GetPreview(ctx context.Context, app string) (Preview, error) {
	p, err := scanPreview(s.r.QueryRowContext(ctx, "SELECT "+previewCols+" FROM previews WHERE app = ?", app))
	if err != nil {
		return Preview{}, fmt.Errorf("preview %q: %w", app, translate(err))
	}
	return p, nil
}

// Previews returns parent's previews ("" for every preview), by name.
func (s *Store) Previews(ctx context.Context, parent string) ([]Preview, error) {
	q, args := "SELECT "+previewCols+" FROM previews ORDER BY app", []any{}
	if parent != "" {
		q, args = "SELECT "+previewCols+" FROM previews WHERE parent = ? ORDER BY app", []any{parent}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list previews: %w", err)
	}
	defer rows.Close()
	var out []Preview
	for rows.Next() {
		p, err := scanPreview(rows)
		if err != nil {
			return nil, fmt.Errorf("list previews: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list previews: %w", err)
	}
	return out, nil
}
