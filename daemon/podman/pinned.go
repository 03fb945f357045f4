package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/network"
	nettypes "go.podman.io/common/libnetwork/types"
)

// Containers on a network find a service by name through aardvark-dns,
// and aardvark-dns (1.4, Debian 12's) stops answering on a network for
// 10–45 s whenever a container on it starts or stops: a restarted
// database would be out of reach by name for that long. So a service
// joins an app's network at a fixed address, which Podman keeps across
// restarts, and the app's containers get it in /etc/hosts
// (ContainerSpec.Hosts), which needs no DNS at all. A fixed address is not
// enough on its own: the restarted container has a new MAC address, and
// the apps' neighbour caches send to the old one for 30-40 s; so the MAC
// address is fixed too, derived from the IP address.

// pinTries bounds the addresses tried when others take them meanwhile.
const pinTries = 4

// connectPinned joins container to the network name at a fixed address,
// the highest one of the subnet no container there uses (Podman hands
// out dynamic addresses from the bottom), reachable by aliases.
func (c *Client) connectPinned(ctx context.Context, name, container string, aliases []string) error {
	cctx := c.ctx(ctx)
	var last error
	tried := map[string]bool{}
	for range pinTries {
		ip, err := c.freeTopAddress(ctx, name, tried)
		if err != nil {
			return err
		}
		err = network.Connect(cctx, name, container, &nettypes.PerNetworkOptions{
			Aliases: aliases, StaticIPs: []net.IP{ip}, StaticMAC: pinnedMAC(ip)})
		if err == nil || alreadyConnected(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "already allocated") && !strings.Contains(err.Error(), "in use") {
			return err
		}
		last = err // taken since we looked, or held by a stopped container
		tried[ip.String()] = true
	}
	return fmt.Errorf("no free address on network %s: %w", name, last)
}

// freeTopAddress is the highest address of network name's first subnet
// that is neither its gateway, nor a running container's on it, nor in
// skip.
func (c *Client) freeTopAddress(ctx context.Context, name string, skip map[string]bool) (net.IP, error) {
	cctx := c.ctx(ctx)
	n, err := network.Inspect(cctx, name, nil)
	if err != nil {
		return nil, fmt.Errorf("inspect network %s: %w", name, err)
	}
	if len(n.Subnets) == 0 || n.Subnets[0].Subnet.IP.To4() == nil {
		return nil, fmt.Errorf("network %s has no IPv4 subnet", name)
	}
	sub := n.Subnets[0]
	used := map[string]bool{}
	for ip := range skip {
		used[ip] = true
	}
	if sub.Gateway != nil {
		used[sub.Gateway.String()] = true
	}
	list, err := containers.List(cctx, new(containers.ListOptions).WithAll(true).
		WithFilters(map[string][]string{"network": {name}}))
	if err != nil {
		return nil, fmt.Errorf("list containers on %s: %w", name, err)
	}
	for _, l := range list {
		ip, err := c.NetworkAddress(ctx, l.ID, name)
		if err != nil {
			return nil, err
		}
		if ip != "" {
			used[ip] = true
		}
	}
	return topFree(sub.Subnet.IPNet, used)
}

// topFree counts down from the last address before the broadcast one to
// the first after the network's own and returns the first not in used.
func topFree(sub net.IPNet, used map[string]bool) (net.IP, error) {
	base := sub.IP.To4().Mask(sub.Mask)
	ones, bits := sub.Mask.Size()
	if base == nil || bits != 32 || ones > 30 {
		return nil, fmt.Errorf("subnet %s too small for a fixed address", sub.String())
	}
	size := uint32(1) << (bits - ones)
	b := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for off := size - 2; off >= 1; off-- {
		v := b + off
		ip := net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
		if !used[ip.String()] {
			return ip, nil
		}
	}
	return nil, errors.New("every address of subnet " + sub.String() + " is in use")
}

// NetworkAddress is the container's IPv4 address on the network name, ""
// when it is not on it (or not running on it yet).
func (c *Client) NetworkAddress(ctx context.Context, container, name string) (string, error) {
	data, err := containers.Inspect(c.ctx(ctx), container, nil)
	if err != nil {
		if isStatus(err, 404) {
			return "", nil
		}
		return "", fmt.Errorf("inspect container %s: %w", container, err)
	}
	if data.NetworkSettings == nil {
		return "", nil
	}
	if n, ok := data.NetworkSettings.Networks[name]; ok && n != nil {
		return n.IPAddress, nil
	}
	return "", nil
}

// pinnedMAC is the MAC address that goes with a pinned IPv4 address: a
// locally administered unicast one holding the address, so it is unique
// on the network's bridge and the same for every container given that
// address.
func pinnedMAC(ip net.IP) nettypes.HardwareAddr {
	v4 := ip.To4()
	return nettypes.HardwareAddr{0x02, 0x58, v4[0], v4[1], v4[2], v4[3]}
}
