package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/store"
)

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

// CheckVarName accepts a config var name or returns an *Error matching
// ErrInvalidVarName that says why not.
func CheckVarName(k string) error {
	if !buildpacks.ValidEnvName(k) {
		return &Error{Msg: fmt.Sprintf("invalid config var name %q: letters, digits and _, not starting with a digit", k), Err: ErrInvalidVarName}
	}
	if reservedVar(k) {
		return &Error{Msg: fmt.Sprintf("%s is set by xcloud and cannot be configured", k), Err: ErrInvalidVarName}
	}
	return nil
}

// Config returns the app's config vars in plain text.
func (d *Daemon) Config(ctx context.Context, app string) (map[string]string, error) {
	return d.configVars(ctx, app)
}

// SetConfigRequest changes an app's config vars: Set adds or replaces,
// Unset removes. Names must pass CheckVarName.
type SetConfigRequest struct {
	App   string
	Set   map[string]string
	Unset []string
	// NoRestart stores the change for the next deploy or restart instead
	// of deploying it now.
	NoRestart bool
}

// SetConfig applies a config change, writing progress to out. With a
// release serving (and no NoRestart) it deploys the changed vars as a new release of the same
// image, health-checked and without downtime, and the vars change only
// when that release becomes current, in the same transaction: a failed
// deploy or a crash leaves `config` and the serving release agreeing.
// Without a release, or with NoRestart, the change is stored for the next
// deploy.
func (d *Daemon) SetConfig(ctx context.Context, req SetConfigRequest, out io.Writer) error {
	app, set, unset := req.App, req.Set, req.Unset
	w := &progress{w: out}
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
	// Names only: a value never reaches the event log or a notifier.
	data := map[string]any{"set": append([]string{}, slices.Sorted(maps.Keys(set))...), "unset": append([]string{}, unset...)}

	cur, err := d.store.CurrentRelease(ctx, app)
	if err != nil || req.NoRestart {
		// No release yet (the first deploy picks the vars up), or the admin
		// asked to apply the change later.
		if err := d.store.SetConfigVars(ctx, app, d.sealVars(app, set), unset); err != nil {
			return err
		}
		w.step("Config vars changed: %s", changed)
		d.record(ctx, store.EventConfigChanged, app, fmt.Sprintf("config vars of %s changed: %s", app, changed), data)
		if req.NoRestart {
			w.step("Not restarting: the next deploy or ps:restart applies the change")
		}
		return nil
	}
	w.step("Deploying config change: %s", changed)
	rel, err := d.redeployConfig(ctx, cur, after, "config change: "+changed, w)
	if err != nil {
		return fmt.Errorf("%w (config unchanged)", err)
	}
	data["version"] = rel.Version
	d.record(ctx, store.EventConfigChanged, app, fmt.Sprintf("config vars of %s changed: %s (v%d)", app, changed, rel.Version), data)
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

// redeployConfig deploys cur's image and spec with vars as a new release,
// which it returns.
func (d *Daemon) redeployConfig(ctx context.Context, cur store.Release, vars map[string]string, why string, w *progress) (store.Release, error) {
	snap, err := d.sealSnapshot(cur.App, vars)
	if err != nil {
		return store.Release{}, err
	}
	rel, err := d.store.CreateRelease(ctx, store.Release{
		App: cur.App, Image: cur.Image, BuildID: cur.BuildID, CommitSHA: cur.CommitSHA,
		Description: why, Spec: cur.Spec, Config: snap,
	})
	if err != nil {
		return store.Release{}, err
	}
	if err := d.deployRelease(ctx, rel, w); err != nil {
		d.failRelease(ctx, rel, err)
		return store.Release{}, err
	}
	return rel, nil
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
