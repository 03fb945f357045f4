package podman

import (
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
)

func TestSpecGenJoinsOnlyTheAppNetwork(t *testing.T) {
	c := &Client{}
	s := c.specGen(ContainerSpec{Name: "web", Image: "img", Port: 5000, Network: "xcloud-i-app"})
	if s.NetNS.NSMode != specgen.Bridge {
		t.Errorf("network mode = %q, want bridge", s.NetNS.NSMode)
	}
	if len(s.Networks) != 1 {
		t.Fatalf("networks = %v, want only xcloud-i-app", s.Networks)
	}
	if _, ok := s.Networks["xcloud-i-app"]; !ok {
		t.Errorf("networks = %v, want xcloud-i-app", s.Networks)
	}
	// The proxy still reaches the container through a loopback port.
	if len(s.PortMappings) != 1 || s.PortMappings[0].HostIP != "127.0.0.1" || s.PortMappings[0].ContainerPort != 5000 {
		t.Errorf("port mappings = %+v, want 127.0.0.1::5000", s.PortMappings)
	}

	def := c.specGen(ContainerSpec{Name: "x", Image: "img"})
	if def.NetNS.NSMode != "" || len(def.Networks) != 0 {
		t.Errorf("without a network: mode %q, networks %v; want Podman's defaults", def.NetNS.NSMode, def.Networks)
	}
}

func TestNetworkSpecIsIsolated(t *testing.T) {
	n := networkSpec("xcloud-i-app", map[string]string{"xcloud.app": "app"})
	if n.Options["isolate"] != "true" {
		t.Errorf("options = %v, want isolate=true", n.Options)
	}
	if n.Driver != "bridge" || !n.DNSEnabled || n.Internal {
		t.Errorf("driver %q, dns %v, internal %v; want a bridge with DNS and outbound access", n.Driver, n.DNSEnabled, n.Internal)
	}
	if n.Labels["xcloud.app"] != "app" {
		t.Errorf("labels = %v", n.Labels)
	}
}

func TestGuardSpec(t *testing.T) {
	c := &Client{guard: NetworkGuard{Name: "xcloud-i.guard", Image: "base", Labels: map[string]string{"k": "v"}}}
	s := c.guardSpec()
	if s.Name != "xcloud-i.guard" || s.Image != "base" || s.Labels["k"] != "v" {
		t.Errorf("name %q, image %q, labels %v", s.Name, s.Image, s.Labels)
	}
	if len(s.Command) != 2 || s.Command[0] != "sleep" || s.RestartPolicy != "always" {
		t.Errorf("command %q, restart %q: want it idle and restarted if it dies", s.Command, s.RestartPolicy)
	}
	// Born on its own home network only; app networks are connected later.
	if _, ok := s.Networks["xcloud-i.guard"]; !ok || len(s.Networks) != 1 || s.NetNS.NSMode != specgen.Bridge {
		t.Errorf("networks %v (mode %q), want only its home network", s.Networks, s.NetNS.NSMode)
	}
	if len(s.PortMappings) != 0 {
		t.Errorf("the guard publishes %v", s.PortMappings)
	}
}
