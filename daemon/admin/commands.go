// Package admin is the SSH door's admin commands (`ssh xcloud@HOST
// COMMAND`): it parses arguments, checks what a key may do, calls the
// engine's named operations on *daemon.Daemon and words their results and
// errors for people. It also authenticates SSH keys (Auth).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

var _ gitreceive.Commander = (*Admin)(nil)

// Admin runs the admin commands on the engine.
type Admin struct {
	eng  *daemon.Daemon
	auth *Auth
	log  *slog.Logger

	tokenSetup // the tokens:* commands' (tokens.go)
}

// New returns the command runner for the engine eng, with auth for the
// keys:* commands and the access:denied events.
func New(eng *daemon.Daemon, auth *Auth, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.Default().With("system", "admin")
	}
	return &Admin{eng: eng, auth: auth, log: log}
}

// command is one admin command reachable as `ssh xcloud@host NAME ARGS`.
type command struct {
	name  string
	usage string // "[--json]" in it: the command prints one JSON document with --json
	help  string
	// group is the heading help lists it under; "" groups it by its name's
	// prefix ("tokens:create" under "Tokens").
	group string
	// example is one way to call it, after "ssh ... xcloud@HOST", shown
	// by help COMMAND; "" shows the usage line alone.
	example string
	admin   bool     // needs an admin key (what access: accessAdmin says)
	app     bool     // first positional argument is an app the key must have access to
	raw     bool     // arguments after the app are passed on verbatim (a command line to run)
	flags   []string // boolean flags it accepts besides --json, e.g. "--no-restart"
	opts    []string // flags taking a value, repeatable: "--app web" or "--app=web"
	// access says who may run it (see keys.go); accessFn, when set, decides
	// from the positional arguments instead.
	access   access
	accessFn func(args []string) access
	run      func(a *Admin, ctx context.Context, c *call) error
}

// call is one invocation: parsed flags and positional arguments.
type call struct {
	id    gitreceive.Identity
	args  []string
	json  bool
	flags map[string]bool
	opts  map[string][]string
	in    io.Reader
	out   io.Writer
	err   io.Writer
	stdio gitreceive.Stdio
}

// usageError marks bad arguments: the message is printed with the usage line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []command {
	const (
		apps      = "Apps"
		deploys   = "Deploys"
		processes = "Processes"
		config    = "Config"
		domains   = "Domains and TLS"
		keys      = "Keys"
		cron      = "Cron"
		logs      = "Logs and events"
		other     = "Help"
	)
	return append([]command{
		{name: "help", group: other, usage: "help [COMMAND]", help: "list commands, or show one with an example (also: COMMAND --help)", example: "help ps:scale"},
		{name: "version", group: other, usage: "version [--json]", help: "show the daemon's version", access: accessAny, run: (*Admin).cmdVersion},
		{name: "apps:create", group: apps, usage: "apps:create NAME", help: "create an app (a push by an admin also does)", example: "apps:create hello", admin: true, access: accessAdmin, run: (*Admin).cmdAppsCreate},
		{name: "apps:list", group: apps, usage: "apps:list [--json]", help: "list apps you can access, with status, release and URL", access: accessAny, run: (*Admin).cmdAppsList},
		{name: "apps:info", group: apps, usage: "apps:info APP [--json]", help: "show an app's status, URL, git remote, release, last deploy, processes and disk use", example: "apps:info hello", app: true, access: accessRead, run: (*Admin).cmdAppsInfo},
		{name: "apps:rename", group: apps, usage: "apps:rename OLD NEW", help: "rename an app: releases, domains, config, repository and logs follow, without downtime", example: "apps:rename hello hi", app: true, admin: true, run: (*Admin).cmdAppsRename},
		{name: "apps:destroy", group: apps, usage: "apps:destroy APP --force [--volumes]", help: "delete the app: containers, images, repository, routes, config vars; its volumes stay unless --volumes", example: "apps:destroy hello --force", app: true, admin: true, flags: []string{"--force", "--volumes"}, run: (*Admin).cmdAppsDestroy},
		{name: "releases", group: deploys, usage: "releases APP [--json]", help: "list an app's releases, newest first", example: "releases hello", app: true, access: accessRead, run: (*Admin).cmdReleases},
		{name: "rollback", group: deploys, usage: "rollback APP [vN]", help: "deploy an earlier release's image, spec and config vars again, without a build (default: the release before the current one)", example: "rollback hello v3", app: true, access: accessWrite, run: (*Admin).cmdRollback},
		{name: "builds", group: deploys, usage: "builds APP [--json]", help: "list an app's builds, newest first", example: "builds hello", app: true, access: accessRead, run: (*Admin).cmdBuilds},
		{name: "builds:log", group: deploys, usage: "builds:log APP [ID]", help: "show a build's output (default: the latest)", example: "builds:log hello 12", app: true, access: accessRead, run: (*Admin).cmdBuildsLog},
		{name: "builds:cancel", group: deploys, usage: "builds:cancel APP", help: "cancel the app's running build", example: "builds:cancel hello", app: true, access: accessWrite, run: (*Admin).cmdBuildsCancel},
		{name: "ps:rebuild", group: deploys, usage: "ps:rebuild APP", help: "build the deploy branch's commit again and deploy it, as a push would", example: "ps:rebuild hello", app: true, access: accessWrite, run: (*Admin).cmdPsRebuild},
		{name: "ps", group: processes, usage: "ps APP [--json]", help: "list the app's containers with release, state, uptime and restarts", example: "ps hello", app: true, access: accessRead, run: (*Admin).cmdPs},
		{name: "ps:scale", group: processes, usage: "ps:scale APP TYPE=N...", help: "run N containers of each process type (web ones load-balanced)", example: "ps:scale hello web=2 worker=1", app: true, access: accessWrite, run: (*Admin).cmdPsScale},
		{name: "ps:restart", group: processes, usage: "ps:restart APP", help: "replace every container, health-checked, without downtime", example: "ps:restart hello", app: true, access: accessWrite, run: (*Admin).cmdPsRestart},
		{name: "ps:stop", group: processes, usage: "ps:stop APP", help: "stop the app's containers until ps:start (it answers 503)", example: "ps:stop hello", app: true, access: accessWrite, run: (*Admin).cmdPsStop},
		{name: "ps:start", group: processes, usage: "ps:start APP", help: "start a stopped app at its scale", example: "ps:start hello", app: true, access: accessWrite, run: (*Admin).cmdPsStart},
		{name: "run", group: processes, usage: "run APP CMD [ARGS...]", help: "run a command in a one-off container of the current release with the app's config; one quoted argument runs as a shell line (ssh -t: a terminal)", example: "\"run hello 'echo one && echo two'\"", app: true, raw: true, access: accessWrite, run: (*Admin).cmdRun},
		{name: "resources", group: processes, usage: "resources APP [memory=SIZE] [cpus=N] [pids=N] [--json]", help: "show or (admin) set the app's container limits (defaults from xcloud.toml)", example: "resources hello memory=512m cpus=1", app: true, accessFn: resourcesAccess, run: (*Admin).cmdResources},
		{name: "config", group: config, usage: "config APP [--json]", help: "show the app's config vars", example: "config hello", app: true, access: accessRead, run: (*Admin).cmdConfig},
		{name: "config:get", group: config, usage: "config:get APP KEY", help: "print one config var's value", example: "config:get hello GREETING", app: true, access: accessRead, run: (*Admin).cmdConfigGet},
		{name: "config:set", group: config, usage: "config:set APP KEY=VALUE... [--no-restart] [--encoded]", help: "set config vars (encrypted at rest); restarts without downtime; --encoded: values are base64, as Dokku takes them", example: "config:set hello GREETING=hi \"'MSG=a b c'\"", app: true, access: accessWrite, flags: []string{"--no-restart", "--encoded"}, run: (*Admin).cmdConfigSet},
		{name: "config:unset", group: config, usage: "config:unset APP KEY... [--no-restart]", help: "remove config vars; restarts without downtime", example: "config:unset hello GREETING", app: true, access: accessWrite, flags: []string{"--no-restart"}, run: (*Admin).cmdConfigUnset},
		configImportCommand, configExportCommand,
		{name: "domains", group: domains, usage: "domains APP [--json]", help: "list the app's default host and custom domains", example: "domains hello", app: true, access: accessRead, run: (*Admin).cmdDomains},
		{name: "domains:add", group: domains, usage: "domains:add APP HOST", help: "serve the app at HOST too (HTTPS when TLS is on)", example: "domains:add hello www.example.com", app: true, access: accessWrite, run: (*Admin).cmdDomainsAdd},
		{name: "domains:remove", group: domains, usage: "domains:remove APP HOST", help: "stop serving the app at HOST", example: "domains:remove hello www.example.com", app: true, access: accessWrite, run: (*Admin).cmdDomainsRemove},
		{name: "tls:ca", group: domains, usage: "tls:ca", help: "print the local CA's root certificate (tls.mode = \"internal\") for clients to trust", example: "tls:ca > xcloud-ca.pem", admin: true, access: accessAdmin, run: (*Admin).cmdTLSCA},
		backupCommand,
		{name: "keys:add", group: keys, usage: "keys:add NAME (--admin | --app APP... [--service NAME...]) < key.pub", help: "let an SSH public key (one line on stdin) in: as an admin, or for the given apps, which it may link to the given services", example: "keys:add alice --app hello --service db < alice.pub", admin: true, flags: []string{"--admin"}, opts: []string{"--app", "--service"}, access: accessAdmin, run: (*Admin).cmdKeysAdd},
		{name: "keys:list", group: keys, usage: "keys:list [--json]", help: "list SSH keys: added ones and the admin_keys file's", admin: true, access: accessAdmin, run: (*Admin).cmdKeysList},
		{name: "keys:remove", group: keys, usage: "keys:remove NAME", help: "remove an added SSH key (admin_keys file keys: edit the file)", example: "keys:remove alice", admin: true, access: accessAdmin, run: (*Admin).cmdKeysRemove},
		{name: "cron", group: cron, usage: "cron APP [--json]", help: "list the app's cron jobs (app.json) with their next and last runs", example: "cron hello", app: true, access: accessRead, run: (*Admin).cmdCron},
		{name: "cron:run", group: cron, usage: "cron:run APP ID", help: "run a cron job now, showing its output", example: "cron:run hello 1a2b3c4d", app: true, access: accessWrite, run: (*Admin).cmdCronRun},
		{name: "cron:runs", group: cron, usage: "cron:runs APP [ID] [-n N] [--json]", help: "list stored cron runs with exit codes and durations, newest first", example: "cron:runs hello -n 5", app: true, opts: []string{"-n"}, access: accessRead, run: (*Admin).cmdCronRuns},
		{name: "cron:log", group: cron, usage: "cron:log APP [RUN]", help: "print a cron run's output (default: the latest run)", example: "cron:log hello", app: true, access: accessRead, run: (*Admin).cmdCronLog},
		{name: "logs", group: logs, usage: "logs APP [-f] [-n N] [--type TYPE] [--json]", help: "the app's output with process and time; -f follows across restarts and deploys; -f --json prints one JSON object a line", example: "logs hello -n 50 --type web", app: true, flags: []string{"-f"}, opts: []string{"-n", "--type"}, access: accessRead, run: (*Admin).cmdLogs},
		{name: "events", group: logs, usage: "events [APP] [-f] [-n N] [--json]", help: "stored events, oldest first (all apps: admin); -f follows; -f --json prints one JSON object a line", example: "events hello -n 20", flags: []string{"-f"}, opts: []string{"-n"}, accessFn: eventsAccess, run: (*Admin).cmdEvents},
	}, slices.Concat(tokenCommands(), storageCommands(), serviceCommands(),
		gitopsCommands(),
		previewCommands(),
		exportCommands(),
	)...)
}

// takesJSON reports whether the command prints JSON with --json: its usage
// says so, the one place help and the parser read it from.
func (c *command) takesJSON() bool { return strings.Contains(c.usage, "[--json]") }

// RunCommand implements gitreceive.Commander. Arguments are validated before
// anything changes; every failure is one line on stderr and a non-zero exit.
func (a *Admin) RunCommand(ctx context.Context, id gitreceive.Identity, args []string, stdio gitreceive.Stdio) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stdio.Err, "error: "+format+"\n", a...)
		return 1
	}
	if len(args) == 0 {
		return fail("no command given; run help")
	}
	// Every event the command causes names the key that ran it.
	ctx = store.WithActor(ctx, id.Name)
	args = exportAlias(args)
	var cmd *command
	cmds := commands()
	for i := range cmds {
		if cmds[i].name == args[0] {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		if near := suggest(args[0], cmds); near != "" {
			return fail("unknown command %q; did you mean %s? (help lists them all)", args[0], near)
		}
		return fail("unknown command %q; run help for the list", args[0])
	}
	if cmd.name == "help" {
		return a.help(stdio, id, args[1:])
	}
	c := &call{id: id, in: stdio.In, out: stdio.Out, err: stdio.Err, stdio: stdio, flags: map[string]bool{}, opts: map[string][]string{}}
	for rest := args[1:]; len(rest) > 0; {
		if cmd.raw && len(c.args) == 1 {
			c.args = append(c.args, rest...)
			break
		}
		arg := rest[0]
		rest = rest[1:]
		opt, val, hasVal := strings.Cut(arg, "=")
		switch {
		case arg == "--help" || arg == "-h":
			a.printCommandHelp(stdio.Out, cmd)
			return 0
		case arg == "--json" && cmd.takesJSON():
			c.json = true
		case arg == "--json":
			return fail("%s has no --json output (usage: %s)", cmd.name, cmd.usage)
		case slices.Contains(cmd.flags, arg):
			c.flags[arg] = true
		case slices.Contains(cmd.opts, opt):
			if !hasVal {
				if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
					return fail("%s: %s needs a value (usage: %s)", cmd.name, opt, cmd.usage)
				}
				val, rest = rest[0], rest[1:]
			}
			c.opts[opt] = append(c.opts[opt], val)
		case strings.HasPrefix(arg, "-"):
			return fail("%s: unknown flag %q (usage: %s)", cmd.name, arg, cmd.usage)
		default:
			c.args = append(c.args, arg)
		}
	}
	// Both doors' one permission check: Principal.Allows (daemon/access).
	p, need := principal(id), cmd.accessFor(c.args)
	if need == accessAdmin && !p.Allows(need, "") {
		app := ""
		if cmd.app && len(c.args) > 0 {
			app = c.args[0]
		}
		return a.denied(ctx, stdio.Err, id, cmd.name, app, true)
	}
	if cmd.app {
		if len(c.args) == 0 {
			return fail("%s: missing APP (usage: %s)", cmd.name, cmd.usage)
		}
		app := c.args[0]
		if err := store.ValidateAppName(app); err != nil {
			return fail("%v", err)
		}
		if !p.Allows(need, app) {
			return a.denied(ctx, stdio.Err, id, cmd.name, app, false)
		}
		if _, err := a.eng.App(ctx, app); errors.Is(err, store.ErrNotFound) {
			return fail("app %q does not exist", app)
		} else if err != nil {
			a.log.Error("command", "command", cmd.name, "err", err)
			return fail("%s failed; see the daemon log", cmd.name)
		}
	}
	if err := cmd.run(a, ctx, c); err != nil {
		var es exitStatus
		if errors.As(err, &es) {
			return int(es)
		}
		var ie inputError
		if errors.As(err, &ie) {
			return fail("%s: %s", cmd.name, ie.msg)
		}
		var die daemon.InputError
		if errors.As(err, &die) {
			return fail("%s: %s", cmd.name, die.Msg)
		}
		var ue usageError
		if errors.As(err, &ue) {
			return fail("%s: %s (usage: %s)", cmd.name, ue.msg, cmd.usage)
		}
		var de *daemon.Error
		if errors.As(err, &de) && usageKind(de.Err) {
			// Wrong arguments for what the app is: shown with the usage.
			return fail("%s: %s (usage: %s)", cmd.name, de.Msg, cmd.usage)
		}
		if errors.Is(err, daemon.ErrStaticSite) && cmd.app {
			if cmd.name == "ps:scale" {
				return fail("%s: %s is a static site: it runs no processes, so there is nothing to scale", cmd.name, c.args[0])
			}
			return fail("%s: %s is a static site: it has no container to run commands in", cmd.name, c.args[0])
		}
		if de != nil {
			return fail("%v", err)
		}
		if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrNotFound) || errors.Is(err, daemon.ErrNoRelease) {
			return fail("%v", err)
		}
		a.log.Error("command failed", "command", cmd.name, "key", id.Name, "err", err)
		return fail("%s failed: %v", cmd.name, err)
	}
	return 0
}

// usageKind reports the engine errors that are the caller's wrong
// arguments, which the command's usage line helps with.
func usageKind(err error) bool {
	return errors.Is(err, daemon.ErrNoProcessType) || errors.Is(err, daemon.ErrAlreadyServing) || errors.Is(err, daemon.ErrInvalidVarName)
}

func wantArgs(c *call, n int) error {
	if len(c.args) != n {
		return usageError{fmt.Sprintf("want %d argument(s), got %d", n, len(c.args))}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *Admin) cmdVersion(_ context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, map[string]string{"version": a.eng.Version()})
	}
	fmt.Fprintf(c.out, "xcloud %s\n", a.eng.Version())
	return nil
}

func (a *Admin) cmdAppsCreate(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app, err := a.eng.AddApp(ctx, c.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Created %s. Push to it: git push %s main\n", app.Name, a.eng.GitRemote(app.Name))
	return nil
}

func (a *Admin) cmdAppsList(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	apps, err := a.eng.Apps(ctx)
	if err != nil {
		return err
	}
	list := []daemon.AppInfo{}
	for _, info := range apps {
		if principal(c.id).Allows(accessRead, info.Name) {
			list = append(list, info)
		}
	}
	if c.json {
		return writeJSON(c.out, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(c.out, "No apps yet. Create one by pushing: git push %s main\n", a.eng.GitRemote("APP"))
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tRELEASE\tURL")
	for _, app := range list {
		rel := "-"
		if app.Version > 0 {
			rel = "v" + strconv.Itoa(app.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", app.Name, app.Status, rel, app.URL)
	}
	return tw.Flush()
}

func (a *Admin) cmdAppsInfo(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	info, err := a.eng.AppInfo(ctx, c.args[0])
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, info)
	}
	rel := "none yet (push to deploy)"
	deployed := "-"
	if info.Version > 0 {
		rel = fmt.Sprintf("v%d (%s)", info.Version, short(info.CommitSHA))
		deployed = info.DeployedAt.Format(time.RFC3339)
	}
	if info.LastDeploy == string(store.ReleaseFailed) {
		deployed += fmt.Sprintf(" (the newest release failed; releases %s says why)", info.Name)
	}
	domains := strings.Join(info.Domains, ", ")
	if domains == "" {
		domains = "-"
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nStatus:\t%s\nURL:\t%s\nGit remote:\t%s\nRelease:\t%s\nLast deploy:\t%s\nProcesses:\t%s\nDomains:\t%s\nCreated:\t%s\n",
		info.Name, info.Status, info.URL, info.GitRemote, rel, deployed, processSummary(info.Processes), domains, info.CreatedAt.Format(time.RFC3339))
	if disk := info.Disk; disk != nil {
		fmt.Fprintf(tw, "Disk:\timages %s (%d kept), build cache %s, repository %s, static files %s, logs %s\n",
			bytesIEC(disk.ImageBytes), disk.Images, bytesIEC(disk.CacheBytes), bytesIEC(disk.RepoBytes), bytesIEC(disk.StaticBytes), bytesIEC(disk.LogBytes))
	}
	return tw.Flush()
}

func (a *Admin) cmdReleases(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	rels, err := a.eng.Releases(ctx, c.args[0], 50)
	if err != nil {
		return err
	}
	if c.json {
		if rels == nil {
			rels = []store.Release{}
		}
		return writeJSON(c.out, rels)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATUS\tCOMMIT\tCREATED\tDESCRIPTION")
	for _, r := range rels {
		desc := r.Description
		if r.Error != "" {
			desc += ": " + r.Error
		}
		fmt.Fprintf(tw, "v%d\t%s\t%s\t%s\t%s\n", r.Version, r.Status, short(r.CommitSHA), r.CreatedAt.Format(time.RFC3339), desc)
	}
	return tw.Flush()
}

func (a *Admin) cmdBuilds(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	builds, err := a.eng.Builds(ctx, c.args[0], 50)
	if err != nil {
		return err
	}
	if c.json {
		if builds == nil {
			builds = []store.Build{}
		}
		return writeJSON(c.out, builds)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCOMMIT\tSTARTED\tDURATION\tERROR")
	for _, b := range builds {
		dur := "-"
		if !b.FinishedAt.IsZero() {
			dur = b.FinishedAt.Sub(b.StartedAt).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, short(b.CommitSHA), b.StartedAt.Format(time.RFC3339), dur, firstLine(b.Error))
	}
	return tw.Flush()
}

func (a *Admin) cmdBuildsLog(ctx context.Context, c *call) error {
	if len(c.args) < 1 || len(c.args) > 2 {
		return usageError{"want APP and an optional build ID"}
	}
	var id int64
	if len(c.args) == 2 {
		n, err := strconv.ParseInt(c.args[1], 10, 64)
		if err != nil || n <= 0 {
			return usageError{fmt.Sprintf("build ID must be a positive number, got %q", c.args[1])}
		}
		id = n
	}
	log, err := a.eng.BuildLog(ctx, c.args[0], id)
	if err != nil {
		return err
	}
	_, err = c.out.Write(log)
	return err
}

// processSummary counts an app's containers by type and state: "web 2
// running, worker 1 running".
func processSummary(ps []daemon.Process) string {
	if len(ps) == 0 {
		return "none running"
	}
	type key struct{ typ, state string }
	var order []key
	count := map[key]int{}
	for _, p := range ps {
		k := key{p.Type, p.State}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d %s", k.typ, count[k], k.state))
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// short is a commit's abbreviation, as git prints it.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// bytesIEC formats a byte count for people: 12.3 MiB.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
