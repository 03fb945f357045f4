package config

import (
	"strings"
	"testing"
)

func TestBackup(t *testing.T) {
	c, err := parse(t, "data_dir = \"/srv/x\"\n[backup]\nschedule = \"0 3 * * *\"\nkeep = 3\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backup.Schedule != "0 3 * * *" || c.Backup.Keep != 3 || c.Backup.Dir != "/srv/x/backups" {
		t.Fatalf("backup = %+v", c.Backup)
	}
	for src, want := range map[string]string{
		"[backup]\nschedule = \"every day\"\n":  "xcloud.toml:2: backup.schedule: not a cron schedule",
		"[backup]\nschedule = \"61 * * * *\"\n": "xcloud.toml:2: backup.schedule: not a cron schedule",
		"[backup]\ndir = \"rel/dir\"\n":         "xcloud.toml:2: backup.dir: must be an absolute path",
		"[backup]\nkeep = 0\n":                  "xcloud.toml:2: backup.keep: must be between 1 and 1000, got 0",
		"[backup]\nkeeps = 2\n":                 "xcloud.toml:2: backup.keeps: unknown key",
	} {
		_, err := parse(t, src, nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
