package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuthFailureLimit(t *testing.T) {
	c, err := parse(t, "[ssh]\nmax_auth_failures = 3\nauth_failure_window = \"30s\"\nauth_failure_ban = \"1h\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SSH.MaxAuthFailures != 3 || c.SSH.AuthFailureWindow.Duration != 30*time.Second || c.SSH.AuthFailureBan.Duration != time.Hour {
		t.Fatalf("ssh = %+v", c.SSH)
	}
	if c, err := parse(t, "[ssh]\nmax_auth_failures = 0\n", nil); err != nil || c.SSH.MaxAuthFailures != 0 {
		t.Fatalf("0 (no limit): %+v %v", c.SSH, err)
	}
	for src, want := range map[string]string{
		"[ssh]\nmax_auth_failures = -1\n":       "xcloud.toml:2: ssh.max_auth_failures: must be 0 (no limit) or positive",
		"[ssh]\nauth_failure_window = \"0s\"\n": "xcloud.toml:2: ssh.auth_failure_window: must be at least 1s",
		"[ssh]\nauth_failure_ban = \"10ms\"\n":  "xcloud.toml:2: ssh.auth_failure_ban: must be at least 1s",
	} {
		if _, err := parse(t, src, nil); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}
