package config

import (
	"strings"
	"testing"
)

// TestLimitsBounds: caps the kernel or runc would refuse at container start
// are refused when the file is read, naming the key.
func TestLimitsBounds(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"nan cpus", "[limits]\ncpus = nan\n", "xcloud.toml:2: limits.cpus: must be 0 (no cap) or a number from 0.01 to 1024"},
		{"inf cpus", "[limits]\ncpus = inf\n", "limits.cpus"},
		{"tiny cpus", "[limits]\ncpus = 0.001\n", "limits.cpus"},
		{"nan build cpus", "[build]\ncpus = nan\n", "xcloud.toml:2: build.cpus"},
		{"huge pids", "[limits]\npids = 99999999999\n", "xcloud.toml:2: limits.pids: must be 0 (no cap) or a whole number from 16 to 4194304"},
		{"negative pids", "[limits]\npids = -1\n", "limits.pids"},
		{"tiny memory", "[limits]\nmemory = \"5m\"\n", "xcloud.toml:2: limits.memory: must be 0 (no cap) or at least 6m"},
		{"overflowing memory", "[limits]\nmemory = \"99999999999g\"\n", "xcloud.toml:2: limits.memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	c, err := parse(t, "[limits]\nmemory = \"6m\"\ncpus = 0.01\npids = 4194304\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != (Limits{Memory: Size{6 << 20}, CPUs: 0.01, Pids: 4194304, RepoSize: Default().Limits.RepoSize}) {
		t.Errorf("limits at the bounds = %+v", c.Limits)
	}
	if _, err := parse(t, "[limits]\nmemory = \"0\"\ncpus = 0.0\npids = 0\n", nil); err != nil {
		t.Errorf("0 (no cap) refused: %v", err)
	}
}

func TestParseSizeOverflow(t *testing.T) {
	for _, v := range []string{"8589934592g", "9223372036854775807k"} {
		if n, err := ParseSize(v); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", v, n)
		}
	}
	if n, err := ParseSize("8589934591g"); err != nil || n != 8589934591<<30 {
		t.Errorf("ParseSize(8589934591g) = %d, %v", n, err)
	}
}
