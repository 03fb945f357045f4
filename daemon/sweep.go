package daemon

import (
	"context"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// sweepEvery is how often the supervisor looks for dead containers itself
// besides hearing of them from Podman's event stream, which can lag (28 s
// seen on a busy machine) and loses what happens while it reconnects.
const sweepEvery = 10 * time.Second

// sweepDeaths hands every exited container of this instance to the same
// handlers as a death event, until ctx ends. The handlers tell apart what
// the daemon stopped itself and what is already being restarted.
func (d *Daemon) sweepDeaths(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.sweepOnce(ctx)
	}
}

func (d *Daemon) sweepOnce(ctx context.Context) {
	cs, err := d.rt.ListExited(ctx, map[string]string{labelInstance: d.opts.Instance})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("look for dead containers", "err", err)
		}
		return
	}
	for _, c := range cs {
		if c.Running || (c.State != "exited" && c.State != "stopped") {
			continue // running, or created and never started
		}
		death := podman.Death{ID: c.ID, Name: c.Name, ExitCode: c.ExitCode, Labels: c.Labels}
		if c.Labels[labelRole] == roleService {
			d.onServiceDeath(ctx, death)
		} else {
			d.onDeath(ctx, death)
		}
	}
}

// runningAgain reports whether the container of a death event runs again:
// the event came late, after a sweep had already restarted it.
func (d *Daemon) runningAgain(ctx context.Context, id string) bool {
	c, err := d.rt.Inspect(ctx, id)
	return err == nil && c.Running
}
