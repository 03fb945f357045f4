package store

import (
	"context"
	"fmt"
)

// SetReleaseImage replaces the image of a pending release: app.json's
// predeploy runs in the built image and its changes are committed to a new
// one, which the release then runs. It returns an error wrapping
// ErrNotFound for an unknown release and ErrConflict if the release is not
// pending (a release that served keeps the image it served with).
func (s *Store) SetReleaseImage(ctx context.Context, app string, version int, image string) error {
	if image == "" {
		return fmt.Errorf("set image of %q v%d: empty image", app, version)
	}
	err := s.write(ctx, func(tx *wtx) error {
		var st ReleaseStatus
		err := tx.QueryRowContext(ctx, "SELECT status FROM releases WHERE app = ? AND version = ?", app, version).Scan(&st)
		if err != nil {
			return translate(err)
		}
		if st != ReleasePending {
			return fmt.Errorf("release is %s, not pending: %w", st, ErrConflict)
		}
		_, err = tx.ExecContext(ctx, "UPDATE releases SET image = ? WHERE app = ? AND version = ?", image, app, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("set image of %q v%d: %w", app, version, err)
	}
	return nil
}
