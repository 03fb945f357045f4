package admin

import (
	"context"
	"fmt"

	"github.com/xcloud-dev/xcloud/daemon"
)

// cmdAppsRename gives an app a new name. Releases, domains, config, scale,
// keys' permissions, the repository, static files and logs follow, without
// downtime.
func (a *Admin) cmdAppsRename(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	old, name := c.args[0], c.args[1]
	if old == name {
		return usageError{fmt.Sprintf("%s is already called %s", old, name)}
	}
	return a.eng.Rename(ctx, daemon.RenameRequest{Old: old, New: name, By: c.id.Name}, c.out)
}

// cmdAppsDestroy removes an app and everything it owns.
func (a *Admin) cmdAppsDestroy(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	if !c.flags["--force"] {
		return usageError{fmt.Sprintf("this deletes %s with its releases, config vars and data; repeat with --force", app)}
	}
	destroy := a.eng.Destroy
	if c.flags["--volumes"] {
		destroy = a.eng.DestroyWithVolumes
	}
	gone, err := destroy(ctx, app, c.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Destroyed %s: %d container(s), %d image(s), %d domain(s), its repository, config vars, releases, builds and logs\n",
		app, gone.Containers, gone.Images, gone.Domains)
	printVolumesFate(c.out, gone)
	return nil
}
