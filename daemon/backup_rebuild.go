package daemon

import (
	"context"
	"fmt"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// rebuildMissing takes the apps of plan whose current release's image is
// gone (a restored node: archives hold no images) out of the plan, and
// builds each again from its repository at the release's commit, in the
// background, as a deploy by xcloud: the events show each build and
// deploy, and the app answers 503 until its new release serves.
func (d *Daemon) rebuildMissing(ctx context.Context, plan reconcilePlan) reconcilePlan {
	var missing []store.Release
	keep := plan.apps[:0:0]
	for _, a := range plan.apps {
		if plan.static[a.Name] {
			keep = append(keep, a)
			continue
		}
		rel, err := d.store.CurrentRelease(ctx, a.Name)
		if err != nil || rel.Image == "" || rel.CommitSHA == "" {
			keep = append(keep, a)
			continue
		}
		ok, err := d.rt.ImageExists(ctx, rel.Image)
		if err != nil || ok {
			keep = append(keep, a)
			continue
		}
		missing = append(missing, rel)
	}
	if len(missing) == 0 {
		return plan
	}
	plan.apps = keep
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		for _, rel := range missing {
			if ctx.Err() != nil {
				return
			}
			d.rebuildRelease(ctx, rel)
		}
	}()
	return plan
}

// rebuildRelease deploys the commit of rel again, logging its output.
func (d *Daemon) rebuildRelease(ctx context.Context, rel store.Release) {
	log := d.log.With("app", rel.App, "release", rel.Version, "commit", short(rel.CommitSHA))
	log.Warn("the current release's image is missing (a restored node?): building it again from the repository")
	dir := gitreceive.RepoDir(d.opts.ReposDir, rel.App)
	ref, _, err := deployHead(dir)
	if err != nil {
		log.Error("cannot rebuild: no repository to build from", "err", err)
		d.recordRebuildFailure(ctx, rel, err)
		return
	}
	// The deploy's output goes to the log a line at a time.
	out := &LineWriter{Emit: func(line string) error {
		if line != "" {
			log.Info("rebuild", "output", line)
		}
		return nil
	}}
	err = d.Deploy(store.WithActor(ctx, "xcloud"), gitreceive.Push{
		App: rel.App, RepoDir: dir, Ref: ref, NewSHA: rel.CommitSHA,
		Pusher: gitreceive.Identity{Name: "xcloud", Admin: true},
	}, out)
	out.Flush()
	if err != nil {
		log.Error("rebuild of the missing image failed; the app answers 503 until a push", "err", err)
		return
	}
	log.Info("rebuilt and serving")
}

// recordRebuildFailure records, as a failed deploy, a rebuild that could
// not start a deploy at all (which would have recorded its own failure).
func (d *Daemon) recordRebuildFailure(ctx context.Context, rel store.Release, err error) {
	_, aerr := d.store.AddEvent(store.WithActor(context.WithoutCancel(ctx), "xcloud"), store.Event{
		Type: store.EventDeployFailed, App: rel.App,
		Message: fmt.Sprintf("v%d's image is missing and cannot be built again: %v", rel.Version, err),
	})
	if aerr != nil {
		d.log.Error("record event", "err", aerr)
	}
}
