package daemon

import (
	"bytes"
	"context"
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

// changeConfig stores a config change and, unless --no-restart, deploys it
// as a new release of the same image, health-checked and without downtime.
// When that deploy fails the change is undone and the old release serves on.
func (d *Daemon) changeConfig(ctx context.Context, c *call, set map[string]string, unset []string) error {
	app := c.args[0]
	w := &progress{w: c.out}
	unlock, err := d.lockApp(ctx, app, w)
	if err != nil {
		return err
	}
	defer unlock()

	before, err := d.store.ConfigVars(ctx, app)
	if err != nil {
		return err
	}
	sealed := make(map[string][]byte, len(set))
	for k, v := range set {
		sealed[k] = d.opts.Secrets.Seal([]byte(v), varAAD(app, k))
	}
	if err := d.store.SetConfigVars(ctx, app, sealed, unset); err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(set))
	names = append(names, unset...)
	w.step("Config vars changed: %s", strings.Join(names, ", "))

	cur, err := d.store.CurrentRelease(ctx, app)
	if err != nil || c.flags["--no-restart"] {
		if c.flags["--no-restart"] {
			w.step("Not restarting: the next deploy or ps:restart applies the change")
		}
		return nil // no release yet: the first deploy picks the vars up
	}
	if err := d.redeployConfig(ctx, cur, "config change: "+strings.Join(names, ", "), w); err != nil {
		d.restoreConfig(ctx, app, before, set)
		return fmt.Errorf("%w (config change undone)", err)
	}
	w.done("%s restarted with the new config", app)
	return nil
}

// redeployConfig deploys cur's image and spec with the app's current config
// vars as a new release.
func (d *Daemon) redeployConfig(ctx context.Context, cur store.Release, why string, w *progress) error {
	snap, err := d.currentSnapshot(ctx, cur.App)
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

// restoreConfig puts back the sealed values from before a change.
func (d *Daemon) restoreConfig(ctx context.Context, app string, before map[string][]byte, set map[string]string) {
	var added []string
	for k := range set {
		if _, ok := before[k]; !ok {
			added = append(added, k)
		}
	}
	if err := d.store.SetConfigVars(context.WithoutCancel(ctx), app, before, added); err != nil {
		d.log.Error("undo config change", "app", app, "err", err)
	}
}

// configChanged reports whether the app's config vars differ from what rel
// runs with.
func (d *Daemon) configChanged(ctx context.Context, rel store.Release) (bool, error) {
	now, err := d.configVars(ctx, rel.App)
	if err != nil {
		return false, err
	}
	was, err := d.releaseVars(rel)
	if err != nil {
		return false, err
	}
	a, _ := json.Marshal(now)
	b, _ := json.Marshal(was)
	return !bytes.Equal(a, b), nil
}
