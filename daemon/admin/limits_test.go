package admin

import (
	"github.com/xcloud-dev/xcloud/daemon"

	"strings"
	"testing"
)

// TestParseLimitsBounds: caps runc or the kernel would refuse at every later
// container start are refused when set, with one line naming the problem.
func TestParseLimitsBounds(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"pids=99999999999", "pids=99999999999: want a whole number from 16 to 4194304"},
		{"pids=4194305", "pids=4194305"},
		{"pids=-1", "pids=-1"},
		{"pids=15", "pids=15"},
		{"cpus=nan", "cpus=nan: want a number from 0.01 to 1024"},
		{"cpus=NaN", "cpus=NaN"},
		{"cpus=inf", "cpus=inf"},
		{"cpus=1e1", "cpus=1e1"},
		{"cpus=0x1p-2", "cpus=0x1p-2"},
		{"cpus=0.001", "cpus=0.001"},
		{"cpus=1025", "cpus=1025"},
		{"memory=5m", "memory=5m: want a size of at least 6m"},
		{"memory=99999999999g", "memory=99999999999g"},
		{"memory=0", "memory=0: 0 is not a cap; memory=default goes back to the [limits] default"},
		{"cpus=0", "cpus=default"},
		{"pids=0", "pids=default"},
		{"swap=1g", `unknown limit "swap"`},
	} {
		l, err := parseLimits(daemon.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 64}, []string{"memory=256m", tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseLimits(%q) = %+v, %v; want one line containing %q", tc.arg, l, err, tc.want)
		}
	}
	l, err := parseLimits(daemon.Limits{}, []string{"memory=6m", "cpus=0.01", "pids=4194304"})
	if err != nil || l != (daemon.Limits{MemoryBytes: 6 << 20, CPUs: 0.01, Pids: 4194304}) {
		t.Errorf("limits at the bounds: %+v, %v", l, err)
	}
	l, err = parseLimits(daemon.Limits{MemoryBytes: 1 << 30, CPUs: 2, Pids: 64}, []string{"memory=default", "cpus=default", "pids=default"})
	if err != nil || l != (daemon.Limits{}) {
		t.Errorf("K=default: %+v, %v; want every field back to the default (zero)", l, err)
	}
	if l, err := parseLimits(daemon.Limits{}, []string{"cpus=.5"}); err != nil || l.CPUs != 0.5 {
		t.Errorf("cpus=.5: %+v, %v", l, err)
	}
}

// TestResourcesBadInputChangesNothing: a refused value saves nothing, not
// even the valid values given with it.
func TestResourcesBadInputChangesNothing(t *testing.T) {
	d, st, _ := newKeysDaemon(t)
	code, _, errs := runKeysCmd(d, keysAdmin, "", "resources", "web", "memory=256m", "pids=99999999999")
	if code == 0 || !strings.Contains(errs, "pids=99999999999") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("resources web pids=99999999999: %d %q", code, errs)
	}
	a, err := st.GetApp(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Limits) != 0 && string(a.Limits) != "{}" {
		t.Errorf("limits saved after a refused value: %s", a.Limits)
	}
}
