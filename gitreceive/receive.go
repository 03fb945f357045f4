package gitreceive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

const (
	mainRef   = "refs/heads/main"
	masterRef = "refs/heads/master"
)

// receive serves a push: it makes sure the app and its repository exist,
// runs git-receive-pack and then deploys the deploy branch.
func (ss *session) receive() int {
	app, id := ss.cmd.App, ss.id
	if !id.CanPush(app) {
		return ss.deny("push", app, fmt.Sprintf("key %s may not push to %s", id.Name, app))
	}
	errw := ss.s.Stderr()
	unlock, ok := ss.srv.lockApp(ss.ctx, app, func() {
		fmt.Fprintf(errw, "-----> Waiting for another push to %s to finish...\n", app)
	})
	if !ok {
		return ss.fail("cancelled while waiting for another push")
	}
	defer unlock()
	if rl, ok := ss.srv.cfg.Backend.(RepoLocker); ok {
		unlockRepo, err := rl.LockRepo(ss.ctx, app, func() {
			fmt.Fprintf(errw, "-----> Waiting for a sync of %s to finish...\n", app)
		})
		if err != nil {
			return ss.fail("cancelled while waiting for a sync")
		}
		defer unlockRepo()
	}

	exists, err := ss.srv.cfg.Backend.AppExists(ss.ctx, app)
	if err != nil {
		return ss.internal("checking app", err)
	}
	if !exists {
		if !id.Admin {
			return ss.fail(fmt.Sprintf("app %s does not exist", app))
		}
		if err := ss.srv.cfg.Backend.CreateApp(ss.ctx, app, id); err != nil {
			ss.log.Error("creating app", "err", err)
			return ss.fail(fmt.Sprintf("creating app %s: %v", app, err))
		}
		ss.log.Info("created app")
		fmt.Fprintf(errw, "-----> Created app %s\n", app)
	}
	dir := RepoDir(ss.srv.cfg.ReposDir, app)
	repo, err := openOrInitRepo(dir)
	if err != nil {
		return ss.internal("opening repository", err)
	}
	before, err := snapshotRefs(repo)
	if err != nil {
		return ss.internal("reading refs", err)
	}
	var (
		gitConfig []string
		used      int64
	)
	limit := ss.srv.cfg.RepoSize
	if limit > 0 {
		if used, err = dirSize(dir); err != nil {
			return ss.internal("measuring repository", err)
		}
		// git refuses a pack bigger than this before storing any of it.
		gitConfig = []string{"-c", fmt.Sprintf("receive.maxInputSize=%d", max(limit-used, 1))}
	}
	tooBig := &needle{s: packTooBig}
	code, err := ss.git("receive-pack", dir, gitConfig, tooBig)
	if err != nil {
		return ss.internal("running receive-pack", err)
	}
	if tooBig.found.Load() {
		// receive-pack exits 0 after reporting the unpack error to git.
		ss.log.Warn("push refused: repository would exceed repo_size", "repo_size", limit, "used", used)
		fmt.Fprintf(errw, "\n ! push refused: the repository would exceed repo_size (%s; it uses %s)\n",
			formatBytes(limit), formatBytes(used))
		return 1
	}
	if code != 0 {
		ss.log.Warn("receive-pack failed", "exit", code)
		return code
	}
	// Reopen so nothing cached from before the push is used.
	if repo, err = git.PlainOpen(dir); err != nil {
		return ss.internal("opening repository", err)
	}
	after, err := snapshotRefs(repo)
	if err != nil {
		return ss.internal("reading refs", err)
	}

	deployRef := ""
	switch {
	case after[mainRef] != "":
		deployRef = mainRef
	case after[masterRef] != "":
		deployRef = masterRef
		pointHeadAt(repo, masterRef, ss)
	}
	changed := changedRefs(before, after)
	failed := false
	for _, ref := range changed {
		if ref == deployRef {
			continue
		}
		if bd, ok := ss.srv.cfg.Backend.(BranchDeployer); ok && strings.HasPrefix(ref, "refs/heads/") {
			bp := Push{App: app, RepoDir: dir, Ref: ref, OldSHA: before[ref], NewSHA: after[ref], Pusher: id}
			handled, err := bd.DeployBranch(ss.ctx, bp, errw)
			if err != nil {
				ss.log.Warn("branch deploy failed", "ref", ref, "err", err)
				fmt.Fprintf(errw, "\n ! %s: %s\n", strings.TrimPrefix(ref, "refs/heads/"), oneLine(err.Error()))
				failed = true
			}
			if handled {
				continue
			}
		}
		describeRef(errw, ref, after[ref] == "", deployRef)
	}
	exit := 0
	if failed {
		exit = 1
	}
	// Deploy when the deploy branch moved, or on a push that changed
	// nothing at all (a re-push asks for a redeploy); a push of only other
	// branches or tags deploys nothing.
	switch {
	case deployRef == "" && len(changed) == 0:
		fmt.Fprintln(errw, "-----> Nothing changed and there is no main (or master) branch to deploy")
		return 0
	case deployRef == "":
		return exit
	case len(changed) > 0 && !slices.Contains(changed, deployRef):
		return exit
	}

	p := Push{App: app, RepoDir: dir, Ref: deployRef, OldSHA: before[deployRef], NewSHA: after[deployRef], Pusher: id}
	ss.log.Info("deploying", "ref", p.Ref, "old", p.OldSHA, "new", p.NewSHA)
	if err := ss.srv.cfg.Backend.Deploy(ss.ctx, p, errw); err != nil {
		ss.log.Warn("deploy failed", "err", err)
		fmt.Fprintf(errw, "\n ! deploy failed: %s\n", oneLine(err.Error()))
		return 1
	}
	return exit
}

// upload serves a clone or fetch.
func (ss *session) upload() int {
	app := ss.cmd.App
	if !ss.id.CanPush(app) {
		return ss.deny("fetch", app, fmt.Sprintf("key %s may not read %s", ss.id.Name, app))
	}
	exists, err := ss.srv.cfg.Backend.AppExists(ss.ctx, app)
	if err != nil {
		return ss.internal("checking app", err)
	}
	if !exists {
		return ss.fail(fmt.Sprintf("app %s does not exist", app))
	}
	dir := RepoDir(ss.srv.cfg.ReposDir, app)
	if _, err := git.PlainOpen(dir); err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return ss.fail(fmt.Sprintf("app %s has not been pushed yet", app))
		}
		return ss.internal("opening repository", err)
	}
	code, err := ss.git("upload-pack", dir, nil, nil)
	if err != nil {
		return ss.internal("running upload-pack", err)
	}
	return code
}

// openOrInitRepo opens the bare repository at dir, creating it (with main
// as the default branch) if it does not exist.
func openOrInitRepo(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		return repo, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	return repo, nil
}

// snapshotRefs returns every ref's target, by full name.
func snapshotRefs(repo *git.Repository) (map[string]string, error) {
	iter, err := repo.References()
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	refs := map[string]string{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && strings.HasPrefix(r.Name().String(), "refs/") {
			refs[r.Name().String()] = r.Hash().String()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	return refs, nil
}

// changedRefs returns the refs that were created, updated or deleted, sorted.
func changedRefs(before, after map[string]string) []string {
	var refs []string
	for ref, sha := range after {
		if before[ref] != sha {
			refs = append(refs, ref)
		}
	}
	for ref := range before {
		if _, ok := after[ref]; !ok {
			refs = append(refs, ref)
		}
	}
	sort.Strings(refs)
	return refs
}

// describeRef tells the pusher what happened to a ref that is not deployed.
func describeRef(w io.Writer, ref string, deleted bool, deployRef string) {
	kind, name := "ref", ref
	if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		kind, name = "branch", n
	} else if n, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		kind, name = "tag", n
	}
	switch {
	case deleted && (ref == mainRef || ref == masterRef) && deployRef == "":
		fmt.Fprintf(w, "-----> %s %s deleted; nothing deployed\n", kind, name)
	case deleted:
		fmt.Fprintf(w, "-----> %s %s deleted\n", kind, name)
	default:
		fmt.Fprintf(w, "-----> %s %s pushed; only main (or master) is deployed\n", kind, name)
	}
}

// pointHeadAt makes HEAD a symbolic ref to ref if HEAD points at a branch
// that does not exist, so clones check out the deployed branch.
func pointHeadAt(repo *git.Repository, ref string, ss *session) {
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference {
		return
	}
	if _, err := repo.Storer.Reference(head.Target()); err == nil {
		return
	}
	sym := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.ReferenceName(ref))
	if err := repo.Storer.SetReference(sym); err != nil {
		ss.log.Warn("updating HEAD", "err", err)
	}
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// packTooBig is what git's index-pack and unpack-objects print when a pack
// exceeds receive.maxInputSize.
const packTooBig = "pack exceeds maximum allowed size"

// needle watches streams written through its writers for s.
type needle struct {
	s     string
	found atomic.Bool
}

// writer returns a writer for one stream; it finds s even when split
// across writes.
func (n *needle) writer() io.Writer { return &needleWriter{n: n} }

type needleWriter struct {
	n    *needle
	mu   sync.Mutex
	tail []byte // the last len(s)-1 bytes seen
}

func (w *needleWriter) Write(p []byte) (int, error) {
	if w.n.found.Load() {
		return len(p), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.tail, p...)
	if strings.Contains(string(buf), w.n.s) {
		w.n.found.Store(true)
	}
	keep := min(len(buf), len(w.n.s)-1)
	w.tail = append(w.tail[:0], buf[len(buf)-keep:]...)
	return len(p), nil
}

// dirSize is the total size of the regular files under dir (0 if dir does
// not exist).
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}

// formatBytes writes n in binary units: "512 B", "12 KiB", "1.5 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTP"[exp]) + "iB"
}
