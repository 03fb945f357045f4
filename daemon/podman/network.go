package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/network"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	nettypes "go.podman.io/common/libnetwork/types"
)

// EnsureNetwork creates an isolated bridge network named name, carrying
// labels, unless one by that name exists already.
//
// isolate=true makes the backend (netavark) drop traffic between this
// network and every other one, so containers on different networks cannot
// reach each other even by IP; names resolve within the network.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	cctx := c.ctx(ctx)
	ok, err := network.Exists(cctx, name, nil)
	if err != nil {
		return fmt.Errorf("check network %s: %w", name, err)
	}
	if !ok {
		_, err = network.Create(cctx, networkSpec(name, labels))
		if err != nil && !isStatus(err, http.StatusConflict) {
			// 409: created meanwhile by a concurrent start of the same app.
			return fmt.Errorf("create network %s: %w", name, err)
		}
	}
	if c.guard.Image != "" {
		if err := c.guardNetwork(ctx, name); err != nil {
			c.log.Warn("network not guarded: its isolation may lapse", "network", name, "err", err)
		}
	}
	return nil
}

// networkSpec is the network EnsureNetwork asks Podman for.
func networkSpec(name string, labels map[string]string) *nettypes.Network {
	return &nettypes.Network{
		Name:       name,
		Driver:     "bridge",
		DNSEnabled: true,
		Labels:     labels,
		Options:    map[string]string{"isolate": "true"},
	}
}

// RemoveNetwork removes a network. A missing network is not an error; a
// network some container still uses is, and stays: Podman would otherwise
// remove the container with it.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	if c.guard.Image != "" {
		err := network.Disconnect(c.ctx(ctx), name, c.guard.Name, new(network.DisconnectOptions).WithForce(true))
		switch {
		case err == nil:
			// The guard was the network's last container: netavark has
			// just dropped the isolation jump every network relies on.
			defer c.rearmIsolation(ctx)
		case isStatus(err, http.StatusNotFound) || notConnected(err):
		default:
			return fmt.Errorf("take the guard off network %s: %w", name, err)
		}
	}
	_, err := network.Remove(c.ctx(ctx), name, nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// NetworkGuard is a container that idles on every network EnsureNetwork
// makes, and on a home network of its own (named like the container).
//
// netavark's iptables driver (Debian 12's 1.4, for one) isolates networks
// through one jump from the FORWARD chain that every isolated network
// shares, and deletes that jump whenever any isolated network loses its
// last container (an app scaled to zero, a one-off run ending, a single
// web container crashing); from then until the next container starts on
// an isolated network, apps reach each other. With the guard on them, app
// networks never lose their last container; removing one does, so
// RemoveNetwork re-adds the jump right after (rearmIsolation).
type NetworkGuard struct {
	Name   string
	Image  string // must have sleep(1); the stack's base image does
	Labels map[string]string
}

// guardSpec is the guard container's spec.
func (c *Client) guardSpec() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator(c.guard.Image, false)
	s.Name = c.guard.Name
	s.Labels = c.guard.Labels
	s.Command = []string{"sleep", "infinity"}
	s.Rlimits = c.rlimits
	// Podman restarts it if it dies; after a reboot guardNetwork starts it.
	s.RestartPolicy = "always"
	s.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
	s.Networks = map[string]nettypes.PerNetworkOptions{c.guard.Name: {}}
	if !c.noLimits {
		s.ResourceLimits = resourceLimits(16<<20, 0, 8)
	}
	return s
}

// guardNetwork puts the guard on name, creating and starting it first
// when needed.
func (c *Client) guardNetwork(ctx context.Context, name string) error {
	cctx := c.ctx(ctx)
	data, err := containers.Inspect(cctx, c.guard.Name, nil)
	if isStatus(err, http.StatusNotFound) {
		home := networkSpec(c.guard.Name, c.guard.Labels)
		if _, err := network.Create(cctx, home); err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("create the guard's network: %w", err)
		}
		if _, err := containers.CreateWithSpec(cctx, c.guardSpec(), nil); err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("create the guard: %w", err)
		}
		data, err = containers.Inspect(cctx, c.guard.Name, nil)
	}
	if err != nil {
		return fmt.Errorf("inspect the guard: %w", err)
	}
	if data.State == nil || !data.State.Running {
		if err := containers.Start(cctx, c.guard.Name, nil); err != nil {
			return fmt.Errorf("start the guard: %w", err)
		}
	}
	if data.NetworkSettings != nil {
		if _, ok := data.NetworkSettings.Networks[name]; ok {
			return nil
		}
	}
	if err := network.Connect(cctx, name, c.guard.Name, nil); err != nil && !alreadyConnected(err) {
		return fmt.Errorf("connect the guard: %w", err)
	}
	return nil
}

// rearmIsolation makes netavark set up the guard's home network again,
// which puts back the isolation jump a complete teardown removed.
func (c *Client) rearmIsolation(ctx context.Context) {
	cctx := c.ctx(ctx)
	err := network.Disconnect(cctx, c.guard.Name, c.guard.Name, new(network.DisconnectOptions).WithForce(true))
	if err == nil || notConnected(err) {
		err = network.Connect(cctx, c.guard.Name, c.guard.Name, nil)
	}
	if err != nil {
		c.log.Warn("re-arm network isolation", "err", err)
	}
}

// Podman answers 500 to connecting a container that is connected already,
// or disconnecting one that is not; only the message tells.
func alreadyConnected(err error) bool { return strings.Contains(err.Error(), "already connected") }
func notConnected(err error) bool     { return strings.Contains(err.Error(), "is not connected") }

// isStatus reports whether err is the service's answer with HTTP status code.
func isStatus(err error, code int) bool {
	var em *errorhandling.ErrorModel
	return errors.As(err, &em) && em.Code() == code
}
