package main

import (
	"os"
	"path/filepath"
)

// buildCacheDir is where the Podman service the daemon uses keeps its
// builds' RUN cache mounts: TMPDIR/buildah-cache of that service. A
// rootless daemon's Podman is its own user's, whose TMPDIR
// contrib/install.sh sets to ~/.cache/podman-tmp; a root daemon's is the
// system service, with the default TMPDIR /var/tmp. "" when not found: the
// mounts are then neither measured nor trimmed.
func buildCacheDir() string {
	var dirs []string
	if os.Getuid() != 0 {
		if home, err := os.UserHomeDir(); err == nil {
			dirs = append(dirs, filepath.Join(home, ".cache", "podman-tmp", "buildah-cache"))
		}
		if tmp := os.Getenv("TMPDIR"); tmp != "" {
			dirs = append(dirs, filepath.Join(tmp, "buildah-cache"))
		}
	}
	dirs = append(dirs, "/var/tmp/buildah-cache")
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return ""
}
