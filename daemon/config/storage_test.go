package config

import (
	"strings"
	"testing"
)

func TestStorageHostDirs(t *testing.T) {
	c, err := parse(t, "data_dir = \"/srv/x\"\n[storage]\nhost_dirs = [\"/srv/media/\", \"/mnt/nas\"]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Storage.HostDirs, " "); got != "/srv/media /mnt/nas" {
		t.Errorf("host_dirs = %q", got)
	}
	for _, tc := range []struct{ dirs, says string }{
		{`["media"]`, "absolute"},
		{`["/"]`, "whole host"},
		{`["/etc/xcloud"]`, "/etc"},
		{`["/srv"]`, "data_dir"},
		{`["/srv/x/repos"]`, "data_dir"},
	} {
		_, err := parse(t, "data_dir = \"/srv/x\"\n[storage]\nhost_dirs = "+tc.dirs+"\n", nil)
		if err == nil || !strings.Contains(err.Error(), "storage.host_dirs") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("host_dirs = %s: %v; want an error naming storage.host_dirs and saying %q", tc.dirs, err, tc.says)
		}
	}
}
