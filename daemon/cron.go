package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/store"
)

// cronJob is one app.json cron entry as a release spec keeps it.
type cronJob struct {
	// ID names the job in `cron` and `cron:run`. It is derived from the
	// schedule and command, so it survives redeploys that keep the job.
	ID       string `json:"id"`
	Command  string `json:"command"`
	Schedule string `json:"schedule"`
}

// cronJobs gives app.json's cron entries their IDs; an entry repeated
// verbatim is one job.
func cronJobs(entries []buildpacks.CronJob) []cronJob {
	var jobs []cronJob
	seen := map[string]bool{}
	for _, e := range entries {
		sum := sha256.Sum256([]byte(strings.TrimSpace(e.Schedule) + "\x00" + e.Command))
		j := cronJob{ID: hex.EncodeToString(sum[:4]), Command: e.Command, Schedule: strings.TrimSpace(e.Schedule)}
		if !seen[j.ID] {
			seen[j.ID] = true
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// checkCronIntervals refuses @every schedules shorter than min: a job every
// few seconds is almost always a mistake, and each run is a container.
func checkCronIntervals(entries []buildpacks.CronJob, min time.Duration) error {
	for i, e := range entries {
		d, ok := strings.CutPrefix(strings.TrimSpace(e.Schedule), "@every ")
		if !ok {
			continue
		}
		if every, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && every < min {
			return fmt.Errorf("app.json cron[%d].schedule: runs every %s; the shortest interval allowed is %s", i, every, min)
		}
	}
	return nil
}

// cronOutputMax bounds the output kept per run; the start is dropped.
const cronOutputMax = 64 << 10

// labelCron marks a cron run's container with its job ID.
const labelCron = "xcloud.cron"

// scheduler runs the current releases' cron jobs. It owns a robfig cron
// whose job goroutines its Stop waits for; runs never overlap per job, be
// they scheduled or started by cron:run.
type scheduler struct {
	d    *Daemon
	cron *cron.Cron

	mu      sync.Mutex
	entries map[string]map[string]cron.EntryID // app → job ID → entry
	running map[string]time.Time               // app/job → when its run started
}

func newScheduler(d *Daemon) *scheduler {
	return &scheduler{
		d: d,
		cron: cron.New(
			cron.WithLocation(time.Local),
			cron.WithLogger(cronLogger{d.log.With("part", "cron")}),
			cron.WithChain(cron.Recover(cronLogger{d.log.With("part", "cron")})),
		),
		entries: map[string]map[string]cron.EntryID{},
		running: map[string]time.Time{},
	}
}

// stop ends scheduling and waits for runs in progress, which end when the
// daemon's background context is cancelled.
func (s *scheduler) stop() {
	<-s.cron.Stop().Done()
}

// syncAll schedules every app's jobs, e.g. at start-up.
func (s *scheduler) syncAll(ctx context.Context) error {
	apps, err := s.d.store.ListApps(ctx)
	if err != nil {
		return fmt.Errorf("schedule cron jobs: %w", err)
	}
	for _, a := range apps {
		s.syncApp(ctx, a.Name)
	}
	return nil
}

// syncApp makes the app's scheduled jobs those of its current release, or
// none when it is stopped, destroyed or has no release. Called after every
// change of those.
func (s *scheduler) syncApp(ctx context.Context, app string) {
	var jobs []cronJob
	a, err := s.d.store.GetApp(ctx, app)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.d.log.Error("schedule cron jobs", "app", app, "err", err)
		return
	case a.CurrentRelease > 0 && !a.Stopped:
		_, spec, err := s.d.runnableRelease(ctx, app)
		if err != nil && !errors.Is(err, ErrNoRelease) && !errors.Is(err, ErrStaticSite) {
			s.d.log.Error("schedule cron jobs", "app", app, "err", err)
			return
		}
		jobs = spec.Cron
		if s.d.isPreview(ctx, app) {
			jobs = nil // previews run no cron jobs
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	have := s.entries[app]
	want := map[string]bool{}
	for _, j := range jobs {
		want[j.ID] = true
		if _, ok := have[j.ID]; ok {
			continue
		}
		sched, err := cron.ParseStandard(j.Schedule)
		if err != nil { // checked at deploy; an old release may predate a rule
			s.d.log.Error("cron job not scheduled", "app", app, "job", j.ID, "schedule", j.Schedule, "err", err)
			continue
		}
		j := j
		id := s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(app, j) }))
		if have == nil {
			have = map[string]cron.EntryID{}
			s.entries[app] = have
		}
		have[j.ID] = id
		s.d.log.Info("cron job scheduled", "app", app, "job", j.ID, "schedule", j.Schedule, "command", j.Command)
	}
	for id, entry := range have {
		if !want[id] {
			s.cron.Remove(entry)
			delete(have, id)
			s.d.log.Info("cron job unscheduled", "app", app, "job", id)
		}
	}
	if len(have) == 0 {
		delete(s.entries, app)
	}
}

// next returns when the job runs next, or the zero time if it is not
// scheduled.
func (s *scheduler) next(app, job string) time.Time {
	s.mu.Lock()
	id, ok := s.entries[app][job]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(id).Next
}

// begin marks the job running; false if it already is.
func (s *scheduler) begin(app, job string) (started time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := app + "/" + job
	if t, busy := s.running[key]; busy {
		return t, false
	}
	s.running[key] = time.Now()
	return time.Time{}, true
}

func (s *scheduler) end(app, job string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, app+"/"+job)
}

// fire is a scheduled run. It checks at run time that the job is still the
// current release's, so a run never uses an image or config it no longer
// should.
func (s *scheduler) fire(app string, job cronJob) {
	ctx := s.d.bgctx
	log := s.d.log.With("app", app, "job", job.ID)
	if since, ok := s.begin(app, job.ID); !ok {
		log.Warn("cron run skipped: the previous run is still going", "running_for", time.Since(since).Round(time.Second))
		return
	}
	defer s.end(app, job.ID)
	rel, spec, err := s.d.runnableRelease(ctx, app)
	if err != nil {
		log.Info("cron run skipped", "reason", err)
		return
	}
	if _, ok := findJob(spec.Cron, job.ID); !ok {
		return
	}
	if _, err := s.d.runCronJob(ctx, rel, job, "schedule", io.Discard); err != nil && ctx.Err() == nil {
		log.Error("cron run", "err", err)
	}
}

func findJob(jobs []cronJob, id string) (cronJob, bool) {
	for _, j := range jobs {
		if j.ID == id {
			return j, true
		}
	}
	return cronJob{}, false
}

// runCronJob runs job once in a one-off container of rel, copying its output
// to w and to the app's logs, and stores the run with its exit code,
// duration and the tail of its output.
func (d *Daemon) runCronJob(ctx context.Context, rel store.Release, job cronJob, trigger string, w io.Writer) (store.CronRun, error) {
	run, err := d.store.StartCronRun(ctx, store.CronRun{
		App: rel.App, Job: job.ID, Command: job.Command, Schedule: job.Schedule, Release: rel.Version, Trigger: trigger,
	})
	if err != nil {
		return store.CronRun{}, err
	}
	finish := func(code int, out []byte, runErr error) (store.CronRun, error) {
		if runErr != nil && ctx.Err() != nil {
			// Stopped with the daemon (or the client of cron:run): not the job's failure.
			_, err := d.store.InterruptCronRuns(context.WithoutCancel(ctx), run.ID, out)
			return run, errors.Join(runErr, err)
		}
		msg := ""
		if runErr != nil {
			msg = runErr.Error()
		}
		r, err := d.store.FinishCronRun(context.WithoutCancel(ctx), run.ID, code, out, msg)
		return r, errors.Join(runErr, err)
	}
	cs, err := d.oneOffSpec(ctx, rel, "cron", shellCommand(job.Command), map[string]string{labelCron: job.ID})
	if err != nil {
		return finish(-1, nil, err)
	}
	c, err := d.rt.Run(ctx, cs)
	if err != nil {
		return finish(-1, nil, fmt.Errorf("start cron job %s: %w", job.ID, err))
	}
	defer d.removeContainer(context.WithoutCancel(ctx), c.ID)
	tail := &tailBuffer{max: cronOutputMax}
	logw := &LineWriter{Emit: func(text string) error {
		d.logs.write(rel.App, logLine{Time: time.Now(), Process: "cron", Name: job.ID, Text: text})
		return nil
	}}
	code, err := d.runToEnd(ctx, c.ID, io.MultiWriter(tail, logw, w))
	if err != nil {
		return finish(-1, tail.Bytes(), fmt.Errorf("cron job %s: %w", job.ID, err))
	}
	return finish(code, tail.Bytes(), nil)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max     int
	buf     []byte
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.dropped = true
	}
	return len(p), nil
}

// Bytes returns what was kept, marked when the start was cut.
func (t *tailBuffer) Bytes() []byte {
	if !t.dropped {
		return t.buf
	}
	return append([]byte("[earlier output cut]\n"), t.buf...)
}

// cronLogger passes robfig/cron's logging to slog; its routine messages
// (every wake-up) are debug level.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
