package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// A service is reached from its linked apps' networks only, unless an
// admin publishes its port on the host (services:expose). The address is
// kept in the store and on the container as labelExpose; Podman publishes
// ports only when it creates a container, so a change makes the container
// again (its data stays on the volume).

// exposeDefaultIP is where services:expose NAME PORT publishes: this
// host only.
const exposeDefaultIP = "127.0.0.1"

// parseExpose reads services:expose's [IP:]PORT into "IP:PORT", or an
// error that names what is wrong with it.
func parseExpose(arg string) (string, error) {
	host, port := exposeDefaultIP, arg
	if i := strings.LastIndexByte(arg, ':'); i >= 0 {
		host, port = strings.Trim(arg[:i], "[]"), arg[i+1:]
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", badService("%q is not [IP:]PORT, like 5433 or 127.0.0.1:5433", arg)
	}
	if n < 1 || n > 65535 {
		return "", badService("port %d is out of range: want 1 to 65535", n)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return "", badService("%q is not an IP address: want [IP:]PORT, like 5433 or 127.0.0.1:5433", host)
	}
	return netip.AddrPortFrom(ip, uint16(n)).String(), nil
}

// servicePublish is what the container of svc publishes on the host.
func (d *Daemon) servicePublish(svc store.Service) ([]podman.HostPort, error) {
	if svc.Expose == "" {
		return nil, nil
	}
	ap, err := netip.ParseAddrPort(svc.Expose)
	if err != nil {
		return nil, fmt.Errorf("service %s: stored address %q: %w", svc.Name, svc.Expose, err)
	}
	return []podman.HostPort{{HostIP: ap.Addr().String(), HostPort: int(ap.Port()), ContainerPort: servicePort(svc.Type)}}, nil
}

// portFree reports, as an error for people, why addr cannot be published
// on: taken, or an address this host does not have.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		why := err.Error()
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			why = oe.Err.Error()
		}
		return badService("%s cannot be published on: %s", addr, why)
	}
	return l.Close()
}

// ExposeService publishes the service's port on the host address arg
// ([IP:]PORT, IP 127.0.0.1 when not given), or with arg "off" stops
// publishing it. The container is made again (a few seconds without the
// service); if the new one does not come up, the old setting is put back.
func (d *Daemon) ExposeService(ctx context.Context, name, arg string, out io.Writer) (ServiceInfo, error) {
	addr := ""
	if arg != "off" {
		var err error
		if addr, err = parseExpose(arg); err != nil {
			return ServiceInfo{}, err
		}
	}
	svc, err := d.service(ctx, name)
	if err != nil {
		return ServiceInfo{}, err
	}
	rt, err := d.svcRT()
	if err != nil {
		return ServiceInfo{}, err
	}
	w := &progress{w: out}
	if svc.Expose == addr {
		if addr == "" {
			w.done("%s is not published on the host; linked apps reach it", name)
		} else {
			w.done("%s is already published on %s", name, addr)
		}
		return d.ServiceInfo(ctx, name)
	}
	if addr != "" {
		if err := portFree(addr); err != nil {
			return ServiceInfo{}, err
		}
	}
	next := svc
	next.Expose = addr
	if addr == "" {
		w.step("Making %s's container again without the published port", name)
	} else {
		w.step("Making %s's container again with port %d published on %s", name, servicePort(svc.Type), addr)
	}
	if err := d.remakeService(ctx, rt, next); err != nil {
		d.log.Warn("expose service; putting the old container back", "service", name, "err", err)
		if rerr := d.remakeService(context.WithoutCancel(ctx), rt, svc); rerr != nil {
			d.log.Error("put back service container", "service", name, "err", rerr)
		}
		return ServiceInfo{}, &Error{Msg: fmt.Sprintf("publishing %s on %s failed, nothing changed: %v", name, addr, err), Err: store.ErrConflict}
	}
	if err := d.store.SetServiceExpose(ctx, name, addr); err != nil {
		return ServiceInfo{}, err
	}
	if addr == "" {
		w.done("%s is no longer published on the host; only its linked apps reach it", name)
		return d.ServiceInfo(ctx, name)
	}
	password, err := d.servicePassword(svc)
	if err != nil {
		return ServiceInfo{}, err
	}
	url := serviceURL(svc, password)
	url = strings.Replace(url, "@"+svc.Name+":"+strconv.Itoa(servicePort(svc.Type)), "@"+addr, 1)
	w.done("%s's port %d is published on %s. From this host: %s", name, servicePort(svc.Type), addr, url)
	if ap, _ := netip.ParseAddrPort(addr); !ap.Addr().IsLoopback() {
		fmt.Fprintf(out, "Note: %s is reachable from other machines too, guarded by its password only; a firewall should keep others out\n", addr)
	}
	fmt.Fprintf(out, "services:expose %s off stops publishing it\n", name)
	return d.ServiceInfo(ctx, name)
}

// remakeService replaces the service's container with one made from svc
// and waits until it answers; linked apps' networks are joined again.
func (d *Daemon) remakeService(ctx context.Context, rt serviceRuntime, svc store.Service) error {
	if c, ok, err := d.serviceContainer(ctx, svc.Name); err != nil {
		return err
	} else if ok {
		d.sup.expectStop(c.ID)
		defer d.sup.unexpect(c.ID)
		if err := d.rt.Stop(ctx, c.ID, serviceStopGrace); err != nil {
			return err
		}
		d.sup.forget(c.ID)
		if err := d.rt.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	id, err := d.ensureService(ctx, rt, svc)
	if err == nil {
		err = d.waitService(ctx, rt, svc, id)
	}
	if err != nil && id != "" {
		// A container that did not come up goes: the caller makes the
		// one it wants.
		d.sup.forget(id)
		if rerr := d.rt.Remove(context.WithoutCancel(ctx), id); rerr != nil {
			d.log.Warn("remove service container", "service", svc.Name, "err", rerr)
		}
	}
	return err
}
