package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// PreviewOptions bound preview apps ([previews] in xcloud.toml).
type PreviewOptions struct {
	// MaxPerApp is how many previews one app may have; 0 takes
	// DefaultMaxPreviews.
	MaxPerApp int
	// IdleTTL destroys a preview whose branch has not been pushed for
	// that long; 0 keeps previews until their branch is deleted.
	IdleTTL time.Duration
}

// DefaultMaxPreviews is [previews] max_per_app's default.
const DefaultMaxPreviews = 5

// previewSep joins an app's name and a branch's into the preview's name.
const previewSep = "--"

// maxAppName is the longest app name (a DNS label).
const maxAppName = 63

// previewOverridesAAD binds the sealed overrides to what they are; the
// app's name is left out so they survive apps:rename.
var previewOverridesAAD = []byte("xcloud\x00previews:config")

// previewSweepEvery is how often idle previews and those of destroyed
// apps are looked for.
const previewSweepEvery = time.Minute

var _ gitreceive.BranchDeployer = (*Daemon)(nil)

// PreviewName is the app that previews branch of app: APP--BRANCH with the
// branch lowercased, every run of other characters than letters and
// digits made one '-', and cut (with a hash of the whole branch name, so
// long names stay apart) to keep the name within 63 characters.
func PreviewName(app, branch string) (string, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(branch) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	prefix := app + previewSep
	if s == "" || len(prefix)+len(s) > maxAppName {
		sum := sha256.Sum256([]byte(branch))
		tag := hex.EncodeToString(sum[:3])
		room := maxAppName - len(prefix) - len(tag) - 1
		if room < 0 || (s == "" && len(prefix)+len(tag) > maxAppName) {
			return "", InputError{Msg: fmt.Sprintf("%s's name is too long to name previews after it (%s + a branch must fit in %d characters)", app, prefix, maxAppName)}
		}
		if len(s) > room {
			s = strings.TrimRight(s[:room], "-")
		}
		if s == "" {
			s = tag
		} else {
			s += "-" + tag
		}
	}
	name := prefix + s
	if err := store.ValidateAppName(name); err != nil {
		return "", InputError{Msg: fmt.Sprintf("branch %q gives no valid app name: %v", branch, err)}
	}
	return name, nil
}

// EnablePreviews makes pushes of branches other than the deployed one
// deploy previews of app.
func (d *Daemon) EnablePreviews(ctx context.Context, app string) error {
	if p, err := d.store.GetPreview(ctx, app); err == nil {
		return InputError{Msg: fmt.Sprintf("%s is a preview of %s; previews have no previews", app, p.Parent)}
	}
	return d.store.SetPreviewsEnabled(ctx, app, true)
}

// DisablePreviews makes pushes of other branches deploy nothing again;
// existing previews stay until their branch is deleted or they idle out.
func (d *Daemon) DisablePreviews(ctx context.Context, app string) error {
	return d.store.SetPreviewsEnabled(ctx, app, false)
}

// PreviewsOf lists app's previews.
func (d *Daemon) PreviewsOf(ctx context.Context, app string) ([]store.Preview, bool, error) {
	on, _, err := d.store.PreviewsEnabled(ctx, app)
	if err != nil {
		return nil, false, err
	}
	ps, err := d.store.Previews(ctx, app)
	return ps, on, err
}

// previewOverrides opens app's preview config overrides.
func (d *Daemon) previewOverrides(sealed []byte) (map[string]string, error) {
	vars := map[string]string{}
	if len(sealed) == 0 {
		return vars, nil
	}
	plain, err := d.opts.Secrets.Open(sealed, previewOverridesAAD)
	if err != nil {
		return nil, fmt.Errorf("open preview overrides: %w", err)
	}
	return vars, json.Unmarshal(plain, &vars)
}

// SetPreviewConfig sets config vars app's previews get on top of app's
// own, from their next deploy; an empty value removes an override.
func (d *Daemon) SetPreviewConfig(ctx context.Context, app string, set map[string]string) error {
	for k := range set {
		if err := CheckVarName(k); err != nil {
			return err
		}
	}
	on, sealed, err := d.store.PreviewsEnabled(ctx, app)
	if err != nil {
		return err
	}
	if !on {
		return InputError{Msg: fmt.Sprintf("previews of %s are not enabled: run previews:enable %s first", app, app)}
	}
	vars, err := d.previewOverrides(sealed)
	if err != nil {
		return err
	}
	for k, v := range set {
		if v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return err
	}
	return d.store.SetPreviewOverrides(ctx, app, d.opts.Secrets.Seal(b, previewOverridesAAD))
}

// PreviewConfigNames lists the names of app's preview overrides.
func (d *Daemon) PreviewConfigNames(ctx context.Context, app string) ([]string, error) {
	_, sealed, err := d.store.PreviewsEnabled(ctx, app)
	if err != nil {
		return nil, err
	}
	vars, err := d.previewOverrides(sealed)
	return slices.Sorted(maps.Keys(vars)), err
}

// isPreview reports whether app is a preview (no cron, no domains).
func (d *Daemon) isPreview(ctx context.Context, app string) bool {
	_, err := d.store.GetPreview(ctx, app)
	return err == nil
}

// DeployBranch implements gitreceive.BranchDeployer: with previews of the
// app on, a pushed branch deploys as its preview app (created on its first
// push) and a deleted one destroys it. With previews off it takes nothing.
func (d *Daemon) DeployBranch(ctx context.Context, p gitreceive.Push, out io.Writer) (bool, error) {
	on, sealed, err := d.store.PreviewsEnabled(ctx, p.App)
	if err != nil || !on {
		return false, err
	}
	ctx = store.WithActor(ctx, p.Pusher.Name)
	branch := strings.TrimPrefix(p.Ref, "refs/heads/")
	name, err := PreviewName(p.App, branch)
	if err != nil {
		return true, err
	}
	w := &progress{w: out}
	cur, err := d.store.GetPreview(ctx, name)
	mine := err == nil && cur.Parent == p.App && cur.Branch == branch
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return true, err
	}
	if p.NewSHA == "" { // the branch was deleted
		if !mine {
			return false, nil
		}
		gone, err := d.Destroy(ctx, name, io.Discard)
		if err != nil {
			return true, err
		}
		w.step("Preview %s of branch %s destroyed (%d containers)", name, branch, gone.Containers)
		return true, nil
	}
	if !mine {
		if err == nil {
			return true, InputError{Msg: fmt.Sprintf("branch %s would be previewed as %s, which previews branch %s of %s; rename the branch", branch, name, cur.Branch, cur.Parent)}
		}
		if _, err := d.store.GetApp(ctx, name); err == nil {
			return true, InputError{Msg: fmt.Sprintf("branch %s would be previewed as %s, an app that exists already; rename the branch", branch, name)}
		}
		ps, err := d.store.Previews(ctx, p.App)
		if err != nil {
			return true, err
		}
		if max := cmpOrInt(d.opts.Previews.MaxPerApp, DefaultMaxPreviews); len(ps) >= max {
			return true, InputError{Msg: fmt.Sprintf("%s has %d previews, the most [previews] max_per_app allows; delete a branch (git push REMOTE :BRANCH) first", p.App, len(ps))}
		}
		if _, err := d.createApp(ctx, name); err != nil {
			return true, err
		}
		if err := d.store.AddPreview(ctx, store.Preview{App: name, Parent: p.App, Branch: branch}); err != nil {
			return true, err
		}
		// Previews run one web container whatever app.json asks for.
		if err := d.store.SetFormation(ctx, name, map[string]int{"web": 1}); err != nil {
			return true, err
		}
		w.step("Created preview %s of branch %s", name, branch)
	} else if err := d.store.TouchPreview(ctx, name); err != nil {
		return true, err
	}
	if err := d.copyPreviewConfig(ctx, p.App, name, sealed); err != nil {
		return true, err
	}
	pp := p
	pp.App = name
	return true, d.Deploy(ctx, pp, out)
}

// copyPreviewConfig makes the preview's config vars its parent's plus the
// overrides, writing only when they differ.
func (d *Daemon) copyPreviewConfig(ctx context.Context, parent, preview string, sealed []byte) error {
	want, err := d.configVars(ctx, parent)
	if err != nil {
		return err
	}
	over, err := d.previewOverrides(sealed)
	if err != nil {
		return err
	}
	maps.Copy(want, over)
	have, err := d.configVars(ctx, preview)
	if err != nil {
		return err
	}
	if maps.Equal(want, have) {
		return nil
	}
	var unset []string
	for k := range have {
		if _, ok := want[k]; !ok {
			unset = append(unset, k)
		}
	}
	return d.store.SetConfigVars(ctx, preview, d.sealVars(preview, want), unset)
}

func cmpOrInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// sweepPreviews destroys previews idle beyond [previews] idle_ttl and
// those whose app is gone.
func (d *Daemon) sweepPreviews(ctx context.Context) {
	ps, err := d.store.Previews(ctx, "")
	if err != nil {
		d.log.Error("list previews", "err", err)
		return
	}
	for _, p := range ps {
		why := ""
		if _, err := d.store.GetApp(ctx, p.Parent); errors.Is(err, store.ErrNotFound) {
			why = "its app " + p.Parent + " is gone"
		} else if ttl := d.opts.Previews.IdleTTL; ttl > 0 && time.Since(p.PushedAt) > ttl {
			why = fmt.Sprintf("branch %s not pushed for %s", p.Branch, ttl)
		}
		if why == "" {
			continue
		}
		if _, err := d.Destroy(ctx, p.App, io.Discard); err != nil && ctx.Err() == nil {
			d.log.Error("destroy preview", "app", p.App, "err", err)
			continue
		}
		d.log.Info("destroyed preview", "app", p.App, "why", why)
	}
}
