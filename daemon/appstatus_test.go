package daemon

import (
	"context"
	"testing"
)

// apps:list words each app's status from one list of the install's
// containers: running while a container runs, failed when none does,
// no release before the first deploy.
func TestAppsStatus(t *testing.T) {
	rt := newFakeRuntime(t)
	e := newEngine(t, newAppsStore(t, "web", "idle"), rt)
	if _, _, err := e.deploy(t, "img:1"); err != nil {
		t.Fatal(err)
	}
	status := func() map[string]string {
		t.Helper()
		apps, err := e.d.Apps(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, a := range apps {
			m[a.Name] = a.Status
		}
		return m
	}
	if got := status(); got["web"] != StatusRunning || got["idle"] != StatusNoRelease {
		t.Fatalf("statuses %v, want web running and idle with no release", got)
	}
	for _, c := range e.serving(t, 1) {
		rt.exit(c.ID, 1)
	}
	if got := status(); got["web"] != StatusFailed {
		t.Fatalf("web with no running container: %q, want %q", got["web"], StatusFailed)
	}
	info, err := e.d.AppInfo(context.Background(), "web")
	if err != nil || info.Status != StatusFailed {
		t.Fatalf("AppInfo(web) status %q, %v; want %q", info.Status, err, StatusFailed)
	}
}
