package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ReleaseStatus is the state of a release.
type ReleaseStatus string

// Release states. A release is created pending and becomes active (then
// later superseded by a newer active release) or failed.
const (
	ReleasePending    ReleaseStatus = "pending"
	ReleaseActive     ReleaseStatus = "active"
	ReleaseSuperseded ReleaseStatus = "superseded"
	ReleaseFailed     ReleaseStatus = "failed"
)

// Release is a numbered, deployable version of an app: an image plus
// metadata. Versions count up from 1 per app.
//
// Its JSON (see json.go) is the wire format of both doors: the spec and
// the sealed config stay out, a build ID or error it does not have is
// null.
type Release struct {
	ID          int64         `json:"id"`
	App         string        `json:"app"`
	Version     int           `json:"version"`
	BuildID     int64         `json:"build_id"` // 0 for rollbacks and config-only releases
	Image       string        `json:"image"`
	CommitSHA   string        `json:"commit_sha"`
	Status      ReleaseStatus `json:"status"`
	Description string        `json:"description"`
	Error       string        `json:"error"`
	// Spec is the daemon's description of how to run the release (process
	// types, health checks…), stored as given: JSON, opaque to the store.
	Spec []byte `json:"-"`
	// Config is the app's config vars when the release was made, sealed by
	// the daemon (opaque here); nil when the app had none.
	Config    []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

const releaseCols = "id, app, version, COALESCE(build_id, 0), image, commit_sha, status, description, error, spec, config, created_at"

// CreateRelease stores r as the app's next version (max+1) with status
// pending and records deploy:created. Only App, BuildID, Image, CommitSHA,
// Description, Spec and Config are taken from r. It returns an error wrapping
// ErrNotFound if the app (or a non-zero BuildID) does not exist.
func (s *Store) CreateRelease(ctx context.Context, r Release) (Release, error) {
	if r.Image == "" {
		return Release{}, fmt.Errorf("create release for %q: empty image", r.App)
	}
	out := Release{
		App: r.App, BuildID: r.BuildID, Image: r.Image, CommitSHA: r.CommitSHA,
		Status: ReleasePending, Description: r.Description, Spec: r.Spec, Config: r.Config, CreatedAt: now(),
	}
	spec := string(r.Spec)
	if spec == "" {
		spec = "{}"
	}
	var buildID any // NULL for 0
	if r.BuildID != 0 {
		buildID = r.BuildID
	}
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, r.App); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx,
			`INSERT INTO releases (app, version, build_id, image, commit_sha, status, description, spec, config, created_at)
			 VALUES (?1, (SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
			 RETURNING id, version`,
			r.App, buildID, r.Image, r.CommitSHA, out.Status, r.Description, spec, r.Config, toDB(out.CreatedAt)).Scan(&out.ID, &out.Version)
		if err != nil {
			if errors.Is(translate(err), ErrNotFound) {
				return fmt.Errorf("build %d: %w", r.BuildID, ErrNotFound)
			}
			return translate(err)
		}
		_, err = tx.event(ctx, EventDeployCreated, r.App,
			fmt.Sprintf("release v%d created: %s", out.Version, r.Image),
			map[string]any{"version": out.Version, "image": r.Image, "build_id": r.BuildID, "commit_sha": r.CommitSHA})
		return err
	})
	if err != nil {
		return Release{}, fmt.Errorf("create release for %q: %w", r.App, err)
	}
	return out, nil
}

// ActivateRelease makes a pending (or superseded) release active in one
// transaction: the previously active release becomes superseded, the app's
// CurrentRelease becomes version and its config vars become config (the
// release's own snapshot, sealed per var by the daemon), so the serving
// release and `config` agree whatever happens next; it records
// deploy:succeeded. Activating the already active release is a no-op. It
// returns an error wrapping ErrNotFound for an unknown release and
// ErrConflict for a failed one.
func (s *Store) ActivateRelease(ctx context.Context, app string, version int, config map[string][]byte) error {
	err := s.write(ctx, func(tx *wtx) error {
		var st ReleaseStatus
		var image string
		err := tx.QueryRowContext(ctx, "SELECT status, image FROM releases WHERE app = ? AND version = ?", app, version).Scan(&st, &image)
		if err != nil {
			return translate(err)
		}
		switch st {
		case ReleaseActive:
			return nil
		case ReleaseFailed:
			return fmt.Errorf("release is failed: %w", ErrConflict)
		}
		var prev int
		err = tx.QueryRowContext(ctx,
			"UPDATE releases SET status = 'superseded' WHERE app = ? AND status = 'active' RETURNING version", app).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE releases SET status = 'active', error = '' WHERE app = ? AND version = ?", app, version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE apps SET current_release = ? WHERE name = ?", version, app); err != nil {
			return err
		}
		if err := replaceConfigVars(ctx, tx, app, config); err != nil {
			return err
		}
		data := map[string]any{"version": version, "image": image}
		if prev != 0 {
			data["previous_version"] = prev
		}
		_, err = tx.event(ctx, EventDeploySucceeded, app, fmt.Sprintf("release v%d is live", version), data)
		return err
	})
	if err != nil {
		return fmt.Errorf("activate release v%d of %q: %w", version, app, err)
	}
	return nil
}

// requirePending fails unless the release exists (ErrNotFound) and is
// pending (ErrConflict): a release that served is never changed.
func requirePending(ctx context.Context, tx *wtx, app string, version int) error {
	var st ReleaseStatus
	err := tx.QueryRowContext(ctx, "SELECT status FROM releases WHERE app = ? AND version = ?", app, version).Scan(&st)
	if err != nil {
		return translate(err)
	}
	if st != ReleasePending {
		return fmt.Errorf("release is %s, not pending: %w", st, ErrConflict)
	}
	return nil
}

// FailRelease marks a pending release failed with reason and records
// deploy:failed. It returns an error wrapping ErrNotFound for an unknown
// release and ErrConflict if the release is not pending (an active release
// is never touched).
func (s *Store) FailRelease(ctx context.Context, app string, version int, reason string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := requirePending(ctx, tx, app, version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE releases SET status = 'failed', error = ? WHERE app = ? AND version = ?", reason, app, version); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventDeployFailed, app, fmt.Sprintf("release v%d failed: %s", version, reason),
			map[string]any{"version": version, "error": reason})
		return err
	})
	if err != nil {
		return fmt.Errorf("fail release v%d of %q: %w", version, app, err)
	}
	return nil
}

// CurrentRelease returns the app's active release, or an error wrapping
// ErrNotFound if the app does not exist or has none.
func (s *Store) CurrentRelease(ctx context.Context, app string) (Release, error) {
	r, err := scanRelease(s.r.QueryRowContext(ctx,
		"SELECT "+releaseCols+" FROM releases WHERE app = ? AND status = 'active'", app))
	if err != nil {
		return Release{}, fmt.Errorf("current release of %q: %w", app, translate(err))
	}
	return r, nil
}

// GetRelease returns one release of app or an error wrapping ErrNotFound.
func (s *Store) GetRelease(ctx context.Context, app string, version int) (Release, error) {
	r, err := scanRelease(s.r.QueryRowContext(ctx,
		"SELECT "+releaseCols+" FROM releases WHERE app = ? AND version = ?", app, version))
	if err != nil {
		return Release{}, fmt.Errorf("get release v%d of %q: %w", version, app, translate(err))
	}
	return r, nil
}

// ListReleases returns up to limit releases of app, newest first. limit <= 0
// means 100. It returns an error wrapping ErrNotFound if the app does not
// exist.
func (s *Store) ListReleases(ctx context.Context, app string, limit int) ([]Release, error) {
	var out []Release
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		var err error
		out, err = queryReleases(ctx, tx,
			"SELECT "+releaseCols+" FROM releases WHERE app = ? ORDER BY version DESC LIMIT ?", app, clampLimit(limit))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list releases of %q: %w", app, err)
	}
	return out, nil
}

// PendingReleases returns every pending release of every app, oldest first.
// The daemon uses it at startup to finish or fail deploys cut short by a
// crash.
func (s *Store) PendingReleases(ctx context.Context) ([]Release, error) {
	out, err := queryReleases(ctx, s.r, "SELECT "+releaseCols+" FROM releases WHERE status = 'pending' ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("pending releases: %w", err)
	}
	return out, nil
}

func queryReleases(ctx context.Context, q queryer, query string, args ...any) ([]Release, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRelease(r rowScanner) (Release, error) {
	var (
		rel  Release
		at   int64
		spec string
	)
	if err := r.Scan(&rel.ID, &rel.App, &rel.Version, &rel.BuildID, &rel.Image, &rel.CommitSHA,
		&rel.Status, &rel.Description, &rel.Error, &spec, &rel.Config, &at); err != nil {
		return Release{}, err
	}
	rel.Spec = []byte(spec)
	rel.CreatedAt = fromDB(at)
	return rel, nil
}
