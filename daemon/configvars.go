package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/store"
)

var configNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// reservedVar reports names the daemon sets itself.
func reservedVar(name string) bool {
	return name == "PORT" || strings.HasPrefix(name, "XCLOUD_")
}

func varAAD(app, name string) []byte { return []byte(app + "\x00" + name) }
func snapshotAAD(app string) []byte  { return []byte(app + "\x00\x00release") }

// configVars returns the app's config vars in plain text.
func (d *Daemon) configVars(ctx context.Context, app string) (map[string]string, error) {
	sealed, err := d.store.ConfigVars(ctx, app)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sealed))
	for name, v := range sealed {
		plain, err := d.opts.Secrets.Open(v, varAAD(app, name))
		if err != nil {
			return nil, fmt.Errorf("config var %s of %s: %w", name, app, err)
		}
		out[name] = string(plain)
	}
	return out, nil
}

// sealSnapshot seals the config vars a release runs with; nil for none.
func (d *Daemon) sealSnapshot(app string, vars map[string]string) ([]byte, error) {
	if len(vars) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return nil, err
	}
	return d.opts.Secrets.Seal(b, snapshotAAD(app)), nil
}

// releaseVars opens a release's config snapshot.
func (d *Daemon) releaseVars(rel store.Release) (map[string]string, error) {
	vars := map[string]string{}
	if len(rel.Config) == 0 {
		return vars, nil
	}
	plain, err := d.opts.Secrets.Open(rel.Config, snapshotAAD(rel.App))
	if err != nil {
		return nil, fmt.Errorf("config of %s v%d: %w", rel.App, rel.Version, err)
	}
	if err := json.Unmarshal(plain, &vars); err != nil {
		return nil, fmt.Errorf("config of %s v%d: %w", rel.App, rel.Version, err)
	}
	return vars, nil
}

// currentSnapshot seals the app's config vars as they are now.
func (d *Daemon) currentSnapshot(ctx context.Context, app string) ([]byte, error) {
	vars, err := d.configVars(ctx, app)
	if err != nil {
		return nil, err
	}
	return d.sealSnapshot(app, vars)
}

// processEnv is a container's environment: the release's config vars, then
// what the daemon sets (which a config var cannot override).
func (d *Daemon) processEnv(rel store.Release, typ string, extra map[string]string) (map[string]string, error) {
	env, err := d.releaseVars(rel)
	if err != nil {
		return nil, err
	}
	env["XCLOUD_APP"] = rel.App
	env["XCLOUD_RELEASE"] = fmt.Sprintf("v%d", rel.Version)
	env["XCLOUD_PROCESS"] = typ
	maps.Copy(env, extra)
	return env, nil
}

// parseAssignments reads K=V arguments; values may hold '=', spaces and
// newlines (the SSH command line is split like a shell would).
func parseAssignments(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, usageError{"want at least one KEY=VALUE"}
	}
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usageError{fmt.Sprintf("%q is not KEY=VALUE", a)}
		}
		if err := checkVarName(k); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// decodeValues decodes base64 values (config:set --encoded): binary
// values and ones with quotes or newlines pass any shell that way.
func decodeValues(set map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(set))
	for k, v := range set {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--encoded: the value of %s is not base64: %v", k, err)}
		}
		out[k] = string(b)
	}
	return out, nil
}

func checkVarName(k string) error {
	if !configNameRE.MatchString(k) {
		return usageError{fmt.Sprintf("invalid config var name %q: letters, digits and _, not starting with a digit", k)}
	}
	if reservedVar(k) {
		return usageError{fmt.Sprintf("%s is set by xcloud and cannot be configured", k)}
	}
	return nil
}

func (d *Daemon) cmdConfig(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	vars, err := d.configVars(ctx, c.args[0])
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, vars)
	}
	if len(vars) == 0 {
		fmt.Fprintf(c.out, "%s has no config vars\n", c.args[0])
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(tw, "%s:\t%s\n", k, vars[k])
	}
	return tw.Flush()
}

func (d *Daemon) cmdConfigGet(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	vars, err := d.configVars(ctx, c.args[0])
	if err != nil {
		return err
	}
	v, ok := vars[c.args[1]]
	if !ok {
		return fmt.Errorf("%s has no config var %s: %w", c.args[0], c.args[1], store.ErrNotFound)
	}
	fmt.Fprintln(c.out, v)
	return nil
}

func (d *Daemon) cmdConfigSet(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one KEY=VALUE"}
	}
	set, err := parseAssignments(c.args[1:])
	if err != nil {
		return err
	}
	if c.flags["--encoded"] {
		if set, err = decodeValues(set); err != nil {
			return err
		}
	}
	return d.changeConfig(ctx, c, set, nil)
}

func (d *Daemon) cmdConfigUnset(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one KEY"}
	}
	for _, k := range c.args[1:] {
		if err := checkVarName(k); err != nil {
			return err
		}
	}
	return d.changeConfig(ctx, c, nil, c.args[1:])
}

// changeConfig applies a config change. With a release serving (and no
// --no-restart) it deploys the changed vars as a new release of the same
// image, health-checked and without downtime, and the vars change only
// when that release becomes current, in the same transaction: a failed
// deploy or a crash leaves `config` and the serving release agreeing.
// Without a release, or with --no-restart, the change is stored for the next
// deploy.
func (d *Daemon) changeConfig(ctx context.Context, c *call, set map[string]string, unset []string) error {
	app := c.args[0]
	w := &progress{w: c.out}
	unlock, err := d.lockApp(ctx, app, w)
	if err != nil {
		return err
	}
	defer unlock()

	before, err := d.configVars(ctx, app)
	if err != nil {
		return err
	}
	after := maps.Clone(before)
	maps.Copy(after, set)
	for _, k := range unset {
		delete(after, k)
	}
	if maps.Equal(before, after) {
		w.done("Nothing changed: %s already has that config", app)
		return nil
	}
	names := slices.Sorted(maps.Keys(set))
	names = append(names, unset...)
	changed := strings.Join(names, ", ")

	cur, err := d.store.CurrentRelease(ctx, app)
	if err != nil || c.flags["--no-restart"] {
		// No release yet (the first deploy picks the vars up), or the admin
		// asked to apply the change later.
		if err := d.store.SetConfigVars(ctx, app, d.sealVars(app, set), unset); err != nil {
			return err
		}
		w.step("Config vars changed: %s", changed)
		if c.flags["--no-restart"] {
			w.step("Not restarting: the next deploy or ps:restart applies the change")
		}
		return nil
	}
	w.step("Deploying config change: %s", changed)
	if err := d.redeployConfig(ctx, cur, after, "config change: "+changed, w); err != nil {
		return fmt.Errorf("%w (config unchanged)", err)
	}
	w.done("%s restarted with the new config", app)
	return nil
}

// sealVars seals each var for the config_vars table.
func (d *Daemon) sealVars(app string, vars map[string]string) map[string][]byte {
	sealed := make(map[string][]byte, len(vars))
	for k, v := range vars {
		sealed[k] = d.opts.Secrets.Seal([]byte(v), varAAD(app, k))
	}
	return sealed
}

// redeployConfig deploys cur's image and spec with vars as a new release.
func (d *Daemon) redeployConfig(ctx context.Context, cur store.Release, vars map[string]string, why string, w *progress) error {
	snap, err := d.sealSnapshot(cur.App, vars)
	if err != nil {
		return err
	}
	rel, err := d.store.CreateRelease(ctx, store.Release{
		App: cur.App, Image: cur.Image, BuildID: cur.BuildID, CommitSHA: cur.CommitSHA,
		Description: why, Spec: cur.Spec, Config: snap,
	})
	if err != nil {
		return err
	}
	if err := d.deployRelease(ctx, rel, w); err != nil {
		d.failRelease(ctx, rel, err)
		return err
	}
	return nil
}

// activate makes rel the app's current release and its config snapshot the
// app's config vars, in one transaction.
func (d *Daemon) activate(ctx context.Context, rel store.Release) error {
	vars, err := d.releaseVars(rel)
	if err != nil {
		return err
	}
	return d.store.ActivateRelease(ctx, rel.App, rel.Version, d.sealVars(rel.App, vars))
}

// pendingConfig returns the app's config vars and whether they differ from
// what rel runs with (a change made with --no-restart).
func (d *Daemon) pendingConfig(ctx context.Context, rel store.Release) (map[string]string, bool, error) {
	now, err := d.configVars(ctx, rel.App)
	if err != nil {
		return nil, false, err
	}
	was, err := d.releaseVars(rel)
	if err != nil {
		return nil, false, err
	}
	return now, !maps.Equal(now, was), nil
}
