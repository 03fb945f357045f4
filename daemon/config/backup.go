package config

import (
	"path/filepath"

	"github.com/robfig/cron/v3"
)

// Backup configures scheduled backups of the whole node (the archive
// `backup` streams over SSH), written to files in Dir.
type Backup struct {
	// Schedule is a cron schedule ("0 3 * * *", "@daily"); empty: no
	// scheduled backups.
	Schedule string `toml:"schedule"`
	// Dir receives the archives (xcloud-backup-<time>.tar.zst); default
	// <data_dir>/backups. Copy them off the box: a lost disk takes this
	// directory with it.
	Dir string `toml:"dir"`
	// Keep is how many scheduled archives stay in Dir; older ones are
	// deleted after each successful run.
	Keep int `toml:"keep"`
	// WithKey puts the config-var key in scheduled archives, which are
	// then as secret as the key.
	WithKey bool `toml:"with_key"`
}

// MaxBackupKeep bounds backup.keep.
const MaxBackupKeep = 1000

func (c *Config) validateBackup(bad func(key, format string, args ...any) error) error {
	b := &c.Backup
	if b.Schedule != "" {
		if _, err := cron.ParseStandard(b.Schedule); err != nil {
			return bad("backup.schedule", "not a cron schedule like \"0 3 * * *\" or \"@daily\": %v", err)
		}
	}
	if b.Dir == "" {
		b.Dir = filepath.Join(c.DataDir, "backups")
	}
	if !filepath.IsAbs(b.Dir) {
		return bad("backup.dir", "must be an absolute path, got %q", b.Dir)
	}
	if b.Keep < 1 || b.Keep > MaxBackupKeep {
		return bad("backup.keep", "must be between 1 and %d, got %d", MaxBackupKeep, b.Keep)
	}
	return nil
}
