package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/store"
)

// serviceCommands are the services:* commands. All but link and unlink
// need an admin key: a service holds data of every app linked to it. An
// app key may link its own apps to the services it was granted
// (keys:add --service), nothing more.
func serviceCommands() []command {
	const services = "Services (PostgreSQL, Redis)"
	return []command{
		{name: "services:create", group: services, usage: "services:create postgres|redis NAME [--memory SIZE]", help: "start a database service with its data on a volume (memory default 256m)", example: "services:create postgres db", opts: []string{"--memory"}, admin: true, access: accessAdmin, run: (*Admin).cmdServicesCreate},
		{name: "services:list", group: services, usage: "services:list [--json]", help: "list services with their status and linked apps", admin: true, access: accessAdmin, run: (*Admin).cmdServices},
		{name: "services", group: services, usage: "services [--json]", help: "the same as services:list", admin: true, access: accessAdmin, run: (*Admin).cmdServices},
		{name: "services:info", group: services, usage: "services:info NAME [--json]", help: "show a service's version, status, host, linked apps, volume size and last backup", example: "services:info db", admin: true, access: accessAdmin, run: (*Admin).cmdServicesInfo},
		{name: "services:link", group: services, usage: "services:link NAME APP", help: "give APP the service's URL (DATABASE_URL, REDIS_URL) and reach to it; restarts APP without downtime", example: "services:link db hello", accessFn: serviceLinkAccess, run: (*Admin).cmdServicesLink},
		{name: "services:unlink", group: services, usage: "services:unlink NAME APP", help: "unset the app's URL var and take the service off the app's network", example: "services:unlink db hello", accessFn: serviceLinkAccess, run: (*Admin).cmdServicesUnlink},
		{name: "services:logs", group: services, usage: "services:logs NAME [-f] [-n N]", help: "the service's output; -f follows it", example: "services:logs db -n 50", flags: []string{"-f"}, opts: []string{"-n"}, admin: true, access: accessAdmin, run: (*Admin).cmdServicesLogs},
		{name: "services:connect", group: services, usage: "services:connect NAME", help: "open psql or valkey-cli on the service (ssh -t: a terminal)", example: "services:connect db", admin: true, access: accessAdmin, run: (*Admin).cmdServicesConnect},
		{name: "services:restart", group: services, usage: "services:restart NAME", help: "restart the service and wait until it answers", example: "services:restart db", admin: true, access: accessAdmin, run: (*Admin).cmdServicesRestart},
		{name: "services:backup", group: services, usage: "services:backup NAME > FILE", help: "stream a dump to stdout (pg_dump -Fc; Redis: an RDB file)", example: "services:backup db > db.dump", admin: true, access: accessAdmin, run: (*Admin).cmdServicesBackup},
		{name: "services:backup-schedule", group: services, usage: "services:backup-schedule NAME CRON|off [--keep N]", help: "store a dump on a cron schedule, keeping the newest N (default 7)", example: "services:backup-schedule db @daily --keep 14", opts: []string{"--keep"}, admin: true, access: accessAdmin, run: (*Admin).cmdServicesBackupSchedule},
		{name: "services:backups", group: services, usage: "services:backups NAME", help: "list the service's stored dumps, newest first", example: "services:backups db", admin: true, access: accessAdmin, run: (*Admin).cmdServicesBackups},
		{name: "services:restore", group: services, usage: "services:restore NAME [ID|-] [< FILE]", help: "replace the data with a stored dump or one from stdin; one of another kind or truncated is refused, data unchanged", example: "services:restore db < db.dump", flags: []string{"-"}, admin: true, access: accessAdmin, run: (*Admin).cmdServicesRestore},
		{name: "services:expose", group: services, usage: "services:expose NAME [IP:]PORT|off", help: "publish the service's port on the host (127.0.0.1 unless IP says otherwise); off: linked apps only again", example: "services:expose db 15432", admin: true, access: accessAdmin, run: (*Admin).cmdServicesExpose},
		{name: "services:upgrade", group: services, usage: "services:upgrade NAME", help: "move a PostgreSQL service's data to the newest major this node has an image of, after storing a backup", example: "services:upgrade db", admin: true, access: accessAdmin, run: (*Admin).cmdServicesUpgrade},
		{name: "services:destroy", group: services, usage: "services:destroy NAME --force [--purge]", help: "delete the service and its data (refused while linked); its newest stored dump stays unless --purge", example: "services:destroy db --force", flags: []string{"--force", "--purge"}, admin: true, access: accessAdmin, run: (*Admin).cmdServicesDestroy},
	}
}

func (a *Admin) cmdServicesCreate(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	req := daemon.CreateServiceRequest{Type: c.args[0], Name: c.args[1]}
	if v := lastOpt(c, "--memory"); v != "" {
		n, err := config.ParseSize(v)
		if err != nil || n == 0 {
			return usageError{fmt.Sprintf("--memory %s: want a size like 256m or 1g", v)}
		}
		req.MemoryBytes = n
	}
	_, err := a.eng.CreateService(ctx, req, c.out)
	return err
}

func (a *Admin) cmdServices(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	svcs, err := a.eng.Services(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, svcs)
	}
	if len(svcs) == 0 {
		fmt.Fprintln(c.out, "No services (services:create postgres NAME makes one)")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tMEMORY\tLINKED APPS")
	for _, s := range svcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, s.Status, sizeOf(s.MemoryBytes), linkedApps(s))
	}
	return tw.Flush()
}

func linkedApps(s daemon.ServiceInfo) string {
	if len(s.Links) == 0 {
		return "-"
	}
	apps := make([]string, 0, len(s.Links))
	for _, l := range s.Links {
		apps = append(apps, l.App+" ("+l.Var+")")
	}
	return strings.Join(apps, ", ")
}

func (a *Admin) cmdServicesInfo(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	s, err := a.eng.ServiceInfo(ctx, c.args[0])
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, s)
	}
	backup := "never"
	if !s.LastBackupAt.IsZero() {
		backup = s.LastBackupAt.Local().Format(time.DateTime)
	}
	schedule := "none"
	if s.BackupSchedule != "" {
		schedule = fmt.Sprintf("%s, the newest %d kept", s.BackupSchedule, s.BackupKeep)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"Name", s.Name}, {"Type", s.Type}, {"Version", s.Version}, {"Status", s.Status},
		{"Host", fmt.Sprintf("%s:%d (from linked apps)", s.Host, s.Port)}, {"Exposed", exposed(s)},
		{"Linked apps", linkedApps(s)}, {"Memory", sizeOf(s.MemoryBytes)},
		{"Volume", fmt.Sprintf("%s (%s)", s.Volume, sizeOf(s.VolumeBytes))},
		{"Last backup", backup}, {"Backup schedule", schedule}, {"Created", s.CreatedAt.Local().Format(time.DateTime)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// serviceLinkAccess: services:link and unlink change an app the way a
// deploy does; cmdServicesLink checks the key's grant of the service.
func serviceLinkAccess([]string) access { return accessWrite }

// mayLink reports whether the key may link app to service, and if not
// says why on stderr and records access:denied: an admin may; an app key
// may for its own apps and the services it was granted.
func (a *Admin) mayLink(ctx context.Context, c *call, cmd, service, app string) (bool, error) {
	p := principal(c.id)
	if p.Allows(accessAdmin, "") {
		return true, nil
	}
	if err := store.ValidateAppName(app); err != nil {
		return false, err
	}
	if !p.Allows(accessWrite, app) {
		a.denied(ctx, c.err, c.id, cmd, app, false)
		return false, nil
	}
	k, err := a.auth.keys.KeyByFingerprint(ctx, c.id.Fingerprint)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if slices.Contains(k.Services, service) {
		return true, nil
	}
	msg := fmt.Sprintf("key %s may not run %s on service %s: the key was not granted it (an admin grants it with keys:add NAME --app APP --service %s)", c.id.Name, cmd, service, service)
	fmt.Fprintf(c.err, "error: %s\n", msg)
	a.auth.recordDenied(ctx, c.id, cmd, app, msg)
	return false, nil
}

func (a *Admin) cmdServicesLink(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	if ok, err := a.mayLink(ctx, c, "services:link", c.args[0], c.args[1]); !ok {
		if err != nil {
			return err
		}
		return exitStatus(1)
	}
	l, err := a.eng.LinkService(ctx, c.args[0], c.args[1], c.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Linked %s to %s: %s is set, and %s reaches it at host %s\n", l.Service, l.App, l.Var, l.App, l.Service)
	return nil
}

func (a *Admin) cmdServicesUnlink(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	if ok, err := a.mayLink(ctx, c, "services:unlink", c.args[0], c.args[1]); !ok {
		if err != nil {
			return err
		}
		return exitStatus(1)
	}
	return a.eng.UnlinkService(ctx, c.args[0], c.args[1], c.out)
}

func (a *Admin) cmdServicesLogs(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	n := 100
	if v := lastOpt(c, "-n"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 || n > 100000 {
			return usageError{fmt.Sprintf("-n %s: want a number of lines from 0 to 100000", v)}
		}
	}
	return a.eng.ServiceLogs(ctx, c.args[0], n, c.flags["-f"], c.out)
}

func (a *Admin) cmdServicesConnect(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	stdio, done := containerStdio(ctx, c)
	defer done()
	code, err := a.eng.ConnectService(ctx, c.args[0], c.stdio.Term, stdio)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

func (a *Admin) cmdServicesRestart(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.RestartService(ctx, c.args[0], c.out)
}

func (a *Admin) cmdServicesBackup(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.BackupService(ctx, c.args[0], c.out)
}

func (a *Admin) cmdServicesRestore(ctx context.Context, c *call) error {
	switch len(c.args) {
	case 1: // stdin ("-")
		return a.eng.RestoreService(ctx, c.args[0], c.in, c.out)
	case 2:
		return a.eng.RestoreStoredService(ctx, c.args[0], c.args[1], c.out)
	}
	return usageError{fmt.Sprintf("want NAME and a dump ID or - (stdin), got %d argument(s)", len(c.args))}
}

func (a *Admin) cmdServicesBackupSchedule(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	keep := 7
	if v := lastOpt(c, "--keep"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &keep); err != nil || fmt.Sprint(keep) != v {
			return usageError{fmt.Sprintf("--keep %s: want a number of dumps", v)}
		}
	}
	name, sched := c.args[0], c.args[1]
	if err := a.eng.SetServiceBackupSchedule(ctx, name, sched, keep); err != nil {
		return err
	}
	if sched == "off" {
		fmt.Fprintf(c.out, "No more scheduled dumps of %s; the stored ones stay (services:backups %s)\n", name, name)
		return nil
	}
	fmt.Fprintf(c.out, "A dump of %s will be stored on %q, the newest %d kept (services:backups %s lists them)\n", name, sched, keep, name)
	return nil
}

func (a *Admin) cmdServicesBackups(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	bs, err := a.eng.ServiceBackups(ctx, c.args[0])
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		fmt.Fprintf(c.out, "No stored dumps of %s (services:backup-schedule %s @daily stores them)\n", c.args[0], c.args[0])
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTAKEN\tSIZE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", b.ID, b.CreatedAt.Local().Format(time.DateTime), sizeOf(b.Bytes))
	}
	return tw.Flush()
}

func (a *Admin) cmdServicesDestroy(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if !c.flags["--force"] {
		return usageError{fmt.Sprintf("this deletes service %s and its data; repeat with --force", c.args[0])}
	}
	return a.eng.DestroyService(ctx, c.args[0], c.flags["--purge"], c.out)
}

// exposed words where the service is published on the host.
func exposed(s daemon.ServiceInfo) string {
	if s.Expose == "" {
		return fmt.Sprintf("no (services:expose %s PORT publishes it on this host)", s.Name)
	}
	return s.Expose + " (on the host)"
}

func (a *Admin) cmdServicesExpose(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	_, err := a.eng.ExposeService(ctx, c.args[0], c.args[1], c.out)
	return err
}

func (a *Admin) cmdServicesUpgrade(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.UpgradeService(ctx, c.args[0], c.out)
}
