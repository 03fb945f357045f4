package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// Polling bounds (git:sync:auto).
const (
	// MinSyncInterval is the shortest git:sync:auto interval: each poll
	// asks the forge for its refs.
	MinSyncInterval = 5 * time.Second
	// DefaultSyncInterval is git:sync:auto's interval when none is given.
	DefaultSyncInterval = time.Minute
	// pollTick is how often the poller looks for apps that are due.
	pollTick = time.Second
	// pollConcurrency bounds the polls (and the syncs they start) at once.
	pollConcurrency = 2
)

// SetAutoSync turns polling of the app's git:sync source on (every
// interval) or off. Turning it on needs a source (a git:sync done once).
func (d *Daemon) SetAutoSync(ctx context.Context, app string, on bool, interval time.Duration) error {
	if interval == 0 {
		interval = DefaultSyncInterval
	}
	if interval < MinSyncInterval {
		return InputError{Msg: fmt.Sprintf("--interval must be at least %s, got %s", MinSyncInterval, interval)}
	}
	if on {
		g, err := d.store.GitSync(ctx, app)
		if (err == nil && g.URL == "") || errors.Is(err, store.ErrNotFound) {
			return InputError{Msg: fmt.Sprintf("%s has no git:sync source yet: run git:sync %s URL first", app, app)}
		} else if err != nil {
			return err
		}
	}
	if err := d.store.SetGitSyncAuto(ctx, app, on, interval); err != nil {
		return err
	}
	d.gitops.mu.Lock()
	delete(d.gitops.polled, app) // a new setting polls at once
	d.gitops.mu.Unlock()
	return nil
}

// startGitOps starts the poller; it stops with the daemon's background
// work (Close).
func (d *Daemon) startGitOps() {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.poll(d.bgctx)
	}()
}

// poll runs until ctx ends: every tick it starts a poll of each app that
// is due, at most pollConcurrency at once; an app whose poll still runs
// is not polled again meanwhile. Now and then it sweeps idle previews.
func (d *Daemon) poll(ctx context.Context) {
	sem := make(chan struct{}, pollConcurrency)
	running := map[string]bool{}
	done := make(chan string)
	t := time.NewTicker(pollTick)
	defer t.Stop()
	inflight := 0
	lastSweep := time.Now()
	var polled storeRead[[]store.GitSync]
	defer func() {
		for ; inflight > 0; inflight-- {
			<-done
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case app := <-done:
			delete(running, app)
			inflight--
			continue
		case <-t.C:
		}
		if time.Since(lastSweep) >= previewSweepEvery {
			lastSweep = time.Now()
			d.sweepPreviews(ctx)
		}
		gs, err := polled.get(ctx, d.store, d.store.AutoGitSyncs)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("list polled apps", "err", err)
			}
			continue
		}
		now := time.Now()
		for _, g := range gs {
			d.gitops.mu.Lock()
			last := d.gitops.polled[g.App]
			d.gitops.mu.Unlock()
			if running[g.App] || now.Sub(last) < g.Interval {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // busy: the next tick tries again
			}
			d.gitops.mu.Lock()
			d.gitops.polled[g.App] = now
			d.gitops.mu.Unlock()
			running[g.App] = true
			inflight++
			go func() {
				defer func() { <-sem; done <- g.App }()
				d.pollApp(ctx, g)
			}()
		}
	}
}

// pollApp deploys the app's source when its ref moved since the last sync.
func (d *Daemon) pollApp(ctx context.Context, g store.GitSync) {
	sha, err := d.remoteSHA(ctx, g)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("poll", "app", g.App, "url", g.URL, "err", err)
		}
		return
	}
	if sha == g.LastSHA || d.peelsTo(g.App, sha, g.LastSHA) {
		return
	}
	d.syncInBackground(ctx, g.App, TriggerPoll, "xcloud")
}

// syncInBackground syncs and deploys the app's stored source; a failure is
// recorded as git:sync-failed.
func (d *Daemon) syncInBackground(ctx context.Context, app, trigger, by string) {
	_, err := d.Sync(ctx, SyncRequest{App: app, Build: true, Trigger: trigger, By: by}, io.Discard)
	if err == nil || ctx.Err() != nil {
		return
	}
	d.log.Warn("sync failed", "app", app, "trigger", trigger, "err", err)
	g, gerr := d.store.GitSync(ctx, app)
	if gerr != nil {
		return
	}
	if rerr := d.store.RecordGitSync(store.WithActor(ctx, by), app, store.GitSyncResult{URL: g.URL, Ref: g.Ref, Trigger: trigger, Err: err.Error()}); rerr != nil {
		d.log.Error("record failed sync", "app", app, "err", rerr)
	}
}

// remoteSHA asks the remote for the commit (or tag) its synced ref names,
// without fetching.
func (d *Daemon) remoteSHA(ctx context.Context, g store.GitSync) (string, error) {
	u, err := parseSyncURL(g.URL)
	if err != nil {
		return "", err
	}
	auth, _, err := d.syncAuth(g.App, u, g)
	if err != nil {
		return "", err
	}
	remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "xcloud-sync", URLs: []string{u.Raw}})
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	refs, err := remote.ListContext(lctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", err
	}
	name, err := resolveRemoteRef(refs, g.Ref)
	if err != nil {
		return "", err
	}
	for _, r := range refs {
		if r.Name() == name {
			return r.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("ref %s vanished", name)
}

// peelsTo reports whether the object hash (an annotated tag a remote
// advertises) is in the app's repository and peels to the commit want:
// a tag synced already, whose advertised hash is the tag's, not the
// commit's.
func (d *Daemon) peelsTo(app, hash, want string) bool {
	if want == "" {
		return false
	}
	repo, err := git.PlainOpen(gitreceive.RepoDir(d.opts.ReposDir, app))
	if err != nil {
		return false
	}
	h := plumbing.NewHash(hash)
	for range 10 {
		t, err := repo.TagObject(h)
		if err != nil {
			return false
		}
		if h = t.Target; h.String() == want {
			return true
		}
	}
	return false
}
