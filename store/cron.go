package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// CronRun is one run of an app's cron job.
// Its JSON (see json.go) leaves the output out (cron:log prints it) and
// has null for an exit code, error or finish time it does not have.
type CronRun struct {
	ID         int64     `json:"id"`
	App        string    `json:"app"`
	Job        string    `json:"job"` // the job's ID (see daemon's cron)
	Command    string    `json:"command"`
	Schedule   string    `json:"schedule"`
	Release    int       `json:"version"`   // the release it ran in
	Trigger    string    `json:"trigger"`   // "schedule" or "manual"
	Status     string    `json:"status"`    // running, succeeded, failed, interrupted
	ExitCode   int       `json:"exit_code"` // -1 until it exits
	Output     []byte    `json:"-"`         // the tail of what it printed
	Error      string    `json:"error"`     // why it could not run or finish, if so
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// Duration is how long the run took, or has taken so far.
func (r CronRun) Duration() time.Duration {
	if r.FinishedAt.IsZero() {
		return time.Since(r.StartedAt)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

const cronRunCols = "id, app, job, command, schedule, release, trigger, status, exit_code, output, error, started_at, finished_at"

func scanCronRun(row interface{ Scan(...any) error }) (CronRun, error) {
	var r CronRun
	var started, finished int64
	err := row.Scan(&r.ID, &r.App, &r.Job, &r.Command, &r.Schedule, &r.Release, &r.Trigger, &r.Status,
		&r.ExitCode, &r.Output, &r.Error, &started, &finished)
	r.StartedAt, r.FinishedAt = fromDB(started), fromDB(finished)
	return r, err
}

// StartCronRun records that a run began and returns it with its ID.
func (s *Store) StartCronRun(ctx context.Context, r CronRun) (CronRun, error) {
	if r.Trigger != "schedule" && r.Trigger != "manual" {
		return CronRun{}, fmt.Errorf("start cron run: bad trigger %q", r.Trigger)
	}
	r.Status, r.ExitCode, r.StartedAt = "running", -1, now()
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, r.App); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			"INSERT INTO cron_runs (app, job, command, schedule, release, trigger, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?) RETURNING id",
			r.App, r.Job, r.Command, r.Schedule, r.Release, r.Trigger, toDB(r.StartedAt)).Scan(&r.ID)
	})
	if err != nil {
		return CronRun{}, fmt.Errorf("start cron run of %s job %s: %w", r.App, r.Job, err)
	}
	return r, nil
}

// FinishCronRun records how run id ended: exit code 0 is success. errMsg
// says why it could not run or finish; such a run failed whatever its code.
// A failed run also records cron:failed in the same transaction.
func (s *Store) FinishCronRun(ctx context.Context, id int64, exitCode int, output []byte, errMsg string) (CronRun, error) {
	status := "succeeded"
	if exitCode != 0 || errMsg != "" {
		status = "failed"
	}
	var r CronRun
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		r, err = scanCronRun(tx.QueryRowContext(ctx,
			"UPDATE cron_runs SET status = ?, exit_code = ?, output = ?, error = ?, finished_at = ? WHERE id = ? AND status = 'running' RETURNING "+cronRunCols,
			status, exitCode, output, errMsg, toDB(now()), id))
		if err != nil {
			return translate(err)
		}
		if status != "failed" {
			return nil
		}
		why := fmt.Sprintf("exited with status %d", exitCode)
		if errMsg != "" {
			why = errMsg
		}
		_, err = tx.event(ctx, EventCronFailed, r.App, fmt.Sprintf("cron job %s (%s) %s", r.Job, r.Command, why),
			map[string]any{"job": r.Job, "command": r.Command, "run": r.ID, "exit_code": exitCode, "release": r.Release})
		return err
	})
	if err != nil {
		return CronRun{}, fmt.Errorf("finish cron run %d: %w", id, err)
	}
	return r, nil
}

// InterruptCronRuns marks runs still "running" as interrupted, with what
// they printed: run id (the daemon stopped it), or with id 0 every one
// (called at start-up, when no run can be in progress).
func (s *Store) InterruptCronRuns(ctx context.Context, id int64, output []byte) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cron_runs SET status = 'interrupted', error = 'the daemon stopped during the run', output = coalesce(?, output), finished_at = ? WHERE status = 'running' AND (? = 0 OR id = ?)",
			output, toDB(now()), id, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark interrupted cron runs: %w", err)
	}
	return int(n), nil
}

// ListCronRuns returns app's newest runs first, of one job or (job "") of
// all. Output is left out; GetCronRun has it.
func (s *Store) ListCronRuns(ctx context.Context, app, job string, limit int) ([]CronRun, error) {
	var out []CronRun
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT id, app, job, command, schedule, release, trigger, status, exit_code, NULL, error, started_at, finished_at FROM cron_runs WHERE app = ? AND (? = '' OR job = ?) ORDER BY id DESC LIMIT ?",
			app, job, job, clampLimit(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanCronRun(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list cron runs of %q: %w", app, err)
	}
	return out, nil
}

// LastCronRuns returns the newest run of each of app's jobs, by job ID.
func (s *Store) LastCronRuns(ctx context.Context, app string) (map[string]CronRun, error) {
	out := map[string]CronRun{}
	rows, err := s.r.QueryContext(ctx,
		"SELECT id, app, job, command, schedule, release, trigger, status, exit_code, NULL, error, started_at, finished_at FROM cron_runs WHERE id IN (SELECT MAX(id) FROM cron_runs WHERE app = ? GROUP BY job)",
		app)
	if err != nil {
		return nil, fmt.Errorf("last cron runs of %q: %w", app, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanCronRun(rows)
		if err != nil {
			return nil, fmt.Errorf("last cron runs of %q: %w", app, err)
		}
		out[r.Job] = r
	}
	return out, rows.Err()
}

// GetCronRun returns one run of app with its output, or an error wrapping
// ErrNotFound.
func (s *Store) GetCronRun(ctx context.Context, app string, id int64) (CronRun, error) {
	r, err := scanCronRun(s.r.QueryRowContext(ctx, "SELECT "+cronRunCols+" FROM cron_runs WHERE app = ? AND id = ?", app, id))
	if err != nil {
		return CronRun{}, fmt.Errorf("cron run %d of %q: %w", id, app, translate(err))
	}
	return r, nil
}
