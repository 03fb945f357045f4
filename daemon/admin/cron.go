package admin

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// runSummary is a run in a few words: "succeeded in 1.2s", "failed (exit
// 3) in 4s".
func runSummary(r store.CronRun) string {
	d := r.Duration().Round(100 * time.Millisecond)
	switch r.Status {
	case "running":
		return fmt.Sprintf("running for %s", d)
	case "failed":
		if r.ExitCode >= 0 {
			return fmt.Sprintf("failed (exit %d) in %s", r.ExitCode, d)
		}
		return "failed: " + r.Error
	}
	return fmt.Sprintf("%s in %s", r.Status, d)
}

// cmdCron lists the current release's cron jobs with their next and last
// runs.
func (a *Admin) cmdCron(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	jobs, err := a.eng.CronJobs(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, jobs)
	}
	if len(jobs) == 0 {
		fmt.Fprintf(c.out, "%s has no cron jobs (add them to app.json: \"cron\": [{\"command\": \"...\", \"schedule\": \"@daily\"}])\n", app)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCHEDULE\tCOMMAND\tNEXT\tLAST")
	for _, j := range jobs {
		next, lastRun := "-", "-"
		if !j.Next.IsZero() {
			next = j.Next.Local().Format(time.RFC3339)
		}
		if j.Last != nil {
			lastRun = j.Last.StartedAt.Local().Format(time.RFC3339) + " " + runSummary(*j.Last)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Schedule, j.Command, next, lastRun)
	}
	return tw.Flush()
}

// cmdCronRun runs a job now, streaming its output, and ends with its exit
// status. It refuses while the same job is running.
func (a *Admin) cmdCronRun(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	r, err := a.eng.RunCron(ctx, c.args[0], c.args[1], c.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "-----> Run %d %s\n", r.ID, runSummary(r))
	if r.ExitCode != 0 {
		return exitStatus(r.ExitCode)
	}
	return nil
}

// cmdCronRuns lists stored runs, newest first, of one job or all.
func (a *Admin) cmdCronRuns(ctx context.Context, c *call) error {
	if len(c.args) < 1 || len(c.args) > 2 {
		return usageError{"want APP and at most one JOB"}
	}
	job := ""
	if len(c.args) == 2 {
		job = c.args[1]
	}
	n := 20
	if v := lastOpt(c, "-n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			return usageError{fmt.Sprintf("-n %s: want a number from 1 to 1000", v)}
		}
	}
	runs, err := a.eng.CronRuns(ctx, c.args[0], job, n)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []store.CronRun{}
	}
	if c.json {
		return writeJSON(c.out, runs)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tJOB\tRELEASE\tTRIGGER\tSTARTED\tRESULT\tCOMMAND")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\tv%d\t%s\t%s\t%s\t%s\n", r.ID, r.Job, r.Release, r.Trigger,
			r.StartedAt.Local().Format(time.RFC3339), runSummary(r), r.Command)
	}
	return tw.Flush()
}

// cmdCronLog prints a stored run's output (the latest run without RUN).
func (a *Admin) cmdCronLog(ctx context.Context, c *call) error {
	if len(c.args) < 1 || len(c.args) > 2 {
		return usageError{"want APP and at most one RUN"}
	}
	var id int64
	if len(c.args) == 2 {
		var err error
		if id, err = strconv.ParseInt(c.args[1], 10, 64); err != nil || id < 1 {
			return usageError{fmt.Sprintf("RUN %q: want a run number from cron:runs", c.args[1])}
		}
	}
	r, err := a.eng.CronRun(ctx, c.args[0], id)
	if err != nil {
		return err
	}
	_, err = c.out.Write(r.Output)
	return err
}
