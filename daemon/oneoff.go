package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// oneOffSpec describes a one-off container of rel (release command, cron
// run, `run`): the release's image, config, limits and network, labelled so
// the supervisor leaves it alone and reconcile removes it after a crash.
func (d *Daemon) oneOffSpec(ctx context.Context, rel store.Release, typ string, command []string, labels map[string]string) (podman.ContainerSpec, error) {
	lim, err := d.appLimits(ctx, rel.App)
	if err != nil {
		return podman.ContainerSpec{}, err
	}
	env, err := d.processEnv(rel, typ, nil)
	if err != nil {
		return podman.ContainerSpec{}, err
	}
	network, err := d.ensureAppNetwork(ctx, rel.App)
	if err != nil {
		return podman.ContainerSpec{}, err
	}
	l := map[string]string{labelApp: rel.App, labelRelease: strconv.Itoa(rel.Version), labelProcess: typ, labelOneOff: "true"}
	for k, v := range labels {
		l[k] = v
	}
	return podman.ContainerSpec{
		MemoryBytes: lim.MemoryBytes, CPUs: lim.CPUs, Pids: lim.Pids,
		Name:      fmt.Sprintf("xcloud-%s-%s-v%d-%s", rel.App, typ, rel.Version, randomSuffix()),
		Image:     rel.Image,
		Command:   command,
		Env:       env,
		Labels:    d.labels(l),
		StopGrace: d.opts.StopGrace,
		Network:   network,
	}, nil
}

// runnableRelease returns the app's current release when it has an image
// to run commands in.
func (d *Daemon) runnableRelease(ctx context.Context, app string) (store.Release, releaseSpec, error) {
	rel, err := d.store.CurrentRelease(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return store.Release{}, releaseSpec{}, ErrNoRelease
	}
	if err != nil {
		return store.Release{}, releaseSpec{}, err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return store.Release{}, releaseSpec{}, err
	}
	if spec.Static != "" {
		return store.Release{}, releaseSpec{}, fmt.Errorf("%s: %w", app, ErrStaticSite)
	}
	return rel, spec, nil
}

// exitStatus makes a command end with the given exit status and no message:
// `run` and `cron:run` pass the container's own status on.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// cmdRun runs a command in a one-off container of the current release,
// wired to the SSH session (a terminal when the client asked for one), and
// ends with the command's exit status. The container is removed afterwards.
func (d *Daemon) cmdRun(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want a command to run"}
	}
	app, argv := c.args[0], c.args[1:]
	rel, _, err := d.runnableRelease(ctx, app)
	if err != nil {
		return err
	}
	command := argv
	if len(argv) == 1 {
		// One word or a quoted line: let the shell handle pipes and $VARS,
		// as Heroku's run does.
		command = shellCommand(argv[0])
	}
	cs, err := d.oneOffSpec(ctx, rel, "run", command, nil)
	if err != nil {
		return err
	}
	stdio := podman.Stdio{In: c.in, Out: c.out, Err: c.err, TTY: c.stdio.PTY, StopTimeout: d.opts.StopGrace}
	resized := make(chan struct{})
	if c.stdio.PTY {
		cs.Env["TERM"] = cmp.Or(c.stdio.Term, "xterm")
		stdio.Size = podman.TermSize{Cols: c.stdio.Size.Cols, Rows: c.stdio.Size.Rows}
		sizes := make(chan podman.TermSize)
		stdio.Resize = sizes
		rctx, cancel := context.WithCancel(ctx)
		go func() {
			defer close(resized)
			for {
				select {
				case <-rctx.Done():
					return
				case w := <-c.stdio.Resize:
					select {
					case sizes <- podman.TermSize{Cols: w.Cols, Rows: w.Rows}:
					case <-rctx.Done():
						return
					}
				}
			}
		}()
		defer func() { cancel(); <-resized }()
	}
	d.log.Info("run", "app", app, "release", rel.Version, "key", c.id.Name, "command", strings.Join(argv, " "), "tty", c.stdio.PTY)
	// The app's own log says who ran what, as Heroku's does.
	d.logs.write(app, logLine{Time: time.Now(), Process: "run", Name: c.id.Name,
		Text: fmt.Sprintf("key %s ran: %s (v%d)", c.id.Name, strings.Join(argv, " "), rel.Version)})
	code, err := d.rt.RunAttached(ctx, cs, stdio)
	if err != nil {
		return fmt.Errorf("run in %s v%d: %w", app, rel.Version, err)
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}
