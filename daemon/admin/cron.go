package admin

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

type cronJobInfo struct {
	ID       string       `json:"id"`
	Schedule string       `json:"schedule"`
	Command  string       `json:"command"`
	Next     *time.Time   `json:"next,omitempty"`
	Last     *cronRunInfo `json:"last,omitempty"`
}

type cronRunInfo struct {
	ID         int64      `json:"id"`
	Job        string     `json:"job"`
	Command    string     `json:"command"`
	Release    int        `json:"release"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	ExitCode   int        `json:"exit_code"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DurationS  float64    `json:"duration_s"`
}

func runInfo(r store.CronRun) *cronRunInfo {
	ri := &cronRunInfo{ID: r.ID, Job: r.Job, Command: r.Command, Release: r.Release, Trigger: r.Trigger, Status: r.Status,
		ExitCode: r.ExitCode, Error: r.Error, StartedAt: r.StartedAt, DurationS: r.Duration().Seconds()}
	if !r.FinishedAt.IsZero() {
		ri.FinishedAt = &r.FinishedAt
	}
	return ri
}

// summary is a run in a few words: "succeeded in 1.2s", "failed (exit 3) in 4s".
func (r *cronRunInfo) summary() string {
	d := time.Duration(r.DurationS * float64(time.Second)).Round(100 * time.Millisecond)
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
	infos := []cronJobInfo{}
	for _, j := range jobs {
		ji := cronJobInfo{ID: j.ID, Schedule: j.Schedule, Command: j.Command}
		if !j.Next.IsZero() {
			t := j.Next
			ji.Next = &t
		}
		if j.Last != nil {
			ji.Last = runInfo(*j.Last)
		}
		infos = append(infos, ji)
	}
	if c.json {
		return writeJSON(c.out, infos)
	}
	if len(infos) == 0 {
		fmt.Fprintf(c.out, "%s has no cron jobs (add them to app.json: \"cron\": [{\"command\": \"...\", \"schedule\": \"@daily\"}])\n", app)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCHEDULE\tCOMMAND\tNEXT\tLAST")
	for _, j := range infos {
		next, lastRun := "-", "-"
		if j.Next != nil {
			next = j.Next.Local().Format(time.RFC3339)
		}
		if j.Last != nil {
			lastRun = j.Last.StartedAt.Local().Format(time.RFC3339) + " " + j.Last.summary()
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
	fmt.Fprintf(c.out, "-----> Run %d %s\n", r.ID, runInfo(r).summary())
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
	infos := []*cronRunInfo{}
	for _, r := range runs {
		infos = append(infos, runInfo(r))
	}
	if c.json {
		return writeJSON(c.out, infos)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tJOB\tRELEASE\tTRIGGER\tSTARTED\tRESULT\tCOMMAND")
	for _, r := range infos {
		fmt.Fprintf(tw, "%d\t%s\tv%d\t%s\t%s\t%s\t%s\n", r.ID, r.Job, r.Release, r.Trigger,
			r.StartedAt.Local().Format(time.RFC3339), r.summary(), r.Command)
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
