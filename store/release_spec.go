package store

import (
	"context"
	"fmt"
)

// SetReleaseSpec replaces the spec of a release: the daemon learns some of
// how a release runs only by running it (the port its web process really
// listens on). It returns an error wrapping ErrNotFound for an unknown
// release.
func (s *Store) SetReleaseSpec(ctx context.Context, app string, version int, spec []byte) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := execOne(ctx, tx, "UPDATE releases SET spec = ? WHERE app = ? AND version = ?", string(spec), app, version); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set spec of %q v%d: %w", app, version, err)
	}
	return nil
}
