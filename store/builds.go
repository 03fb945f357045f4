package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BuildStatus is the state of a build.
type BuildStatus string

// Build states. A build starts running and ends in exactly one of the
// other three.
const (
	BuildRunning   BuildStatus = "running"
	BuildSucceeded BuildStatus = "succeeded"
	BuildFailed    BuildStatus = "failed"
	BuildCanceled  BuildStatus = "canceled"
)

// Build is one image build triggered by a push.
// Its JSON (see json.go) is the wire format of both doors: null for an
// image, error or finish time it does not have, plus duration_s.
type Build struct {
	ID         int64       `json:"id"`
	App        string      `json:"app"`
	Ref        string      `json:"ref"`
	CommitSHA  string      `json:"commit_sha"`
	Status     BuildStatus `json:"status"`
	Image      string      `json:"image"`
	Error      string      `json:"error"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt time.Time   `json:"finished_at"` // zero while running
}

const buildCols = "id, app, ref, commit_sha, status, image, error, started_at, finished_at"

// CreateBuild records a running build of sha (pushed to ref) for app and
// records build:started. It returns an error wrapping ErrNotFound if the
// app does not exist.
func (s *Store) CreateBuild(ctx context.Context, app, ref, sha string) (Build, error) {
	b := Build{App: app, Ref: ref, CommitSHA: sha, Status: BuildRunning, StartedAt: now()}
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx,
			"INSERT INTO builds (app, ref, commit_sha, status, started_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
			app, ref, sha, b.Status, toDB(b.StartedAt)).Scan(&b.ID)
		if err != nil {
			return translate(err)
		}
		_, err = tx.event(ctx, EventBuildStarted, app,
			fmt.Sprintf("build %d started for %s at %s", b.ID, ref, shortSHA(sha)),
			map[string]any{"build_id": b.ID, "ref": ref, "commit_sha": sha})
		return err
	})
	if err != nil {
		return Build{}, fmt.Errorf("create build for %q: %w", app, err)
	}
	return b, nil
}

// FinishBuild moves a running build to status (succeeded, failed or
// canceled), storing the image, error message and build log, and records
// build:succeeded or build:failed (a canceled build records build:failed
// with the message "canceled"). It returns an error wrapping ErrNotFound
// for an unknown build and ErrConflict if the build is not running.
func (s *Store) FinishBuild(ctx context.Context, id int64, status BuildStatus, image, errMsg string, log []byte) error {
	switch status {
	case BuildSucceeded, BuildFailed, BuildCanceled:
	default:
		return fmt.Errorf("finish build %d: invalid final status %q", id, status)
	}
	if status == BuildCanceled && errMsg == "" {
		errMsg = "canceled"
	}
	if log == nil {
		log = []byte{}
	}
	err := s.write(ctx, func(tx *wtx) error {
		var app string
		var cur BuildStatus
		err := tx.QueryRowContext(ctx, "SELECT app, status FROM builds WHERE id = ?", id).Scan(&app, &cur)
		if err != nil {
			return translate(err)
		}
		if cur != BuildRunning {
			return fmt.Errorf("build is %s, not running: %w", cur, ErrConflict)
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE builds SET status = ?, image = ?, error = ?, log = ?, finished_at = ? WHERE id = ?",
			status, image, errMsg, log, toDB(now()), id); err != nil {
			return err
		}
		typ, msg := EventBuildSucceeded, fmt.Sprintf("build %d succeeded: %s", id, image)
		data := map[string]any{"build_id": id, "status": string(status)}
		switch status {
		case BuildSucceeded:
			data["image"] = image
		case BuildCanceled:
			typ, msg = EventBuildFailed, "canceled"
			data["error"] = errMsg
		default:
			typ, msg = EventBuildFailed, fmt.Sprintf("build %d failed: %s", id, errMsg)
			data["error"] = errMsg
		}
		_, err = tx.event(ctx, typ, app, msg, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish build %d: %w", id, err)
	}
	return nil
}

// BuildLog returns the stored log of a finished build (empty while the
// build is running) or an error wrapping ErrNotFound.
func (s *Store) BuildLog(ctx context.Context, id int64) ([]byte, error) {
	var log []byte
	if err := s.r.QueryRowContext(ctx, "SELECT log FROM builds WHERE id = ?", id).Scan(&log); err != nil {
		return nil, fmt.Errorf("build log %d: %w", id, translate(err))
	}
	return log, nil
}

// GetBuild returns build id of app or an error wrapping ErrNotFound (also
// when the build belongs to another app).
func (s *Store) GetBuild(ctx context.Context, app string, id int64) (Build, error) {
	b, err := scanBuild(s.r.QueryRowContext(ctx,
		"SELECT "+buildCols+" FROM builds WHERE id = ? AND app = ?", id, app))
	if err != nil {
		return Build{}, fmt.Errorf("get build %d of %q: %w", id, app, translate(err))
	}
	return b, nil
}

// ListBuilds returns up to limit builds of app, newest first. limit <= 0
// means 100. It returns an error wrapping ErrNotFound if the app does not
// exist.
func (s *Store) ListBuilds(ctx context.Context, app string, limit int) ([]Build, error) {
	var out []Build
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT "+buildCols+" FROM builds WHERE app = ? ORDER BY id DESC LIMIT ?", app, clampLimit(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBuild(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list builds of %q: %w", app, err)
	}
	return out, nil
}

// FailRunningBuilds marks every running build failed with reason, recording
// build:failed for each, and returns how many there were. The daemon calls
// it at startup: a build still running then was cut short by a crash.
func (s *Store) FailRunningBuilds(ctx context.Context, reason string) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx,
			"UPDATE builds SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running' RETURNING id, app",
			reason, toDB(now()))
		if err != nil {
			return err
		}
		type failed struct {
			id  int64
			app string
		}
		var fs []failed
		for rows.Next() {
			var f failed
			if err := rows.Scan(&f.id, &f.app); err != nil {
				rows.Close()
				return err
			}
			fs = append(fs, f)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, f := range fs {
			if _, err := tx.event(ctx, EventBuildFailed, f.app,
				fmt.Sprintf("build %d failed: %s", f.id, reason),
				map[string]any{"build_id": f.id, "status": string(BuildFailed), "error": reason}); err != nil {
				return err
			}
		}
		n = len(fs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fail running builds: %w", err)
	}
	return n, nil
}

func scanBuild(r rowScanner) (Build, error) {
	var (
		b             Build
		started, done int64
	)
	if err := r.Scan(&b.ID, &b.App, &b.Ref, &b.CommitSHA, &b.Status, &b.Image, &b.Error, &started, &done); err != nil {
		return Build{}, err
	}
	b.StartedAt, b.FinishedAt = fromDB(started), fromDB(done)
	return b, nil
}

// shortSHA abbreviates a commit hash for messages.
func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
