package daemon

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

func TestLivenessTracker(t *testing.T) {
	tr := newLivenessTracker()
	hc := buildpacks.Healthcheck{Type: "liveness", Attempts: 2, Wait: 3, InitialDelay: 5}
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	if tr.due("c/0", hc, at(0)) {
		t.Fatal("due before its initial delay")
	}
	if !tr.due("c/0", hc, at(5)) {
		t.Fatal("not due after its initial delay")
	}
	if bad, n := tr.record("c/0", hc, "status 500", at(5)); bad || n != 1 {
		t.Fatalf("first failure: unhealthy=%v failures=%d", bad, n)
	}
	if tr.due("c/0", hc, at(7)) {
		t.Fatal("due before wait passed")
	}
	if !tr.due("c/0", hc, at(8)) {
		t.Fatal("not due after wait")
	}
	// A pass in between resets the count: failures must be in a row.
	tr.record("c/0", hc, "", at(8))
	if bad, n := tr.record("c/0", hc, "timeout", at(11)); bad || n != 1 {
		t.Fatalf("after a pass: unhealthy=%v failures=%d", bad, n)
	}
	if bad, n := tr.record("c/0", hc, "timeout", at(14)); !bad || n != 2 {
		t.Fatalf("second failure in a row: unhealthy=%v failures=%d, want true 2", bad, n)
	}

	// Checks not seen since the last sweep are forgotten.
	tr.sweep() // c/0 was seen this round
	tr.sweep() // and not since
	if _, ok := tr.probes["c/0"]; ok {
		t.Error("a container that is gone is still tracked")
	}
	// Defaults: three failures in a row, ten seconds apart.
	d := buildpacks.Healthcheck{Type: "liveness"}
	if !tr.due("d/0", d, at(0)) {
		t.Fatal("no initial delay: not due at once")
	}
	for i, want := range []bool{false, false, true} {
		if bad, _ := tr.record("d/0", d, "x", at(10*i)); bad != want {
			t.Errorf("default attempts: failure %d unhealthy=%v, want %v", i+1, bad, want)
		}
	}
	if tr.due("d/0", d, at(29)) || !tr.due("d/0", d, at(30)) {
		t.Error("default wait is not 10s")
	}
}

func TestLivenessChecks(t *testing.T) {
	spec := releaseSpec{Healthchecks: map[string][]buildpacks.Healthcheck{
		"web":    {{Type: "startup", Path: "/a"}, {Type: "liveness", Path: "/b"}, {Path: "/c"}},
		"worker": {{Type: "liveness"}},
	}}
	got := livenessChecks(spec)
	if len(got) != 1 || got[0].Path != "/b" {
		t.Errorf("livenessChecks = %+v, want the web liveness check only", got)
	}
}

// TestLivenessChecksFollowTheRelease: the checks a round keeps for an app
// are its current release's; a new release, or an app made again under
// the same name, is read again.
func TestLivenessChecksFollowTheRelease(t *testing.T) {
	ctx := context.Background()
	st := storetest.WithApps(t, "web")
	d := New(Options{Store: st, BaseDomain: "xcloud.test", Logger: slog.New(slog.DiscardHandler)})
	release := func(spec string) {
		t.Helper()
		r, err := st.CreateRelease(ctx, store.Release{App: "web", Image: "web:1", Spec: []byte(spec)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ActivateRelease(ctx, "web", r.Version, nil); err != nil {
			t.Fatal(err)
		}
	}
	checks := func(tr *livenessTracker) []string {
		t.Helper()
		a, err := st.GetApp(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := d.checksOf(ctx, tr, a)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, hc := range rc.checks {
			names = append(names, hc.Name)
		}
		return names
	}
	tr := newLivenessTracker()
	release(`{"healthchecks": {"web": [{"type": "liveness", "name": "one", "path": "/a"}]}}`)
	if got := checks(tr); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("first release: checks %v, want [one]", got)
	}
	release(`{"healthchecks": {"web": [{"type": "liveness", "name": "two", "path": "/b"}]}}`)
	if got := checks(tr); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("second release: checks %v, want [two]", got)
	}
	// The same version of an app made again under the name.
	tr.releases["web"] = releaseChecks{appID: -1, version: tr.releases["web"].version, checks: nil}
	if got := checks(tr); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("another app's entry: checks %v, want [two]", got)
	}
}
