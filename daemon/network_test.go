package daemon

import (
	"testing"

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
