package config

import (
	"strings"
	"testing"
)

func TestRepoSize(t *testing.T) {
	if got := Default().Limits.RepoSize.Bytes; got != 1<<30 {
		t.Fatalf("default repo_size = %d, want 1 GiB", got)
	}
	for src, want := range map[string]int64{
		`repo_size = "1MB"`: 1 << 20,
		`repo_size = "2g"`:  2 << 30,
		`repo_size = "1GB"`: 1 << 30,
		`repo_size = "0"`:   0, // no cap
	} {
		c, err := parse(t, "[limits]\n"+src+"\n", nil)
		if err != nil || c.Limits.RepoSize.Bytes != want {
			t.Errorf("%s: %d, %v; want %d", src, c.Limits.RepoSize.Bytes, err, want)
		}
	}
	for src, want := range map[string]string{
		"[limits]\nrepo_size = \"lots\"\n":   "xcloud.toml:2: limits.repo_size",
		"[limits]\n\nrepo_size = \"512k\"\n": "xcloud.toml:3: limits.repo_size: must be 0 (no cap) or at least 1m",
		"[limits]\nrepo_sise = \"1g\"\n":     "xcloud.toml:2: limits.repo_sise: unknown key",
	} {
		_, err := parse(t, src, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

func TestParseSizeUnits(t *testing.T) {
	for in, want := range map[string]int64{
		"512m": 512 << 20, "512mb": 512 << 20, "64KB": 64 << 10, "1gb": 1 << 30, "1024b": 1024, "7": 7,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"b", "mb", "1tb", "-1m", "1 m b"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}
