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
		if err := requirePending(ctx, tx, app, version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE releases SET image = ? WHERE app = ? AND version = ?", image, app, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("set image of %q v%d: %w", app, version, err)
	}
	return nil
}
