package admin

import (
	"context"
	"fmt"

	"github.com/xcloud-dev/xcloud/daemon"
)

// backupCommand is `backup`: the whole node as one archive on stdout.
var backupCommand = command{
	name: "backup", group: "Backup", usage: "backup [--with-key] [--with-images]",
	help:    "write an archive of the whole node to stdout (database, repositories, static files, volumes; --with-key: the config-var key too; --with-images: each app's current release image, so the restored node serves without building); `xcloud restore FILE` brings it back",
	example: "backup > box.tar.zst", admin: true, access: accessAdmin,
	flags: []string{"--with-key", "--with-images"}, run: (*Admin).cmdBackup,
}

func (a *Admin) cmdBackup(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	if c.stdio.PTY {
		return usageError{"the archive is binary: redirect it to a file (ssh ... backup > box.tar.zst) and leave out ssh -t"}
	}
	withKey := c.flags["--with-key"]
	if withKey {
		fmt.Fprintln(c.err, "The archive holds the config-var key: it is as secret as the key, and anyone with it can read every app's config vars.")
	}
	res, err := a.eng.Backup(ctx, c.out, daemon.BackupRequest{WithKey: withKey, WithImages: c.flags["--with-images"]})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(c.err, "Backed up %d app(s), %d volume(s), %d image(s), %d files: %d bytes (schema v%d)\n", len(m.Apps), len(m.Volumes), len(m.Images), len(m.Files), res.Bytes, m.Schema)
	if !withKey {
		fmt.Fprintln(c.err, "The config-var key is not in the archive: keep a copy of it (secrets.key_file) to restore config vars.")
	}
	return nil
}
