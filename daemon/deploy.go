package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

var _ gitreceive.Backend = (*Daemon)(nil)

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
	_, err := d.store.CreateApp(ctx, app)
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	if err == nil {
		d.log.Info("app created", "app", app, "by", by.Name)
	}
	return err
}

// Deploy implements gitreceive.Backend: build the pushed commit, start it,
// wait until it answers, route to it, retire the previous release. Progress
// streams to out. A failure at any step leaves the serving release serving.
func (d *Daemon) Deploy(ctx context.Context, p gitreceive.Push, out io.Writer) error {
	w := &progress{w: out}
	lock := d.appLock(p.App)
	if !lock.TryLock() {
		w.step("Another deploy of %s is in progress; waiting for it to finish", p.App)
		if err := lockCtx(ctx, lock); err != nil {
			return err
		}
	}
	defer lock.Unlock()

	if p.OldSHA == p.NewSHA {
		if cur, err := d.store.CurrentRelease(ctx, p.App); err == nil && cur.CommitSHA == p.NewSHA {
			w.step("Everything up-to-date: v%d (%s) is serving", cur.Version, short(p.NewSHA))
			w.done("%s", d.AppURL(p.App))
			return nil
		}
	}

	src, err := openSource(p.RepoDir, p.NewSHA)
	if err != nil {
		return err
	}
	cf, ok := src.containerfile()
	if !ok {
		return fmt.Errorf("no Containerfile or Dockerfile at the root of %s; add one to tell xcloud how to build the app", short(p.NewSHA))
	}

	image, err := d.build(ctx, p, src, cf, w)
	if err != nil {
		return err
	}
	rel, err := d.store.CreateRelease(ctx, store.Release{
		App: p.App, Image: image.ref, BuildID: image.buildID, CommitSHA: p.NewSHA,
		Description: "deploy " + short(p.NewSHA),
	})
	if err != nil {
		return fmt.Errorf("record release: %w", err)
	}
	if err := d.release(ctx, rel, w); err != nil {
		if ferr := d.store.FailRelease(context.WithoutCancel(ctx), p.App, rel.Version, err.Error()); ferr != nil {
			d.log.Error("record failed release", "app", p.App, "release", rel.Version, "err", ferr)
		}
		return err
	}
	w.done("%s deployed: %s", p.App, d.AppURL(p.App))
	return nil
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
func (d *Daemon) build(ctx context.Context, p gitreceive.Push, src *source, containerfile string, w *progress) (builtImage, error) {
	select {
	case d.builds <- struct{}{}:
	default:
		d.mu.Lock()
		d.waiting++
		pos := d.waiting
		d.mu.Unlock()
		w.step("Waiting for a build slot (%d running, you are number %d in the queue)", cap(d.builds), pos)
		select {
		case d.builds <- struct{}{}:
			d.mu.Lock()
			d.waiting--
			d.mu.Unlock()
		case <-ctx.Done():
			d.mu.Lock()
			d.waiting--
			d.mu.Unlock()
			return builtImage{}, ctx.Err()
		}
	}
	defer func() { <-d.builds }()

	b, err := d.store.CreateBuild(ctx, p.App, p.Ref, p.NewSHA)
	if err != nil {
		return builtImage{}, fmt.Errorf("record build: %w", err)
	}
	ref := fmt.Sprintf("localhost/xcloud/%s:b%d", p.App, b.ID)
	w.step("Building %s (%s) from %s", p.App, short(p.NewSHA), containerfile)
	start := time.Now()

	bctx, cancel := context.WithTimeout(ctx, d.opts.BuildTimeout)
	defer cancel()
	logBuf := &capped{max: maxBuildLog}
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pw.CloseWithError(src.writeTar(bctx, pw))
	}()
	id, err := d.rt.Build(bctx, podman.BuildSpec{
		Context:       pr,
		Containerfile: containerfile,
		Tag:           ref,
		Labels:        d.labels(map[string]string{labelApp: p.App, "xcloud.commit": p.NewSHA}),
		Out:           io.MultiWriter(w.indent(), logBuf),
	})
	pr.CloseWithError(errors.New("build finished"))
	wg.Wait()
	status, msg := store.BuildStatus("succeeded"), ""
	if err != nil {
		status, msg = "failed", err.Error()
		if errors.Is(bctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			msg = fmt.Sprintf("build timed out after %s", d.opts.BuildTimeout)
			err = errors.New(msg)
		} else if ctx.Err() != nil {
			status, msg = "canceled", "canceled"
		}
	}
	// Record the outcome even when the pusher went away.
	if ferr := d.store.FinishBuild(context.WithoutCancel(ctx), b.ID, status, id, msg, logBuf.Bytes()); ferr != nil {
		d.log.Error("record build result", "build", b.ID, "err", ferr)
	}
	if err != nil {
		return builtImage{}, fmt.Errorf("build failed: %w", err)
	}
	w.step("Build succeeded in %s", time.Since(start).Round(100*time.Millisecond))
	// Releases name the image by ID: tags can be reused, IDs cannot.
	return builtImage{ref: id, buildID: b.ID}, nil
}

// release starts the release's web container, waits for it, switches the
// route and retires the previous containers.
func (d *Daemon) release(ctx context.Context, rel store.Release, w *progress) error {
	w.step("Releasing v%d", rel.Version)
	c, err := d.startWeb(ctx, rel, w)
	if err != nil {
		return err
	}
	// From here on the new container must not leak if anything fails.
	cleanup := func() {
		_ = d.rt.Remove(context.WithoutCancel(ctx), c.ID)
	}
	d.mu.Lock()
	prev := d.upstreams[rel.App]
	d.mu.Unlock()
	d.setUpstreams(rel.App, []string{upstream(c.HostPort)})
	if err := d.applyRoutes(ctx); err != nil {
		d.setUpstreams(rel.App, prev)
		cleanup()
		return err
	}
	if err := d.store.ActivateRelease(context.WithoutCancel(ctx), rel.App, rel.Version); err != nil {
		d.setUpstreams(rel.App, prev)
		if rerr := d.applyRoutes(context.WithoutCancel(ctx)); rerr != nil {
			d.log.Error("restore routes", "app", rel.App, "err", rerr)
		}
		cleanup()
		return fmt.Errorf("activate release: %w", err)
	}
	w.step("Routing %s to v%d", d.appHost(rel.App), rel.Version)
	d.retire(context.WithoutCancel(ctx), rel, w)
	return nil
}

// startWeb starts one web container for rel and waits until it answers HTTP.
func (d *Daemon) startWeb(ctx context.Context, rel store.Release, w io.Writer) (podman.Container, error) {
	name := fmt.Sprintf("xcloud-%s-web-v%d-%d", rel.App, rel.Version, time.Now().UnixNano()%1e6)
	c, err := d.rt.Run(ctx, podman.ContainerSpec{
		Name:  name,
		Image: rel.Image,
		Env:   map[string]string{"PORT": strconv.Itoa(webPort)},
		Labels: d.labels(map[string]string{
			labelApp: rel.App, labelRelease: strconv.Itoa(rel.Version), labelProcess: "web",
		}),
		Port:      webPort,
		StopGrace: d.opts.StopGrace,
	})
	if err != nil {
		return podman.Container{}, err
	}
	fmt.Fprintf(w, "-----> Waiting for web to answer on $PORT (%d)\n", webPort)
	if err := d.waitReady(ctx, c); err != nil {
		logs, _ := d.rt.Logs(context.WithoutCancel(ctx), c.ID, 20)
		_ = d.rt.Remove(context.WithoutCancel(ctx), c.ID)
		if logs = strings.TrimSpace(logs); logs != "" {
			fmt.Fprintf(w, "       last output of the web process:\n%s\n", indentLines(logs))
		}
		return podman.Container{}, err
	}
	return c, nil
}

// waitReady polls the container's published port until any HTTP response
// comes back, failing early when the container exits.
func (d *Daemon) waitReady(ctx context.Context, c podman.Container) error {
	if c.HostPort == 0 {
		return fmt.Errorf("container %s has no published port", c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + upstream(c.HostPort) + "/"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil
		}
		if i%10 == 9 {
			if st, err := d.rt.Inspect(ctx, c.ID); err == nil && !st.Running {
				return fmt.Errorf("web process exited with status %d before answering on $PORT", st.ExitCode)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("web process did not answer HTTP on $PORT (%d) within %s", webPort, d.opts.ReadyTimeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// retire stops and removes the app's containers from other releases.
func (d *Daemon) retire(ctx context.Context, rel store.Release, w *progress) {
	cs, err := d.rt.List(ctx, d.labels(map[string]string{labelApp: rel.App}))
	if err != nil {
		d.log.Error("list containers to retire", "app", rel.App, "err", err)
		return
	}
	for _, c := range cs {
		if c.Labels[labelRelease] == strconv.Itoa(rel.Version) {
			continue
		}
		w.step("Stopping v%s (%s)", c.Labels[labelRelease], c.Name)
		if err := d.rt.Stop(ctx, c.ID, d.opts.StopGrace); err != nil {
			d.log.Error("stop old container", "container", c.Name, "err", err)
		}
		if err := d.rt.Remove(ctx, c.ID); err != nil {
			d.log.Error("remove old container", "container", c.Name, "err", err)
		}
	}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// progress writes Heroku-style progress lines to the pusher.
type progress struct{ w io.Writer }

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

// capped keeps the first max bytes written and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(b []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		if len(b) > room {
			c.buf.Write(b[:room])
		} else {
			c.buf.Write(b)
		}
	}
	return len(b), nil
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }
