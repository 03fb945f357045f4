package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/gitsrc"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

var _ gitreceive.Backend = (*Daemon)(nil)

// generatedContainerfile is where a buildpack's Containerfile goes in the
// build context; the name keeps it clear of the app's own files.
const generatedContainerfile = ".xcloud.Containerfile"

// maxBuildLog bounds the build output kept in the database per build.
const maxBuildLog = 1 << 20

// AppExists implements gitreceive.Backend.
func (d *Daemon) AppExists(ctx context.Context, app string) (bool, error) {
	_, err := d.store.GetApp(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// CreateApp implements gitreceive.Backend: an admin's push to a new name creates it.
func (d *Daemon) CreateApp(ctx context.Context, app string, by gitreceive.Identity) error {
	if !by.Admin {
		return fmt.Errorf("only admin keys may create apps")
	}
	ctx = store.WithActor(ctx, by.Name)
	_, err := d.createApp(ctx, app)
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	if err == nil {
		d.log.Info("app created", "app", app, "by", by.Name)
	}
	return err
}

// Deploy implements gitreceive.Backend: detect how to build the pushed
// commit, build it, run the release command, start the new containers, wait
// until they are healthy, switch the route, retire the previous release.
// Progress streams to out. A failure at any step leaves the serving release
// serving.
func (d *Daemon) Deploy(ctx context.Context, p gitreceive.Push, out io.Writer) (err error) {
	ctx = store.WithActor(ctx, p.Pusher.Name)
	defer d.deployStarted()()
	w := &progress{w: out, start: time.Now()}
	ph := newPhases(w.start)
	ctx = withPhases(ctx, ph)
	defer func() { d.logPhases(p, ph, err) }()
	unlock, err := d.lockApp(ctx, p.App, w)
	if err != nil {
		return err
	}
	defer unlock()
	ph.mark("lock")
	// Other doors may follow the output from here (FollowDeploy).
	var f *feed
	w.w, f = d.feeds.begin(p.App, out)
	defer func() { d.feeds.end(p.App, f, err) }()

	if p.OldSHA == p.NewSHA {
		if cur, err := d.store.CurrentRelease(ctx, p.App); err == nil && cur.CommitSHA == p.NewSHA {
			w.step("Everything up-to-date: v%d (%s) is serving", cur.Version, short(p.NewSHA))
			w.done("%s", d.AppURL(p.App))
			return nil
		}
	}

	src, plan, aj, err := d.prepareDeploy(ctx, p, w)
	if err != nil {
		d.recordRefusedPush(ctx, p, err)
		return err
	}
	ph.mark("prepare")
	if plan.Kind == buildpacks.KindStatic {
		return d.deployStatic(ctx, p, src, plan, w)
	}
	spec, err := specFromPlan(plan)
	if err != nil {
		return err
	}
	image, err := d.build(ctx, p, src, plan, w)
	if err != nil {
		return err
	}
	if plan.StaticRoot != "" {
		return d.deployStaticExport(ctx, p, plan, image, w)
	}
	snap, err := d.deploySnapshot(ctx, p.App, aj, w)
	if err != nil {
		return err
	}
	rel, err := d.store.CreateRelease(ctx, store.Release{
		App: p.App, Image: image.ref, BuildID: image.buildID, CommitSHA: p.NewSHA,
		Description: "deploy " + short(p.NewSHA), Spec: spec, Config: snap,
	})
	if err != nil {
		return fmt.Errorf("record release: %w", err)
	}
	ph.mark("release record")
	if err := d.deployRelease(ctx, rel, w); err != nil {
		d.failRelease(ctx, rel, err)
		return err
	}
	d.afterDeploy(ctx, rel, aj, w)
	ph.mark("after deploy")
	if also := d.alsoRunning(ctx, p.App, spec); also != "" {
		w.step("%s", also)
	}
	w.done("%s", d.deployedLine(p.App, rel.Version, spec, w.took()))
	return nil
}

// failRelease records why a release failed, even when the pusher went away.
func (d *Daemon) failRelease(ctx context.Context, rel store.Release, cause error) {
	if err := d.store.FailRelease(context.WithoutCancel(ctx), rel.App, rel.Version, cause.Error()); err != nil {
		d.log.Error("record failed release", "app", rel.App, "release", rel.Version, "err", err)
		return
	}
	d.obs.DeployFinished(rel.App, false)
}

// prepareDeploy reads the pushed commit and decides how to build it: the
// detected plan and the app.json it carries, checked.
func (d *Daemon) prepareDeploy(ctx context.Context, p gitreceive.Push, w *progress) (*gitsrc.Source, *buildpacks.Plan, appJSONPlan, error) {
	src, err := gitsrc.Open(p.RepoDir, p.NewSHA)
	if err != nil {
		return nil, nil, appJSONPlan{}, err
	}
	plan, err := buildpacks.Detect(src.FS(), d.opts.Stack)
	if err != nil {
		return nil, nil, appJSONPlan{}, err
	}
	if plan.Kind == buildpacks.KindContainerfile {
		w.step("Using the repository's %s", plan.Containerfile)
	} else {
		w.step("Detected %s %s", plan.Name, plan.Reason)
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(w, "       %s\n", n)
	}
	aj, err := d.planAppJSON(ctx, p.App, plan, w)
	if err != nil {
		return nil, nil, appJSONPlan{}, err
	}
	if plan.AppJSON != nil && len(plan.AppJSON.Cron) > 0 {
		if err := checkCronIntervals(plan.AppJSON.Cron, d.opts.CronMinInterval); err != nil {
			return nil, nil, appJSONPlan{}, err
		}
		if plan.Kind == buildpacks.KindStatic || plan.StaticRoot != "" {
			fmt.Fprintf(w, "       app.json cron jobs are ignored: a static site has no container to run them in\n")
		}
	}
	return src, plan, aj, nil
}

// recordRefusedPush records a push refused before its build started (no
// buildable app detected, a bad app.json) as a failed build, so `builds`
// and notifiers hear of it like any failed build.
func (d *Daemon) recordRefusedPush(ctx context.Context, p gitreceive.Push, cause error) {
	ctx = context.WithoutCancel(ctx)
	b, err := d.store.CreateBuild(ctx, p.App, p.Ref, p.NewSHA)
	if err == nil {
		err = d.store.FinishBuild(ctx, b.ID, store.BuildFailed, "", cause.Error(), []byte(cause.Error()+"\n"))
	}
	if err != nil {
		d.log.Error("record refused push", "app", p.App, "err", err)
	}
}

// specFromPlan turns the detected processes and app.json into the spec
// stored with the release.
func specFromPlan(plan *buildpacks.Plan) ([]byte, error) {
	spec := releaseSpec{Processes: map[string]string{}}
	for _, pr := range plan.Processes {
		spec.Processes[pr.Type] = pr.Command
	}
	if _, ok := spec.Processes["web"]; !ok && plan.Kind == buildpacks.KindContainerfile {
		spec.Processes["web"] = "" // the image's own command
	}
	if plan.AppJSON != nil {
		spec.Healthchecks = plan.AppJSON.Healthchecks
		spec.Cron = cronJobs(plan.AppJSON.Cron)
		spec.Formation = plan.AppJSON.Formation
		spec.Predeploy = plan.AppJSON.Scripts.Predeploy
		spec.Postdeploy = plan.AppJSON.Scripts.Postdeploy
	}
	return specJSON(spec)
}

// lockApp takes the app's deploy lock, telling the user when it has to wait
// for another deploy or command. The background prune of an earlier deploy
// gives way at once (and is scheduled again for when the lock is let go).
func (d *Daemon) lockApp(ctx context.Context, app string, w *progress) (unlock func(), err error) {
	lock := d.appLock(app)
	yielded, told := false, false
	for !lock.TryLock() {
		if d.yieldPrune(app) {
			yielded = true
		} else if !told {
			w.step("Another deploy of %s is in progress; waiting for it to finish", app)
			told = true
		}
		select {
		case <-ctx.Done():
			if yielded {
				d.pruneLater(app)
			}
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		lock.Unlock()
		if yielded {
			d.pruneLater(app)
		}
	}, nil
}

func lockCtx(ctx context.Context, m *sync.Mutex) error {
	for !m.TryLock() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

type builtImage struct {
	ref     string
	buildID int64
}

// build runs one image build in a build slot and records it.
func (d *Daemon) build(ctx context.Context, p gitreceive.Push, src *gitsrc.Source, plan *buildpacks.Plan, w *progress) (builtImage, error) {
	select {
	case d.builds <- struct{}{}:
	default:
		d.mu.Lock()
		d.waiting++
		pos := d.waiting
		d.obs.BuildQueueChanged(d.waiting)
		d.mu.Unlock()
		w.step("Waiting for a build slot (%d running, you are number %d in the queue)", cap(d.builds), pos)
		select {
		case d.builds <- struct{}{}:
			d.mu.Lock()
			d.waiting--
			d.obs.BuildQueueChanged(d.waiting)
			d.mu.Unlock()
		case <-ctx.Done():
			d.mu.Lock()
			d.waiting--
			d.obs.BuildQueueChanged(d.waiting)
			d.mu.Unlock()
			return builtImage{}, ctx.Err()
		}
	}
	defer func() { <-d.builds }()
	ph := phasesOf(ctx)
	ph.mark("build slot")

	in, err := d.buildConfigFor(ctx, p.App, plan, src)
	if err != nil {
		return builtImage{}, err
	}
	b, err := d.store.CreateBuild(ctx, p.App, p.Ref, p.NewSHA)
	if err != nil {
		return builtImage{}, fmt.Errorf("record build: %w", err)
	}
	ref := fmt.Sprintf("localhost/xcloud/%s:b%d", p.App, b.ID)
	containerfile, extra := plan.Containerfile, map[string][]byte(nil)
	if plan.Generated != nil {
		containerfile = generatedContainerfile
		extra = map[string][]byte{containerfile: in.generated}
	}
	if plan.Generated != nil {
		w.step("Building %s (%s)", p.App, short(p.NewSHA))
	} else {
		w.step("Building %s (%s) from %s", p.App, short(p.NewSHA), containerfile)
	}
	if len(in.vars) > 0 {
		fmt.Fprintf(w, "       Config vars for the build (as build args): %s\n", strings.Join(in.vars, ", "))
	}
	d.pause(ctx, "build", w)
	start := time.Now()
	ph.mark("build setup")

	bctx, cancel := context.WithTimeout(ctx, d.opts.BuildTimeout)
	defer cancel()
	d.mu.Lock()
	d.running[p.App] = cancel
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.running, p.App)
		d.mu.Unlock()
	}()
	logBuf := &Capped{Max: maxBuildLog}
	labels := d.labels(map[string]string{labelApp: p.App, "xcloud.commit": p.NewSHA})
	imageLabels := labels
	if plan.Generated != nil {
		// One LABEL instruction in the file instead of one per label.
		in.generated = buildpacks.WithLabels(in.generated, labels)
		extra[containerfile] = in.generated
		labels = nil
	}
	var id string
	built := false // by the Go builder, or failed there as podman build would
	if gr, ok := d.rt.(goRuntime); ok && plan.Go != nil && !viaContainerfile(ctx) {
		id, err = d.goBuild(bctx, gr, plan.Go, goBuildJob{
			app: p.App, buildID: b.ID, ref: ref, src: src, extra: extra, env: in.args,
			labels: imageLabels, out: io.MultiWriter(w, logBuf), log: logBuf, cacheRoot: buildahCacheRoot(),
		})
		var ce *compileError
		switch {
		case err == nil, errors.As(err, &ce), bctx.Err() != nil:
			built = true
		case errors.Is(err, errBuilderBusy):
			fmt.Fprintf(logBuf, "%v; building with podman build\n", err)
			ph.mark("build fast path busy")
		default:
			d.log.Warn("Go builder failed; building with podman build", "app", p.App, "err", err)
			fmt.Fprintf(logBuf, "the Go builder failed (%v); building with podman build\n", err)
			ph.mark("build fast path failed")
		}
	}
	if !built {
		spec := podman.BuildSpec{
			Containerfile: containerfile,
			Tag:           ref,
			Labels:        labels,
			BuildArgs:     in.args,
			MemoryBytes:   d.opts.BuildMemoryBytes,
			CPUs:          d.opts.BuildCPUs,
			NoLayers:      plan.NoLayerCache,
		}
		id, err = buildAgainIfRaced(bctx, func() (string, error) {
			return d.podmanBuild(bctx, src, plan, in, spec, extra, logBuf, w, start)
		}, func(err error) {
			d.log.Warn("Podman failed the build on a race of its own; building again", "app", p.App, "err", err)
			fmt.Fprintf(logBuf, "%v; building again\n", err)
			w.step("Podman failed this build on a race of its own (%v), not on the build itself; building again", err)
		})
	}
	status, msg := store.BuildStatus("succeeded"), ""
	if err != nil {
		status, msg = "failed", err.Error()
		switch {
		case errors.Is(bctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
			msg = fmt.Sprintf("build timed out after %s", d.opts.BuildTimeout)
			err = errors.New(msg)
		case bctx.Err() != nil:
			status, msg = "canceled", "canceled"
			err = errors.New("build canceled")
		default:
			// The buildpacks know package managers' failures that the
			// build's output buries (a lockfile's integrity mismatch).
			if why := buildpacks.ExplainBuildFailure(logBuf.Bytes(), src.FS()); why != "" {
				msg, err = why, errors.New(why)
			}
		}
	}
	// Record the outcome even when the pusher went away.
	if ferr := d.store.FinishBuild(context.WithoutCancel(ctx), b.ID, status, id, msg, logBuf.Bytes()); ferr != nil {
		d.log.Error("record build result", "build", b.ID, "err", ferr)
	}
	d.obs.BuildFinished(p.App, string(status), time.Since(start))
	ph.mark("build record")
	if err != nil {
		return builtImage{}, fmt.Errorf("build failed: %w", err)
	}
	w.step("Build succeeded in %s", seconds(time.Since(start)))
	// Releases name the image by ID: tags can be reused, IDs cannot.
	return builtImage{ref: id, buildID: b.ID}, nil
}

// buildAgainIfRaced runs build, and runs it once more when it failed on a
// race inside Podman (podman.BuildRaced) while ctx was still live: the
// push did nothing wrong, and the second build starts from the layers the
// first committed. A cancelled or timed-out build is not run again.
func buildAgainIfRaced(ctx context.Context, build func() (string, error), again func(error)) (string, error) {
	id, err := build()
	if !podman.BuildRaced(err) || ctx.Err() != nil {
		return id, err
	}
	again(err)
	return build()
}

// podmanBuild runs spec with podman build, the build context the pushed
// tree with extra, its output shown to the pusher and kept in logBuf.
func (d *Daemon) podmanBuild(ctx context.Context, src *gitsrc.Source, plan *buildpacks.Plan, in buildInputs, spec podman.BuildSpec, extra map[string][]byte, logBuf io.Writer, w *progress, start time.Time) (string, error) {
	ph := phasesOf(ctx)
	shown := newBuildOutput(w, d.buildFile(plan, in, src), plan.Generated != nil, len(spec.Labels))
	outs := []io.Writer{shown, logBuf}
	clock := newStepClock(ph)
	if clock != nil {
		outs = append(outs, clock)
	}
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pw.CloseWithError(src.WriteTar(ctx, pw, extra))
		ph.setExport(time.Since(start))
	}()
	spec.Context = pr
	spec.Out = io.MultiWriter(outs...)
	id, err := d.rt.Build(ctx, spec)
	if clock != nil {
		clock.end()
	}
	shown.flush()
	pr.CloseWithError(errors.New("build finished"))
	wg.Wait()
	return id, err
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// progress writes Heroku-style progress lines to the pusher.
type progress struct {
	w     io.Writer
	start time.Time // of the push, for the time it took; zero: untimed
}

// took is how long the push has run, 0 when untimed.
func (p *progress) took() time.Duration {
	if p.start.IsZero() {
		return 0
	}
	return time.Since(p.start)
}

func (p *progress) Write(b []byte) (int, error) { return p.w.Write(b) }

func (p *progress) step(format string, args ...any) {
	fmt.Fprintf(p.w, "-----> "+format+"\n", args...)
}

func (p *progress) done(format string, args ...any) {
	fmt.Fprintf(p.w, "=====> "+format+"\n", args...)
}

// indent returns a writer that indents every line, for build output.
func (p *progress) indent() io.Writer { return &indenter{w: p.w, bol: true} }

type indenter struct {
	w   io.Writer
	bol bool
}

func (in *indenter) Write(b []byte) (int, error) {
	var buf bytes.Buffer
	for _, c := range b {
		if in.bol {
			buf.WriteString("       ")
			in.bol = false
		}
		buf.WriteByte(c)
		if c == '\n' {
			in.bol = true
		}
	}
	if _, err := in.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

func indentLines(s string) string {
	return "       " + strings.ReplaceAll(s, "\n", "\n       ")
}
