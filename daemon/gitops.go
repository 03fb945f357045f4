package daemon

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// Sync triggers, as events and deploys name them.
const (
	TriggerSync    = "git:sync"
	TriggerWebhook = "webhook"
	TriggerPoll    = "poll"
)

// syncRef is where a sync lands before the deploy branch moves to it: a
// tag is peeled to its commit first.
const syncRef = "refs/xcloud/sync"

// deployBranch is the branch a sync moves: the one pushes deploy.
const deployBranch = "refs/heads/main"

// Time bounds of talking to a remote.
const (
	listTimeout  = 30 * time.Second
	fetchTimeout = 10 * time.Minute
)

// gitOps is the engine's GitOps state: the per-app repository locks that
// make a push wait for a sync (and a sync for a push), and the poller's
// bookkeeping.
type gitOps struct {
	mu     sync.Mutex
	repos  map[string]*sync.Mutex
	polled map[string]time.Time // app → last poll
}

func newGitOps() *gitOps {
	return &gitOps{repos: map[string]*sync.Mutex{}, polled: map[string]time.Time{}}
}

var _ gitreceive.RepoLocker = (*Daemon)(nil)

// LockRepo implements gitreceive.RepoLocker: a push holds an app's
// repository while it receives and deploys, as a sync does while it
// fetches and deploys, so each waits for the other. waiting is called
// when the lock is busy.
func (d *Daemon) LockRepo(ctx context.Context, app string, waiting func()) (unlock func(), err error) {
	d.gitops.mu.Lock()
	m, ok := d.gitops.repos[app]
	if !ok {
		m = &sync.Mutex{}
		d.gitops.repos[app] = m
	}
	d.gitops.mu.Unlock()
	if !m.TryLock() {
		if waiting != nil {
			waiting()
		}
		if err := lockCtx(ctx, m); err != nil {
			return nil, err
		}
	}
	return m.Unlock, nil
}

// SyncRequest is one git:sync.
type SyncRequest struct {
	App string
	// URL and Ref are the source; URL "" takes the stored one (a webhook,
	// the poller), Ref "" the remote's default branch.
	URL, Ref string
	Build    bool   // deploy what was fetched
	Trigger  string // TriggerSync, TriggerWebhook or TriggerPoll
	By       string // who asked: a key's name, or the forge for a webhook
}

// SyncResult is what a sync fetched.
type SyncResult struct {
	Ref     string // the remote ref fetched, e.g. refs/heads/main
	SHA     string // its commit, now the app's main branch
	Changed bool   // main moved
}

// Sync fetches a ref of a remote repository into the app's repository as
// its main branch and, with Build, deploys it as a push would. The remote
// is checked before anything changes: a bad URL, an unreachable remote or
// a ref it does not have is one line and leaves the app as it was.
// Progress goes to out.
func (d *Daemon) Sync(ctx context.Context, req SyncRequest, out io.Writer) (SyncResult, error) {
	ctx = store.WithActor(ctx, req.By)
	w := &progress{w: out, start: time.Now()}
	if _, err := d.store.GetApp(ctx, req.App); err != nil {
		return SyncResult{}, err
	}
	cur, err := d.store.GitSync(ctx, req.App)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return SyncResult{}, err
	}
	if req.URL == "" {
		if cur.URL == "" {
			return SyncResult{}, InputError{Msg: fmt.Sprintf("%s has no git:sync source yet: run git:sync %s URL first", req.App, req.App)}
		}
		req.URL, req.Ref = cur.URL, cur.Ref
	}
	u, err := parseSyncURL(req.URL)
	if err != nil {
		return SyncResult{}, err
	}
	if cur.URL != u.Raw {
		cur.KnownHost = "" // a new remote's host key is trusted anew
	}
	auth, seen, err := d.syncAuth(req.App, u, cur)
	if err != nil {
		return SyncResult{}, err
	}
	unlock, err := d.LockRepo(ctx, req.App, func() {
		w.step("A push or sync of %s is in progress; waiting for it to finish", req.App)
	})
	if err != nil {
		return SyncResult{}, err
	}
	defer unlock()

	w.step("Fetching %s from %s", cmp.Or(req.Ref, "the default branch"), u.Raw)
	dir := gitreceive.RepoDir(d.opts.ReposDir, req.App)
	_, statErr := os.Stat(dir)
	repo, err := openOrInitBare(dir)
	if err != nil {
		return SyncResult{}, err
	}
	fail := func(err error) (SyncResult, error) {
		if os.IsNotExist(statErr) {
			os.RemoveAll(dir) // nothing changed: no repository left behind either
		}
		return SyncResult{}, err
	}
	remote := git.NewRemote(repo.Storer, &gitconfig.RemoteConfig{Name: "xcloud-sync", URLs: []string{u.Raw}})
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	refs, err := remote.ListContext(lctx, &git.ListOptions{Auth: auth})
	cancel()
	if err != nil {
		return fail(remoteError(u, err))
	}
	ref, err := resolveRemoteRef(refs, req.Ref)
	if err != nil {
		return fail(InputError{Msg: fmt.Sprintf("%s (at %s)", err.Error(), u.Raw)})
	}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	err = remote.FetchContext(fctx, &git.FetchOptions{
		Auth:     auth,
		RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec("+" + ref.String() + ":" + syncRef)},
		Tags:     git.NoTags,
		Force:    true,
	})
	cancel()
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fail(remoteError(u, err))
	}
	sha, err := peelToCommit(repo, syncRef)
	if err != nil {
		return fail(InputError{Msg: fmt.Sprintf("%s at %s is not a commit: %v", ref.Short(), u.Raw, err)})
	}
	var old string
	if r, err := repo.Reference(deployBranch, false); err == nil {
		old = r.Hash().String()
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(deployBranch, sha)); err != nil {
		return SyncResult{}, fmt.Errorf("move main: %w", err)
	}
	_ = repo.Storer.RemoveReference(syncRef)
	res := SyncResult{Ref: ref.String(), SHA: sha.String(), Changed: old != sha.String()}

	if err := d.store.SetGitSyncSource(ctx, req.App, u.Raw, req.Ref); err != nil {
		return res, err
	}
	if *seen != "" && *seen != cur.KnownHost {
		if err := d.store.SetKnownHost(ctx, req.App, *seen); err != nil {
			return res, err
		}
	}
	if err := d.store.RecordGitSync(ctx, req.App, store.GitSyncResult{
		URL: u.Raw, Ref: ref.String(), Trigger: req.Trigger, SHA: res.SHA, Build: req.Build,
	}); err != nil {
		return res, err
	}
	if res.Changed {
		w.step("Fetched %s (%s); main was %s", ref.Short(), short(res.SHA), cmp.Or(short(old), "empty"))
	} else {
		w.step("Fetched %s (%s); main was there already", ref.Short(), short(res.SHA))
	}
	if !req.Build {
		w.done("Not deployed: run git:sync with --build, or ps:rebuild %s", req.App)
		return res, nil
	}
	// The deploy's events name who asked and how, in the actor.
	by := gitreceive.Identity{Name: req.By + " via " + req.Trigger, Admin: true}
	oldSHA := old
	if !res.Changed {
		oldSHA = res.SHA // an unchanged ref redeploys only when it is not serving
	}
	err = d.Deploy(ctx, gitreceive.Push{App: req.App, RepoDir: dir, Ref: deployBranch, OldSHA: oldSHA, NewSHA: res.SHA, Pusher: by}, out)
	return res, err
}

// remoteError words a failure to reach or read the remote in one line.
func remoteError(u syncURL, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		if u.Kind == "ssh" {
			return InputError{Msg: fmt.Sprintf("%s refused the deploy key: add the key git:deploy-key prints on the forge", u.Raw)}
		}
		return InputError{Msg: fmt.Sprintf("%s needs credentials: use an ssh:// URL and a deploy key (git:deploy-key APP)", u.Raw)}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return InputError{Msg: fmt.Sprintf("no repository at %s", u.Raw)}
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return InputError{Msg: fmt.Sprintf("the repository at %s is empty", u.Raw)}
	case errors.Is(err, context.DeadlineExceeded):
		return InputError{Msg: fmt.Sprintf("%s did not answer in time", u.Raw)}
	}
	return InputError{Msg: fmt.Sprintf("fetch from %s: %s", u.Raw, strings.Join(strings.Fields(err.Error()), " "))}
}

// resolveRemoteRef finds want among a remote's refs: "" is the remote's
// HEAD (its default branch); a name is tried as given, as a branch, then
// as a tag.
func resolveRemoteRef(refs []*plumbing.Reference, want string) (plumbing.ReferenceName, error) {
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	if want == "" {
		head, ok := byName[plumbing.HEAD]
		if ok && head.Type() == plumbing.SymbolicReference {
			if _, ok := byName[head.Target()]; ok {
				return head.Target(), nil
			}
		}
		for _, n := range []plumbing.ReferenceName{"refs/heads/main", "refs/heads/master"} {
			if _, ok := byName[n]; ok {
				return n, nil
			}
		}
		return "", errors.New("the remote names no default branch; give a REF")
	}
	for _, n := range []plumbing.ReferenceName{
		plumbing.ReferenceName(want), plumbing.NewBranchReferenceName(want), plumbing.NewTagReferenceName(want),
	} {
		if _, ok := byName[n]; ok && strings.HasPrefix(n.String(), "refs/") {
			return n, nil
		}
	}
	return "", fmt.Errorf("ref %q does not exist", want)
}

// peelToCommit returns the commit ref points at, through annotated tags.
func peelToCommit(repo *git.Repository, ref plumbing.ReferenceName) (plumbing.Hash, error) {
	r, err := repo.Reference(ref, true)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h := r.Hash()
	for range 10 {
		if t, err := repo.TagObject(h); err == nil {
			h = t.Target
			continue
		}
		break
	}
	if _, err := object.GetCommit(repo.Storer, h); err != nil {
		return plumbing.ZeroHash, err
	}
	return h, nil
}

// openOrInitBare opens the app's bare repository, creating it with main as
// its default branch, as a first push would.
func openOrInitBare(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		return repo, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: deployBranch},
	})
	if err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	return repo, nil
}

// deployKeyAAD binds a sealed deploy key to what it is; the app's name is
// left out so the key survives apps:rename.
var (
	deployKeyAAD     = []byte("xcloud\x00git:deploy-key")
	webhookSecretAAD = []byte("xcloud\x00git:webhook")
)

// syncAuth returns how to reach the remote: nothing for http(s) and git://;
// for SSH the app's deploy key, and a host key check that trusts the first
// key the host shows (recorded through *seen after a good sync) and refuses
// any other after that.
func (d *Daemon) syncAuth(app string, u syncURL, cur store.GitSync) (transport.AuthMethod, *string, error) {
	seen := new(string)
	if u.Kind != "ssh" {
		return nil, seen, nil
	}
	if len(cur.DeployKey) == 0 {
		return nil, nil, InputError{Msg: fmt.Sprintf("%s is an SSH URL and %s has no deploy key: run git:deploy-key %s and add the key it prints on the forge", u.Raw, app, app)}
	}
	pemBytes, err := d.opts.Secrets.Open(cur.DeployKey, deployKeyAAD)
	if err != nil {
		return nil, nil, fmt.Errorf("open deploy key: %w", err)
	}
	keys, err := gitssh.NewPublicKeys(u.User, pemBytes, "")
	if err != nil {
		return nil, nil, fmt.Errorf("deploy key: %w", err)
	}
	trusted := cur.KnownHost
	keys.HostKeyCallback = func(hostname string, _ net.Addr, key gossh.PublicKey) error {
		line := hostname + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
		if trusted == "" {
			*seen = line
			return nil
		}
		if trusted != line {
			return fmt.Errorf("the host key of %s is not the one trusted on the first sync (%s); if the forge changed it, run git:sync with the URL again after git:deploy-key --forget-host", hostname, gossh.FingerprintSHA256(key))
		}
		*seen = line
		return nil
	}
	return keys, seen, nil
}

// DeployKey returns the app's deploy key's public half (an authorized_keys
// line to add on the forge), making the key pair on first use; the private
// half is sealed like config vars.
func (d *Daemon) DeployKey(ctx context.Context, app string) (string, error) {
	if _, err := d.store.GetApp(ctx, app); err != nil {
		return "", err
	}
	g, err := d.store.GitSync(ctx, app)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if g.PublicKey != "" {
		return g.PublicKey, nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("make deploy key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "xcloud deploy key of "+app)
	if err != nil {
		return "", fmt.Errorf("make deploy key: %w", err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("make deploy key: %w", err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))) + " xcloud-" + app
	if err := d.store.SetDeployKey(ctx, app, d.opts.Secrets.Seal(pem.EncodeToMemory(block), deployKeyAAD), line); err != nil {
		return "", err
	}
	return line, nil
}

// ForgetHostKey drops the remote host key trusted on first use, so the
// next sync trusts the key the host shows then.
func (d *Daemon) ForgetHostKey(ctx context.Context, app string) error {
	return d.store.SetKnownHost(ctx, app, "")
}

// GitSyncSettings returns the app's git:sync settings (no secrets); an app
// never synced matches store.ErrNotFound.
func (d *Daemon) GitSyncSettings(ctx context.Context, app string) (store.GitSync, error) {
	g, err := d.store.GitSync(ctx, app)
	g.DeployKey, g.WebhookSecret = nil, nil
	return g, err
}
