package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

func TestNetworkNames(t *testing.T) {
	d := New(Options{Instance: "abc"})
	g := NetworkGuard("abc", "base")
	for _, app := range []string{"web", "guard", "abc-guard", "a"} {
		if err := store.ValidateAppName(app); err != nil {
			t.Fatal(err)
		}
		n := d.appNetwork(app)
		if n != "xcloud-abc-"+app {
			t.Errorf("network of %s = %q", app, n)
		}
		if n == g.Name {
			t.Errorf("app %s's network is the guard's: %q", app, n)
		}
	}
	if other := (&Daemon{opts: Options{Instance: "def"}}).appNetwork("web"); other == d.appNetwork("web") {
		t.Errorf("two instances share network %q", other)
	}
	if g.Labels[labelInstance] != "abc" || g.Labels[labelManaged] != "" {
		t.Errorf("guard labels %v: want the instance's, and not managed (reconcile would remove it)", g.Labels)
	}
}

// netRecorder records the networks ensured and the containers run.
type netRecorder struct {
	Runtime
	ensured map[string]map[string]string
	ran     []podman.ContainerSpec
}

func (r *netRecorder) EnsureNetwork(_ context.Context, name string, labels map[string]string) error {
	r.ensured[name] = labels
	return nil
}

func (r *netRecorder) Run(_ context.Context, cs podman.ContainerSpec) (podman.Container, error) {
	r.ran = append(r.ran, cs)
	return podman.Container{ID: cs.Name, Name: cs.Name, Labels: cs.Labels, Running: true}, nil
}

func TestContainersJoinOnlyTheirAppNetwork(t *testing.T) {
	ctx := context.Background()
	st := newAppsStore(t, "site")
	rt := &netRecorder{ensured: map[string]map[string]string{}}
	d := New(Options{Store: st, Runtime: rt, Instance: "abc", Logger: slog.New(slog.DiscardHandler)})
	rel := store.Release{App: "site", Version: 3, Image: "img"}
	spec := releaseSpec{Processes: map[string]string{"worker": "work"}}

	if _, err := d.startProcess(ctx, rel, spec, "worker", io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"run", "release", "cron"} {
		cs, err := d.oneOffSpec(ctx, rel, typ, []string{"true"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rt.ran = append(rt.ran, cs)
	}
	for _, cs := range rt.ran {
		if cs.Network != "xcloud-abc-site" {
			t.Errorf("%s joins network %q, want xcloud-abc-site", cs.Name, cs.Network)
		}
	}
	labels, ok := rt.ensured["xcloud-abc-site"]
	if len(rt.ensured) != 1 || !ok {
		t.Fatalf("networks ensured: %v", rt.ensured)
	}
	if labels[labelApp] != "site" || labels[labelInstance] != "abc" || labels[labelManaged] != "true" {
		t.Errorf("network labels %v", labels)
	}
}

func TestOffAppNetwork(t *testing.T) {
	d := New(Options{Instance: "abc"})
	for _, tc := range []struct {
		networks []string
		off      bool
	}{
		{[]string{"xcloud-abc-site"}, false},
		{nil, false},                                  // not known: a fake, or host networking
		{[]string{"podman"}, true},                    // started before apps had networks
		{[]string{"xcloud-abc-other"}, true},          // another app's
		{[]string{"xcloud-abc-site", "podman"}, true}, // and another one
	} {
		c := podman.Container{Labels: map[string]string{labelApp: "site"}, Networks: tc.networks}
		if got := d.offAppNetwork(c); got != tc.off {
			t.Errorf("offAppNetwork(%v) = %v, want %v", tc.networks, got, tc.off)
		}
	}
}
