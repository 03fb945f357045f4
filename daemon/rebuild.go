package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

// Rebuild builds the deploy branch's commit again and deploys it, as a
// push of it would (Dokku's ps:rebuild): for a stack image that changed,
// or a build that depends on something outside the repository. Progress
// goes to out; an app never pushed to matches ErrNoRelease.
func (d *Daemon) Rebuild(ctx context.Context, app string, by gitreceive.Identity, out io.Writer) error {
	dir := gitreceive.RepoDir(d.opts.ReposDir, app)
	ref, sha, err := deployHead(dir)
	if err != nil {
		return err
	}
	// OldSHA "" : a rebuild, never the "up-to-date" shortcut of a re-push.
	// It builds the image from its definition, the Containerfile.
	return d.Deploy(withContainerfileBuild(ctx), gitreceive.Push{App: app, RepoDir: dir, Ref: ref, NewSHA: sha, Pusher: by}, out)
}

// deployHead returns the branch a push deploys (main, else master) and its
// commit.
func deployHead(repoDir string) (ref, sha string, err error) {
	repo, err := git.PlainOpen(repoDir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", "", ErrNoRelease
	}
	if err != nil {
		return "", "", fmt.Errorf("open repository: %w", err)
	}
	for _, name := range []plumbing.ReferenceName{"refs/heads/main", "refs/heads/master"} {
		r, err := repo.Reference(name, true)
		if err == nil {
			return name.String(), r.Hash().String(), nil
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return "", "", fmt.Errorf("read %s: %w", name, err)
		}
	}
	return "", "", ErrNoRelease
}
