package daemon

import (
	"context"
)

// addressRuntime finds a container's address on a network; *podman.Client
// has it.
type addressRuntime interface {
	NetworkAddress(ctx context.Context, container, network string) (string, error)
}

// serviceHosts are the /etc/hosts entries ("name:address") of the
// services linked to app, at their fixed addresses on its network (see
// podman.ConnectNetwork): an app reaches its database by name even while
// aardvark-dns, which stops answering for a while after any container on
// the network starts or stops, does not. A service not found (stopped,
// being re-created) is left to DNS.
func (d *Daemon) serviceHosts(ctx context.Context, app string) []string {
	links, err := d.store.ServiceLinks(ctx, "")
	if err != nil {
		d.log.Warn("list service links", "app", app, "err", err)
		return nil
	}
	var hosts []string
	for _, l := range links {
		if l.App != app {
			continue
		}
		if c, ok, err := d.serviceContainer(ctx, l.Service); err == nil && ok {
			hosts = append(hosts, d.hostEntry(ctx, l.Service, c.ID, d.appNetwork(app))...)
		}
	}
	return hosts
}

// hostEntry is the /etc/hosts entry giving the container's address on
// network to name; none when it is not found.
func (d *Daemon) hostEntry(ctx context.Context, name, container, network string) []string {
	rt, ok := d.rt.(addressRuntime)
	if !ok {
		return nil
	}
	ip, err := rt.NetworkAddress(ctx, container, network)
	if err != nil || ip == "" {
		return nil
	}
	return []string{name + ":" + ip}
}
