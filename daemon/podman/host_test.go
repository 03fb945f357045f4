package podman

import "testing"

func TestDefaultSocket(t *testing.T) {
	tests := []struct {
		name       string
		uid        int
		runtimeDir string
		existing   []string
		want       string
	}{
		{"root uses the rootful socket", 0, "/run/user/0", []string{"/run/user/0/podman/podman.sock"}, "/run/podman/podman.sock"},
		{"user with XDG_RUNTIME_DIR", 995, "/tmp/rt", []string{"/tmp/rt/podman/podman.sock", "/run/user/995/podman/podman.sock"}, "/tmp/rt/podman/podman.sock"},
		// runuser, su and systemd units without the drop-in set no XDG_RUNTIME_DIR.
		{"user without XDG_RUNTIME_DIR", 995, "", []string{"/run/user/995/podman/podman.sock"}, "/run/user/995/podman/podman.sock"},
		{"XDG_RUNTIME_DIR without a socket", 995, "/tmp/rt", []string{"/run/user/995/podman/podman.sock"}, "/run/user/995/podman/podman.sock"},
		{"user without a rootless service", 995, "/tmp/rt", nil, "/run/podman/podman.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exists := func(p string) bool {
				for _, e := range tt.existing {
					if e == p {
						return true
					}
				}
				return false
			}
			if got := defaultSocket(tt.uid, tt.runtimeDir, exists); got != tt.want {
				t.Errorf("defaultSocket(%d, %q) = %q, want %q", tt.uid, tt.runtimeDir, got, tt.want)
			}
		})
	}
}

func TestCanLimit(t *testing.T) {
	tests := []struct {
		rootless         bool
		version, manager string
		want             bool
	}{
		{false, "v1", "cgroupfs", true},
		{false, "v2", "systemd", true},
		{true, "v1", "cgroupfs", false}, // these CI machines
		{true, "v1", "systemd", false},
		{true, "v2", "cgroupfs", false},
		{true, "v2", "systemd", true}, // a systemd server with a user session
	}
	for _, tt := range tests {
		got, why := canLimit(tt.rootless, tt.version, tt.manager)
		if got != tt.want || (!got && why == "") {
			t.Errorf("canLimit(%v, %s, %s) = %v, %q; want %v (with a reason when false)", tt.rootless, tt.version, tt.manager, got, why, tt.want)
		}
	}
}

func TestIsolationGap(t *testing.T) {
	for backend, isolated := range map[string]bool{"netavark": true, "": true, "cni": false} {
		if got := isolationGap(backend); (got == "") != isolated {
			t.Errorf("isolationGap(%q) = %q; want isolated=%v", backend, got, isolated)
		}
	}
}
