package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// startServices brings every service up in the background (making the
// containers a lost or restored node lacks, and rejoining the networks of
// linked apps), then restarts those that crash, with the apps' backoff,
// and takes their scheduled dumps, until Close.
func (d *Daemon) startServices() {
	rt, err := d.svcRT()
	if err != nil {
		return // a runtime without services (tests): nothing runs
	}
	d.bg.Add(2)
	go func() {
		defer d.bg.Done()
		if err := d.reconcileServices(d.bgctx, rt); err != nil && d.bgctx.Err() == nil {
			d.log.Error("reconcile services", "err", err)
		}
		d.superviseServices(d.bgctx)
	}()
	go func() {
		defer d.bg.Done()
		d.runBackupSchedules(d.bgctx)
	}()
}

// reconcileServices makes service containers match the store: each
// service runs, answers and is on its linked apps' networks; containers of
// services the store does not know are removed (their volumes stay: the
// store may be an older copy).
func (d *Daemon) reconcileServices(ctx context.Context, rt serviceRuntime) error {
	svcs, err := d.store.ListServices(ctx)
	if err != nil {
		return err
	}
	all, err := d.rt.List(ctx, map[string]string{labelInstance: d.opts.Instance, labelRole: roleService})
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, s := range svcs {
		known[s.Name] = true
	}
	for _, c := range all {
		if !known[c.Labels[labelService]] {
			d.log.Info("removing the container of an unknown service", "container", c.Name)
			d.sup.forget(c.ID)
			if err := d.rt.Remove(ctx, c.ID); err != nil {
				d.log.Warn("remove service container", "container", c.Name, "err", err)
			}
		}
	}
	// Leftover connect containers (a daemon killed mid-session).
	if olds, err := d.rt.List(ctx, map[string]string{labelInstance: d.opts.Instance, labelRole: roleServiceOneOff}); err == nil {
		for _, c := range olds {
			_ = d.rt.Remove(ctx, c.ID)
		}
	}
	for _, svc := range svcs {
		id, err := d.ensureService(ctx, rt, svc)
		if err == nil {
			err = d.waitService(ctx, rt, svc, id)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.log.Error("service not running after reconcile", "service", svc.Name, "err", err)
		}
	}
	return nil
}

// ensureService starts the service's container, making it (with network
// and volume) when missing, and joins it to its linked apps' networks. It
// returns the container's ID.
func (d *Daemon) ensureService(ctx context.Context, rt serviceRuntime, svc store.Service) (string, error) {
	c, ok, err := d.serviceContainer(ctx, svc.Name)
	if err != nil {
		return "", err
	}
	if ok && (c.Labels[labelExpose] != svc.Expose || c.Labels[labelData] != svc.Volume) {
		// Made before the store changed (a daemon killed mid-expose or
		// mid-upgrade, a restored node): made again as the store says.
		d.log.Info("making a service's container again", "service", svc.Name, "expose", svc.Expose)
		if c.Running {
			d.sup.expectStop(c.ID)
			if err := d.rt.Stop(ctx, c.ID, serviceStopGrace); err != nil {
				return "", fmt.Errorf("stop service %s's old container: %w", svc.Name, err)
			}
		}
		d.sup.forget(c.ID)
		if err := d.rt.Remove(ctx, c.ID); err != nil {
			return "", fmt.Errorf("remove service %s's old container: %w", svc.Name, err)
		}
		ok = false
	}
	switch {
	case !ok:
		password, err := d.servicePassword(svc)
		if err != nil {
			return "", err
		}
		d.log.Info("starting service", "service", svc.Name)
		if c, err = d.startServiceContainer(ctx, rt, svc, password); err != nil {
			return "", err
		}
	case !c.Running:
		if c, err = d.rt.Start(ctx, c.ID); err != nil {
			return "", fmt.Errorf("start service %s: %w", svc.Name, err)
		}
	}
	links, err := d.store.ServiceLinks(ctx, svc.Name)
	if err != nil {
		return c.ID, err
	}
	for _, l := range links {
		network, err := d.ensureAppNetwork(ctx, l.App)
		if err == nil {
			err = rt.ConnectNetwork(ctx, network, c.ID, []string{svc.Name})
		}
		if err != nil {
			return c.ID, fmt.Errorf("rejoin %s's network: %w", l.App, err)
		}
	}
	return c.ID, nil
}

// superviseServices restarts crashed service containers until ctx ends.
func (d *Daemon) superviseServices(ctx context.Context) {
	backoff := time.Second
	labels := map[string]string{labelInstance: d.opts.Instance, labelRole: roleService}
	for ctx.Err() == nil {
		err := d.rt.WatchDeaths(ctx, labels, func(death podman.Death) { d.onServiceDeath(ctx, death) })
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("service events interrupted; reconnecting", "err", err, "in", backoff)
		if sleepCtx(ctx, backoff) != nil {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (d *Daemon) onServiceDeath(ctx context.Context, death podman.Death) {
	name := death.Labels[labelService]
	// Podman ORs the stream's label filters: other installs' services
	// (another instance on the same Podman) die here too.
	if name == "" || death.Labels[labelRole] != roleService || death.Labels[labelInstance] != d.opts.Instance {
		return
	}
	if _, err := d.store.GetService(ctx, name); err != nil {
		return // destroyed
	}
	if d.runningAgain(ctx, death.ID) {
		return
	}
	delay, n, ok := d.sup.crashed(death.ID, death.ExitCode, time.Now())
	if !ok {
		return
	}
	d.log.Warn("service crashed", "service", name, "exit", death.ExitCode, "restart_in", delay)
	if _, err := d.store.AddEvent(ctx, store.Event{Type: store.EventServiceCrashed,
		Message: fmt.Sprintf("service %s exited with status %d; restart #%d in %s", name, death.ExitCode, n, delay),
		Data:    map[string]any{"service": name, "exit_code": death.ExitCode, "restarts": n}}); err != nil {
		d.log.Error("record service crash", "err", err)
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		if sleepCtx(ctx, delay) != nil || d.sup.isExpected(death.ID) {
			return
		}
		if _, err := d.rt.Start(ctx, death.ID); err != nil {
			d.log.Error("restart crashed service", "service", name, "err", err)
			d.sup.restartFailed(death.ID)
			return
		}
		d.sup.restarted(death.ID, time.Now())
	}()
}

// unexpect ends a deliberate stop of a container that runs on (a
// restarted service): crashes count again.
func (s *supervisor) unexpect(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expected, id)
}

// leaveAppNetwork takes every service off the network of app, which is
// being destroyed (or renamed: the old name's remains go the same way):
// Podman refuses to remove a network a container is on. Services then
// join the networks of the apps linked to them, the renamed app's new one
// among them.
func (d *Daemon) leaveAppNetwork(ctx context.Context, app string) {
	rt, err := d.svcRT()
	if err != nil {
		return
	}
	cs, err := d.rt.List(ctx, map[string]string{labelInstance: d.opts.Instance, labelRole: roleService})
	if err != nil {
		d.log.Warn("list services", "err", err)
		return
	}
	network := d.appNetwork(app)
	for _, c := range cs {
		if err := rt.DisconnectNetwork(ctx, network, c.ID); err != nil {
			d.log.Warn("take service off a destroyed app's network", "service", c.Labels[labelService], "app", app, "err", err)
		}
	}
	// A renamed app's links now name the new app: join its network.
	links, err := d.store.ServiceLinks(ctx, "")
	if err != nil {
		d.log.Warn("list service links", "err", err)
		return
	}
	for _, l := range links {
		for _, c := range cs {
			if c.Labels[labelService] != l.Service {
				continue
			}
			network, err := d.ensureAppNetwork(ctx, l.App)
			if err == nil {
				err = rt.ConnectNetwork(ctx, network, c.ID, []string{l.Service})
			}
			if err != nil {
				d.log.Warn("join a linked app's network", "service", l.Service, "app", l.App, "err", err)
			}
		}
	}
}
