package config

import (
	"path/filepath"
	"strings"
)

// Storage configures apps' persistent storage.
type Storage struct {
	// HostDirs are the host directories (with what is under them) an admin
	// may mount into apps with storage:mount APP /dir:/path; empty: none.
	// Never /, /etc, the data_dir or what holds it.
	HostDirs []string `toml:"host_dirs"`
}

func (c *Config) validateStorage(bad func(key, format string, args ...any) error) error {
	if c.Storage.HostDirs == nil {
		c.Storage.HostDirs = []string{} // "host_dirs = []" and no key are one
	}
	for i, d := range c.Storage.HostDirs {
		if !filepath.IsAbs(d) {
			return bad("storage.host_dirs", "entry %q must be an absolute path", d)
		}
		d = filepath.Clean(d)
		c.Storage.HostDirs[i] = d
		switch {
		case d == "/":
			return bad("storage.host_dirs", "entry / would let apps see the whole host")
		case d == "/etc" || strings.HasPrefix(d, "/etc/"):
			return bad("storage.host_dirs", "entry %q is under /etc, the host's configuration", d)
		case within(c.DataDir, d) || within(d, c.DataDir):
			return bad("storage.host_dirs", "entry %q is or holds the data_dir %s", d, c.DataDir)
		}
	}
	return nil
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
