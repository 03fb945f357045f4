package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/containers/podman/v5/pkg/bindings/network"
	"github.com/containers/podman/v5/pkg/errorhandling"
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
	if ok {
		return nil
	}
	_, err = network.Create(cctx, networkSpec(name, labels))
	if err != nil && !isStatus(err, http.StatusConflict) {
		// 409: created meanwhile by a concurrent start of the same app.
		return fmt.Errorf("create network %s: %w", name, err)
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
	_, err := network.Remove(c.ctx(ctx), name, nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// isStatus reports whether err is the service's answer with HTTP status code.
func isStatus(err error, code int) bool {
	var em *errorhandling.ErrorModel
	return errors.As(err, &em) && em.Code() == code
}
