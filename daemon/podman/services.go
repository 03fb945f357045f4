package podman

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/network"
	nettypes "go.podman.io/common/libnetwork/types"
)

// HostPort publishes a container's port on a host address.
type HostPort struct {
	HostIP        string
	HostPort      int
	ContainerPort int
}

// RunAliased is Run for a container that other containers on cs.Network
// reach by the host names aliases (a database service), with its ports
// published only as publish says; the container is created but started
// only when start is set.
func (c *Client) RunAliased(ctx context.Context, cs ContainerSpec, aliases []string, publish []HostPort, start bool) (Container, error) {
	s := c.specGen(cs)
	if cs.Network != "" {
		s.Networks = map[string]nettypes.PerNetworkOptions{cs.Network: {Aliases: aliases}}
	}
	s.PortMappings = nil
	for _, p := range publish {
		s.PortMappings = append(s.PortMappings, nettypes.PortMapping{HostIP: p.HostIP, HostPort: uint16(p.HostPort), ContainerPort: uint16(p.ContainerPort), Protocol: "tcp"})
	}
	cctx := c.ctx(ctx)
	created, err := containers.CreateWithSpec(cctx, s, nil)
	if err != nil {
		return Container{}, fmt.Errorf("create container %s: %w", cs.Name, err)
	}
	if start {
		if err := containers.Start(cctx, created.ID, nil); err != nil {
			_ = c.Remove(context.WithoutCancel(ctx), created.ID)
			return Container{}, fmt.Errorf("start container %s: %w", cs.Name, err)
		}
	}
	return c.Inspect(ctx, created.ID)
}

// ConnectNetwork joins a container to a network at a fixed address (see
// connectPinned), where the others reach it by aliases. Joining one it is
// on already is not an error.
func (c *Client) ConnectNetwork(ctx context.Context, name, container string, aliases []string) error {
	err := c.connectPinned(ctx, name, container, aliases)
	if err != nil && !alreadyConnected(err) {
		return fmt.Errorf("connect %s to network %s: %w", container, name, err)
	}
	return nil
}

// DisconnectNetwork takes a container off a network. A container or
// network that is gone, or a container not on it, is not an error.
func (c *Client) DisconnectNetwork(ctx context.Context, name, container string) error {
	err := network.Disconnect(c.ctx(ctx), name, container, new(network.DisconnectOptions).WithForce(true))
	if err != nil && !isStatus(err, http.StatusNotFound) && !notConnected(err) {
		return fmt.Errorf("disconnect %s from network %s: %w", container, name, err)
	}
	return nil
}

// Exec runs cmd in a running container without a terminal, with in (nil:
// none) as its input and its output copied to out and errw, and returns
// its exit code.
func (c *Client) Exec(ctx context.Context, container string, cmd []string, in io.Reader, out, errw io.Writer) (int, error) {
	cctx := c.ctx(ctx)
	cfg := new(handlers.ExecCreateConfig)
	cfg.Cmd = cmd
	cfg.AttachStdout, cfg.AttachStderr, cfg.AttachStdin = true, true, in != nil
	id, err := containers.ExecCreate(cctx, container, cfg)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", container, err)
	}
	defer func() { _ = containers.ExecRemove(c.ctx(context.WithoutCancel(ctx)), id, nil) }()
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	opts := new(containers.ExecStartAndAttachOptions).WithOutputStream(out).WithErrorStream(errw).
		WithAttachOutput(true).WithAttachError(true)
	if in != nil {
		opts = opts.WithInputStream(*bufio.NewReader(in)).WithAttachInput(true)
	}
	if err := containers.ExecStartAndAttach(cctx, id, opts); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", container, err)
	}
	info, err := containers.ExecInspect(cctx, id, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", container, err)
	}
	return info.ExitCode, nil
}
