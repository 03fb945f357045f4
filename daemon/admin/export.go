package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/export"
)

// exportCommands hand an app to another engine: Kubernetes, a compose
// host, any OCI tool. `export kube APP` (DESIGN's spelling) runs
// export:kube (see exportAlias).
func exportCommands() []command {
	const group = "Moving off this box"
	return []command{
		{name: "export:kube", group: group, usage: "export:kube APP [--namespace NS] [--registry HOST/PREFIX] [--json]", help: "print Kubernetes YAML for the current release (Deployments, Service, Ingress, Secret with the config vars, release Job, CronJobs, PVCs); --json: one v1 List", example: "export:kube hello --registry registry.example.com/team > hello.yaml", app: true, opts: []string{"--namespace", "--registry"}, access: accessRead, run: (*Admin).cmdExportKube},
		{name: "export:compose", group: group, usage: "export:compose APP [--registry HOST/PREFIX]", help: "print a compose file for the current release (config vars included)", example: "export:compose hello > compose.yaml", app: true, opts: []string{"--registry"}, access: accessRead, run: (*Admin).cmdExportCompose},
		{name: "export:image", group: group, usage: "export:image APP", help: "write the current release's image to stdout as an OCI archive (podman load < FILE); xcloud never pushes", example: "export:image hello > hello.tar", app: true, access: accessRead, run: (*Admin).cmdExportImage},
	}
}

// exportAlias turns `export kube APP…` into `export:kube APP…`.
func exportAlias(args []string) []string {
	if len(args) >= 2 && args[0] == "export" {
		switch args[1] {
		case "kube", "compose", "image":
			return append([]string{"export:" + args[1]}, args[2:]...)
		}
	}
	return args
}

func exportOptions(c *call) (export.Options, error) {
	var o export.Options
	for _, opt := range []struct {
		name string
		dst  *string
	}{{"--namespace", &o.Namespace}, {"--registry", &o.Registry}} {
		switch v := c.opts[opt.name]; len(v) {
		case 0:
		case 1:
			*opt.dst = v[0]
		default:
			return o, badf("%s given %d times", opt.name, len(v))
		}
	}
	if err := o.Check(); err != nil {
		return o, badf("%v", err)
	}
	return o, nil
}

// exportApp is the app's release as export words it, or the reason
// there is none in one line.
func (a *Admin) exportApp(ctx context.Context, app string) (export.App, error) {
	ea, err := a.eng.ExportApp(ctx, app)
	switch {
	case errors.Is(err, daemon.ErrNoRelease):
		return ea, badf("%s has no release yet; push to it first", app)
	case errors.Is(err, daemon.ErrStaticSite):
		return ea, badf("%s is a static site: it has no container image to export", app)
	}
	return ea, err
}

// warnSecrets says, on stderr, that stdout holds the config vars.
func warnSecrets(c *call, a export.App) {
	if len(a.Env) > 0 {
		fmt.Fprintf(c.err, "warning: the output holds %s's %d config var(s) in plain text (base64 is not encryption): keep it out of version control\n", a.Name, len(a.Env))
	}
}

// exportRequest reads an export command's app and options.
func (a *Admin) exportRequest(ctx context.Context, c *call) (export.App, export.Options, error) {
	if err := wantArgs(c, 1); err != nil {
		return export.App{}, export.Options{}, err
	}
	o, err := exportOptions(c)
	if err != nil {
		return export.App{}, export.Options{}, err
	}
	ea, err := a.exportApp(ctx, c.args[0])
	return ea, o, err
}

func (a *Admin) cmdExportKube(ctx context.Context, c *call) error {
	ea, o, err := a.exportRequest(ctx, c)
	if err != nil {
		return err
	}
	objs, err := export.Kube(ea, o)
	if err != nil {
		return err
	}
	warnSecrets(c, ea)
	notes := export.Notes(ea, o)
	if c.json {
		for _, n := range notes {
			fmt.Fprintf(c.err, "note: %s\n", n)
		}
		return export.WriteJSON(c.out, objs)
	}
	return export.WriteYAML(c.out, fmt.Sprintf("%s v%d, exported by xcloud: kubectl apply -f FILE", ea.Name, ea.Version), notes, objs)
}

func (a *Admin) cmdExportCompose(ctx context.Context, c *call) error {
	ea, o, err := a.exportRequest(ctx, c)
	if err != nil {
		return err
	}
	f, notes, err := export.Compose(ea, o)
	if err != nil {
		return err
	}
	warnSecrets(c, ea)
	return export.WriteCompose(c.out, fmt.Sprintf("%s v%d, exported by xcloud: podman-compose up -d (or docker compose)", ea.Name, ea.Version), notes, f)
}

func (a *Admin) cmdExportImage(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	if _, err := a.exportApp(ctx, app); err != nil {
		return err
	}
	ref, err := a.eng.SaveImage(ctx, app, c.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.err, "Wrote %s as an OCI archive: podman load < FILE restores it by that name\n", ref)
	return nil
}
