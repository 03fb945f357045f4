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
	mounts, err := d.containerMounts(ctx, rel.App)
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
		Mounts:    mounts,
		Hosts:     d.serviceHosts(ctx, rel.App),
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

// OneOffRequest runs a command in a one-off container of the app's current
// release with its config.
type OneOffRequest struct {
	App string
	// Argv is the command; one word or a quoted line runs through the
	// shell, so pipes and $VARS work, as Heroku's run does.
	Argv []string
	By   string // who runs it, for the app's log
	// Stdio is wired to the container; a TTY one gets TERM=Term (default
	// xterm). Its StopTimeout is the daemon's stop grace.
	Stdio podman.Stdio
	Term  string
}

// RunOneOff runs the command and returns its exit status. The container is
// removed afterwards. A static site matches ErrStaticSite.
func (d *Daemon) RunOneOff(ctx context.Context, req OneOffRequest) (int, error) {
	app, argv := req.App, req.Argv
	rel, _, err := d.runnableRelease(ctx, app)
	if err != nil {
		return 0, err
	}
	command := argv
	if len(argv) == 1 {
		command = shellCommand(argv[0])
	}
	cs, err := d.oneOffSpec(ctx, rel, "run", command, nil)
	if err != nil {
		return 0, err
	}
	stdio := req.Stdio
	stdio.StopTimeout = d.opts.StopGrace
	if stdio.TTY {
		cs.Env["TERM"] = cmp.Or(req.Term, "xterm")
	}
	d.log.Info("run", "app", app, "release", rel.Version, "key", req.By, "command", strings.Join(argv, " "), "tty", stdio.TTY)
	// The app's own log says who ran what, as Heroku's does.
	d.logs.write(app, logLine{Time: time.Now(), Process: "run", Name: req.By,
		Text: fmt.Sprintf("key %s ran: %s (v%d)", req.By, strings.Join(argv, " "), rel.Version)})
	code, err := d.rt.RunAttached(ctx, cs, stdio)
	if errors.Is(err, podman.ErrProgramNotFound) {
		return 0, &Error{Err: ErrProgramNotFound, Msg: fmt.Sprintf(
			"%s v%d has no program %q (not found on its $PATH); a shell command line goes as one quoted argument: %s \"run %s 'cd app && ls'\"",
			app, rel.Version, argv[0], d.SSHCommand(), app)}
	}
	if err != nil {
		return 0, fmt.Errorf("run in %s v%d: %w", app, rel.Version, err)
	}
	return code, nil
}
