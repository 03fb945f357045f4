package admin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// storageCommands are the storage:* and deploy:* commands.
func storageCommands() []command {
	const storage = "Storage"
	return []command{
		{name: "storage", group: storage, usage: "storage APP [--json]", help: "list the app's mounts with the size of each volume", example: "storage hello", app: true, access: accessRead, run: (*Admin).cmdStorage},
		{name: "storage:list", group: storage, usage: "storage:list [--json]", help: "list every volume with its size and the apps using it", admin: true, access: accessAdmin, run: (*Admin).cmdStorageList},
		{name: "storage:mount", group: storage, usage: "storage:mount APP NAME:/path [--ro]", help: "mount a volume (created when new; a host directory /dir:/path for admins, within [storage] host_dirs) in every container of the app, from the next deploy or ps:restart", example: "storage:mount hello uploads:/app/uploads", app: true, flags: []string{"--ro"}, access: accessWrite, run: (*Admin).cmdStorageMount},
		{name: "storage:unmount", group: storage, usage: "storage:unmount APP NAME:/path", help: "remove a mount from the next deploy or ps:restart on; the volume keeps its data", example: "storage:unmount hello uploads:/app/uploads", app: true, access: accessWrite, run: (*Admin).cmdStorageUnmount},
		{name: "deploy:set", group: "Deploys", usage: "deploy:set APP strategy=rolling|recreate", help: "how deploys and restarts swap containers: rolling (default, no downtime) or recreate (old ones stop first: one writer, a short downtime)", example: "deploy:set hello strategy=recreate", app: true, access: accessWrite, run: (*Admin).cmdDeploySet},
		{name: "deploy:report", group: "Deploys", usage: "deploy:report APP [--json]", help: "show the app's deploy settings", example: "deploy:report hello", app: true, access: accessRead, run: (*Admin).cmdDeployReport},
	}
}

// appliesLater is what a mount change says about when it takes effect.
func appliesLater(app string) string {
	return fmt.Sprintf("It applies to %s's containers from the next deploy or ps:restart.", app)
}

func (a *Admin) cmdStorage(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	ms, err := a.eng.Storage(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, ms)
	}
	if len(ms) == 0 {
		fmt.Fprintf(c.out, "%s has no mounts (storage:mount %s NAME:/path adds one)\n", app, app)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSOURCE\tMODE\tSIZE")
	for _, m := range ms {
		src, size := "volume "+m.Volume, sizeOf(m.Size)
		if m.HostDir != "" {
			src, size = "host "+m.HostDir, "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Path, src, mode(m.ReadOnly), size)
	}
	return tw.Flush()
}

func (a *Admin) cmdStorageList(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	vs, err := a.eng.VolumesMeasured(ctx)
	if err != nil {
		return err
	}
	if c.json {
		if vs == nil {
			vs = []daemon.Volume{}
		}
		return writeJSON(c.out, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(c.out, "No volumes (storage:mount APP NAME:/path makes one)")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tSIZE\tAPPS")
	for _, v := range vs {
		apps := strings.Join(v.Apps, ", ")
		if apps == "" {
			apps = "(none: kept)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, sizeOf(v.Size), apps)
	}
	return tw.Flush()
}

func (a *Admin) cmdStorageMount(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	app := c.args[0]
	m, err := a.eng.Mount(ctx, daemon.MountRequest{App: app, Spec: c.args[1], ReadOnly: c.flags["--ro"], Admin: c.id.Admin})
	if err != nil {
		return err
	}
	what := "volume " + m.Volume
	if m.HostDir != "" {
		what = "host directory " + m.HostDir
	}
	fmt.Fprintf(c.out, "Mounted %s at %s (%s) for %s. %s\n", what, m.Path, mode(m.ReadOnly), app, appliesLater(app))
	return nil
}

func (a *Admin) cmdStorageUnmount(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	app := c.args[0]
	m, err := a.eng.Unmount(ctx, app, c.args[1])
	if err != nil {
		return err
	}
	kept := ""
	if m.Volume != "" {
		kept = fmt.Sprintf(" The volume %s keeps its data.", m.Volume)
	}
	fmt.Fprintf(c.out, "Unmounted %s from %s for %s. %s%s\n", m.Source(), m.Path, app, appliesLater(app), kept)
	return nil
}

func (a *Admin) cmdDeploySet(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	app := c.args[0]
	k, v, ok := strings.Cut(c.args[1], "=")
	if !ok || k != "strategy" {
		return usageError{fmt.Sprintf("unknown setting %q: the one setting is strategy=rolling|recreate", c.args[1])}
	}
	if err := a.eng.SetDeployStrategy(ctx, app, v); err != nil {
		return err
	}
	switch v {
	case store.StrategyRecreate:
		fmt.Fprintf(c.out, "%s deploys with strategy recreate: the old containers stop before the new ones start, so %s is down during each swap.\n", app, app)
	default:
		fmt.Fprintf(c.out, "%s deploys with strategy rolling: the new containers start and pass their health checks before the old ones stop, without downtime.\n", app)
	}
	return nil
}

// DeployReport is deploy:report's JSON.
type DeployReport struct {
	App      string `json:"app"`
	Strategy string `json:"strategy"`
}

func (a *Admin) cmdDeployReport(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	s, err := a.eng.DeployStrategy(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, DeployReport{App: app, Strategy: s})
	}
	fmt.Fprintf(c.out, "strategy: %s\n", s)
	return nil
}

func mode(ro bool) string {
	if ro {
		return "read-only"
	}
	return "read-write"
}

func sizeOf(n int64) string {
	if n < 0 {
		return "?"
	}
	return bytesIEC(n)
}

// printVolumesFate says which of a destroyed app's volumes were deleted
// and which kept their data.
func printVolumesFate(w io.Writer, gone daemon.Destroyed) {
	if len(gone.DeletedVolumes) > 0 {
		fmt.Fprintf(w, "Deleted volume(s) with their data: %s\n", strings.Join(gone.DeletedVolumes, ", "))
	}
	if len(gone.KeptVolumes) > 0 {
		fmt.Fprintf(w, "Kept volume(s) with their data: %s (storage:list shows them; apps:destroy --volumes deletes them, unless another app mounts them)\n", strings.Join(gone.KeptVolumes, ", "))
	}
}
