package admin

import (
	"testing"

	"github.com/xcloud-dev/xcloud/daemon"
)

func TestParseAuthorizedKeys(t *testing.T) {
	keys, err := parseAuthorizedKeys([]byte("# admins\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].name != "alice@laptop" {
		t.Errorf("keys = %+v", keys)
	}
	if _, err := parseAuthorizedKeys([]byte("ssh-ed25519 AAAA\n")); err == nil || err.Error()[:6] != "line 1" {
		t.Errorf("bad key error = %v", err)
	}
}

func TestParseLimits(t *testing.T) {
	l, err := parseLimits(daemon.Limits{Pids: 64}, []string{"memory=256m", "cpus=0.5"})
	if err != nil || l != (daemon.Limits{MemoryBytes: 256 << 20, CPUs: 0.5, Pids: 64}) {
		t.Errorf("parseLimits = %+v, %v", l, err)
	}
	for _, bad := range []string{"memory=1k", "cpus=0", "pids=3", "disk=1g", "memory"} {
		if _, err := parseLimits(daemon.Limits{}, []string{bad}); err == nil {
			t.Errorf("parseLimits(%q) accepted", bad)
		}
	}
}
