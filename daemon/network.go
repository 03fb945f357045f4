package daemon

import (
	"context"
	"slices"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// Every app has a network of its own, created when its first container
// starts: its web, worker, release, cron and `run` containers join it and
// nothing else, so an app's code cannot reach another app's containers
// behind the proxy's back. The proxy reaches web containers through their
// loopback-published ports. Builds keep Podman's default network: they
// need the package mirrors and nothing of another app's.

// appNetwork is the name of app's network; the instance keeps daemons that
// share one Podman apart.
func (d *Daemon) appNetwork(app string) string {
	if d.opts.Instance == "" {
		return "xcloud-" + app
	}
	return "xcloud-" + d.opts.Instance + "-" + app
}

// ensureAppNetwork creates app's network unless it exists, and returns its
// name. It asks Podman every time rather than remembering: a `podman
// network prune` removes the network of an app scaled to zero.
func (d *Daemon) ensureAppNetwork(ctx context.Context, app string) (string, error) {
	name := d.appNetwork(app)
	if err := d.rt.EnsureNetwork(ctx, name, d.labels(map[string]string{labelApp: app})); err != nil {
		return "", err
	}
	return name, nil
}

// removeAppNetwork removes app's network; its containers must be gone.
func (d *Daemon) removeAppNetwork(ctx context.Context, app string) error {
	return d.rt.RemoveNetwork(ctx, d.appNetwork(app))
}

// offAppNetwork reports whether c runs on networks that are not its app's
// own, as containers started before apps had networks did: reconcile
// replaces them. No networks listed means not known.
func (d *Daemon) offAppNetwork(c podman.Container) bool {
	return len(c.Networks) > 0 && !slices.Equal(c.Networks, []string{d.appNetwork(c.Labels[labelApp])})
}

// NetworkGuard is the Podman client's guard of this instance's app
// networks (see podman.NetworkGuard), run from image. Its name has a dot,
// which app names cannot: no app network is ever called the same.
func NetworkGuard(instance, image string) podman.NetworkGuard {
	return podman.NetworkGuard{
		Name:   "xcloud-" + instance + ".guard",
		Image:  image,
		Labels: map[string]string{labelInstance: instance, "xcloud.role": "network-guard"},
	}
}
