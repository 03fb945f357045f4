package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// CronJob is one of the current release's cron jobs (app.json) with its
// next and last runs.
type CronJob struct {
	ID       string         `json:"id"`
	Schedule string         `json:"schedule"`
	Command  string         `json:"command"`
	Next     time.Time      `json:"next"` // zero (JSON null) when not scheduled
	Last     *store.CronRun `json:"last"` // nil when it never ran
}

// MarshalJSON implements json.Marshaler.
func (j CronJob) MarshalJSON() ([]byte, error) {
	type plain CronJob
	return json.Marshal(struct {
		plain
		Next *time.Time `json:"next"`
	}{plain(j), store.NullTime(j.Next)})
}

// CronJobs lists the current release's cron jobs; none for an app without
// a release or a static site.
func (d *Daemon) CronJobs(ctx context.Context, app string) ([]CronJob, error) {
	var jobs []cronJob
	if _, spec, err := d.runnableRelease(ctx, app); err == nil {
		jobs = spec.Cron
	} else if !errors.Is(err, ErrNoRelease) && !errors.Is(err, ErrStaticSite) {
		return nil, err
	}
	last, err := d.store.LastCronRuns(ctx, app)
	if err != nil {
		return nil, err
	}
	out := []CronJob{}
	for _, j := range jobs {
		cj := CronJob{ID: j.ID, Schedule: j.Schedule, Command: j.Command, Next: d.cron.next(app, j.ID)}
		if r, ok := last[j.ID]; ok {
			cj.Last = &r
		}
		out = append(out, cj)
	}
	return out, nil
}

// RunCron runs a cron job now, streaming its output to out, and returns
// the stored run (its ExitCode is the job's). An unknown job, or one that
// is running already, is an InputError.
func (d *Daemon) RunCron(ctx context.Context, app, id string, out io.Writer) (store.CronRun, error) {
	rel, spec, err := d.runnableRelease(ctx, app)
	if err != nil {
		return store.CronRun{}, err
	}
	job, ok := findJob(spec.Cron, id)
	if !ok {
		return store.CronRun{}, InputError{fmt.Sprintf("%s has no cron job %q (see: cron %s)", app, id, app)}
	}
	if since, ok := d.cron.begin(app, job.ID); !ok {
		return store.CronRun{}, InputError{fmt.Sprintf("cron job %s is already running (since %s)", job.ID, since.Format(time.RFC3339))}
	}
	defer d.cron.end(app, job.ID)
	fmt.Fprintf(out, "-----> Running cron job %s of %s v%d: %s\n", job.ID, app, rel.Version, job.Command)
	return d.runCronJob(ctx, rel, job, "manual", out)
}

// CronRuns lists stored runs, newest first, of one job ("": all), at most n.
func (d *Daemon) CronRuns(ctx context.Context, app, job string, n int) ([]store.CronRun, error) {
	return d.store.ListCronRuns(ctx, app, job, n)
}

// CronRun returns a stored run with its output; id 0 is the latest run.
// An app without runs is an InputError.
func (d *Daemon) CronRun(ctx context.Context, app string, id int64) (store.CronRun, error) {
	if id == 0 {
		runs, err := d.store.ListCronRuns(ctx, app, "", 1)
		if err != nil {
			return store.CronRun{}, err
		}
		if len(runs) == 0 {
			return store.CronRun{}, InputError{fmt.Sprintf("%s has no cron runs yet", app)}
		}
		id = runs[0].ID
	}
	return d.store.GetCronRun(ctx, app, id)
}
