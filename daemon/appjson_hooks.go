package daemon

// app.json's deploy-time keys: env seeds and required vars, formation,
// and the predeploy/postdeploy scripts.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/store"
)

// appJSONPlan is what a push's app.json asks of its deploy beyond the
// release spec.
type appJSONPlan struct {
	first bool // the app has never served a release
	// seed holds the config vars the first deploy sets: app.json env
	// values and generated secrets for names not set yet.
	seed map[string]string
	// firstDeploy is Heroku's scripts.postdeploy, run after the first
	// successful deploy only.
	firstDeploy string
	// formation is app.json's scale for the types with no quantity set:
	// stored once the deploy succeeds, so later edits do not rescale.
	formation map[string]int
}

// planAppJSON prints the app.json notes and checks what it asks against the
// app, before anything is built: a required config var missing at the first
// deploy, or a formation naming no process type, fails the push here.
func (d *Daemon) planAppJSON(ctx context.Context, app string, plan *buildpacks.Plan, w *progress) (appJSONPlan, error) {
	var out appJSONPlan
	aj := plan.AppJSON
	if aj == nil {
		return out, nil
	}
	for _, n := range aj.Notes {
		fmt.Fprintf(w, "       %s\n", n)
	}
	if plan.Kind == buildpacks.KindStatic || plan.StaticRoot != "" {
		if aj.Scripts != (buildpacks.Scripts{}) || len(aj.Formation) > 0 || len(aj.Env) > 0 {
			fmt.Fprintf(w, "       app.json scripts, formation and env are not used: a static site runs no container\n")
		}
		return out, nil
	}
	_, err := d.store.CurrentRelease(ctx, app)
	switch {
	case errors.Is(err, store.ErrNotFound):
		out.first = true
	case err != nil:
		return out, err
	}
	if err := checkFormationTypes(aj.Formation, plan); err != nil {
		return out, err
	}
	if len(aj.Formation) > 0 {
		set, err := d.store.Formation(ctx, app)
		if err != nil {
			return out, err
		}
		for _, typ := range slices.Sorted(maps.Keys(aj.Formation)) {
			n := aj.Formation[typ]
			if have, ok := set[typ]; ok {
				if have != n {
					fmt.Fprintf(w, "       app.json formation.%s (%d) not applied: %s is scaled to %d (ps:scale changes it)\n", typ, n, typ, have)
				}
				continue
			}
			if out.formation == nil {
				out.formation = map[string]int{}
			}
			out.formation[typ] = n
		}
	}
	if !out.first {
		return out, nil
	}
	out.firstDeploy = aj.Scripts.FirstDeploy
	vars, err := d.configVars(ctx, app)
	if err != nil {
		return out, err
	}
	out.seed, err = envSeed(aj.Env, vars, app)
	return out, err
}

// envSeed returns the config vars a first deploy sets from app.json's env
// (never overriding one already set), or an error naming every required
// var that is neither set nor given a value.
func envSeed(env []buildpacks.EnvVar, vars map[string]string, app string) (map[string]string, error) {
	seed := map[string]string{}
	var missing []string
	for _, e := range env {
		if err := CheckVarName(e.Name); err != nil {
			return nil, fmt.Errorf("app.json env.%s: %w", e.Name, err)
		}
		if _, ok := vars[e.Name]; ok {
			continue
		}
		switch {
		case e.HasValue:
			seed[e.Name] = e.Value
		case e.Generator == "secret":
			b := make([]byte, 32)
			rand.Read(b)
			seed[e.Name] = hex.EncodeToString(b)
		case e.Required:
			missing = append(missing, e.Name)
		}
	}
	if len(missing) > 0 {
		return nil, InputError{fmt.Sprintf("app.json env: %s required and not set; set with: config:set %s %s",
			strings.Join(missing, ", "), app, strings.Join(missing, "=… ")+"=…")}
	}
	return seed, nil
}

// checkFormationTypes fails on a formation entry naming a process type the
// app does not have.
func checkFormationTypes(formation map[string]int, plan *buildpacks.Plan) error {
	have := map[string]bool{}
	for _, p := range plan.Processes {
		if p.Type != "release" {
			have[p.Type] = true
		}
	}
	if plan.Kind == buildpacks.KindContainerfile {
		have["web"] = true // the image's own command
	}
	for _, typ := range slices.Sorted(maps.Keys(formation)) {
		if !have[typ] {
			return InputError{fmt.Sprintf("app.json formation.%s: the app has no process type %q (it has %s)",
				typ, typ, strings.Join(slices.Sorted(maps.Keys(have)), ", "))}
		}
	}
	return nil
}

// deploySnapshot seals the config vars a pushed release runs with: the
// app's, plus what a first deploy seeds from app.json. The seeded vars
// become the app's when the release is activated, so a failed first
// deploy sets nothing.
func (d *Daemon) deploySnapshot(ctx context.Context, app string, aj appJSONPlan, w *progress) ([]byte, error) {
	if len(aj.seed) == 0 {
		return d.currentSnapshot(ctx, app)
	}
	vars, err := d.configVars(ctx, app)
	if err != nil {
		return nil, err
	}
	w.step("Setting config vars from app.json: %s", strings.Join(slices.Sorted(maps.Keys(aj.seed)), ", "))
	for k, v := range aj.seed {
		if _, ok := vars[k]; !ok {
			vars[k] = v
		}
	}
	return d.sealSnapshot(app, vars)
}

// afterDeploy finishes a successful push: it stores app.json's initial
// scale and, after the first deploy, runs Heroku's scripts.postdeploy,
// whose failure is reported without undoing the release.
func (d *Daemon) afterDeploy(ctx context.Context, rel store.Release, aj appJSONPlan, w *progress) {
	if len(aj.formation) > 0 {
		if err := d.store.SetFormation(context.WithoutCancel(ctx), rel.App, aj.formation); err != nil {
			d.log.Error("store app.json formation", "app", rel.App, "err", err)
		}
	}
	if aj.first && aj.firstDeploy != "" {
		// Run it in the image the release runs: predeploy may have made a new one.
		if cur, err := d.store.GetRelease(ctx, rel.App, rel.Version); err == nil {
			rel = cur
		}
		if err := d.runOneOffStep(ctx, rel, "postdeploy", "first-deploy script (app.json scripts.postdeploy)", aj.firstDeploy, w, nil); err != nil {
			w.step("Warning: %v; v%d keeps serving", err, rel.Version)
		}
	}
}

// runPredeploy runs app.json's scripts.dokku.predeploy in rel's image and,
// as Dokku does, keeps what it wrote: the container is committed to a new
// image, which the release then runs. Failing fails the deploy.
func (d *Daemon) runPredeploy(ctx context.Context, rel store.Release, spec releaseSpec, w *progress) (store.Release, error) {
	if spec.Predeploy == "" {
		return rel, nil
	}
	commit := func(ctx context.Context, id string) error {
		base, err := d.rt.ImageConfigOf(ctx, rel.Image)
		if err != nil {
			return err
		}
		vars, err := d.releaseVars(rel)
		if err != nil {
			return err
		}
		// The container ran with the config vars: none may stay in the image.
		hide := append(slices.Sorted(maps.Keys(vars)), "XCLOUD_APP", "XCLOUD_RELEASE", "XCLOUD_PROCESS")
		// Containers inherit the image's labels: the one-off mark must go.
		img, err := d.rt.Commit(ctx, id, base, hide, []string{labelOneOff})
		if err != nil {
			return err
		}
		if err := d.store.SetReleaseImage(ctx, rel.App, rel.Version, img); err != nil {
			d.removeImage(ctx, img)
			return err
		}
		rel.Image = img
		return nil
	}
	if err := d.runOneOffStep(ctx, rel, "predeploy", "predeploy (app.json scripts.dokku.predeploy)", spec.Predeploy, w, commit); err != nil {
		return rel, err
	}
	return rel, nil
}

// runPostdeploy runs app.json's scripts.dokku.postdeploy after the swap;
// its failure is reported, and the release keeps serving.
func (d *Daemon) runPostdeploy(ctx context.Context, rel store.Release, spec releaseSpec, w *progress) {
	if spec.Postdeploy == "" {
		return
	}
	if err := d.runOneOffStep(ctx, rel, "postdeploy", "postdeploy (app.json scripts.dokku.postdeploy)", spec.Postdeploy, w, nil); err != nil {
		d.log.Warn("postdeploy failed", "app", rel.App, "release", rel.Version, "err", err)
		w.step("Warning: %v; v%d keeps serving", err, rel.Version)
	}
}

// runOneOffStep runs one deploy step's command (release command, predeploy,
// postdeploy) once in a one-off container of rel, streaming its output,
// bounded by the build timeout. A non-zero exit is an error. When it
// succeeds, after is called with the stopped container before it is
// removed.
func (d *Daemon) runOneOffStep(ctx context.Context, rel store.Release, typ, what, cmd string, w *progress, after func(context.Context, string) error) error {
	w.step("Running %s: %s", what, cmd)
	cs, err := d.oneOffSpec(ctx, rel, typ, shellCommand(cmd), nil)
	if err != nil {
		return err
	}
	tctx := ctx
	if d.opts.BuildTimeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, d.opts.BuildTimeout)
		defer cancel()
	}
	c, err := d.rt.Run(tctx, cs)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer d.removeContainer(context.WithoutCancel(ctx), c.ID)
	code, err := d.runToEnd(tctx, c.ID, w.indent())
	if err != nil {
		if errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("%s %q did not finish within %s (the build timeout)", what, cmd, d.opts.BuildTimeout)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return fmt.Errorf("%s %q exited with status %d", what, cmd, code)
	}
	if after != nil {
		if err := after(ctx, c.ID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// removeImage removes an image the deploy made and no release uses.
func (d *Daemon) removeImage(ctx context.Context, ref string) {
	if err := d.rt.RemoveImage(context.WithoutCancel(ctx), ref); err != nil {
		d.log.Warn("remove image", "image", ref, "err", err)
	}
}
