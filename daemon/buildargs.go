package daemon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/gitsrc"
)

// buildInputs is what of the app's config a build gets.
type buildInputs struct {
	// generated is the generated Containerfile with the config vars
	// declared in its build stage; nil for the repository's own file.
	generated []byte
	// args are the build args: the configured ones ([build] args) and the
	// app's config vars, only those the Containerfile declares with ARG
	// (Podman warns about every other one).
	args map[string]string
	// vars names the config vars the build gets, for the push output.
	vars []string
}

// buildEnvDenied are names a config var may hold but a build must not take
// from it: the build images' own environment.
var buildEnvDenied = map[string]bool{"PATH": true, "HOME": true, "HOSTNAME": true, "PWD": true, "SHELL": true, "USER": true}

// buildConfig decides what of the app's config vars the build of plan
// sees: a repository's Containerfile gets those it declares with ARG, a
// generated one declares them all in its build stage, where the app's build
// steps (next build, vite build) see them. Values travel only as build
// args: a run stage never declares them, so they stay out of the run
// image's config and layers unless the app's own build writes them there.
func buildConfig(plan *buildpacks.Plan, fsys fs.FS, configured, vars map[string]string) (buildInputs, error) {
	var names []string
	for _, n := range slices.Sorted(maps.Keys(vars)) {
		if !reservedVar(n) && !buildEnvDenied[n] {
			names = append(names, n)
		}
	}
	var in buildInputs
	var declared []string
	if plan.Generated != nil {
		in.generated, _ = buildpacks.DeclareArgs(plan.Generated, names)
		declared = buildpacks.DeclaredArgs(in.generated)
	} else {
		b, err := readLimited(fsys, plan.Containerfile)
		if err != nil {
			return in, fmt.Errorf("read %s: %w", plan.Containerfile, err)
		}
		declared = buildpacks.DeclaredArgs(b)
	}
	in.args = map[string]string{}
	for k, v := range configured {
		if slices.Contains(declared, k) {
			in.args[k] = v
		}
	}
	for _, n := range names {
		if slices.Contains(declared, n) {
			in.args[n] = vars[n] // the app's own value wins over [build] args
			in.vars = append(in.vars, n)
		}
	}
	if len(in.args) == 0 {
		in.args = nil
	}
	return in, nil
}

// buildConfigFor reads the app's config vars and decides what its build
// gets (see buildConfig).
func (d *Daemon) buildConfigFor(ctx context.Context, app string, plan *buildpacks.Plan, src *gitsrc.Source) (buildInputs, error) {
	vars, err := d.configVars(ctx, app)
	if err != nil {
		return buildInputs{}, err
	}
	return buildConfig(plan, src.FS(), d.opts.BuildArgs, vars)
}

// readLimited reads a file of the pushed tree, at most 4 MiB.
func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const limit = 4 << 20
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
