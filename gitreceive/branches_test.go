package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// branchBackend is fakeBackend that deploys other branches (previews)
// when on, and holds repositories.
type branchBackend struct {
	*fakeBackend
	mu       sync.Mutex
	on       bool
	fail     error
	branches []Push
	locked   []string
}

func (b *branchBackend) DeployBranch(_ context.Context, p Push, out io.Writer) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return false, nil
	}
	b.branches = append(b.branches, p)
	if b.fail != nil {
		return true, b.fail
	}
	fmt.Fprintf(out, "preview of %s at %s\n", p.Ref, p.NewSHA)
	return true, nil
}

func (b *branchBackend) LockRepo(_ context.Context, app string, _ func()) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.locked = append(b.locked, app)
	return func() {}, nil
}

func (b *branchBackend) last(t *testing.T, n int) Push {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.branches) != n {
		t.Fatalf("%d branch deploys, want %d: %+v", len(b.branches), n, b.branches)
	}
	return b.branches[n-1]
}

// TestBranchDeployer: a backend that deploys branches gets each pushed and
// deleted branch (never main, never a tag), its failure fails the push, and
// when it takes nothing the pusher hears only main is deployed. Every push
// holds the app's repository (RepoLocker).
func TestBranchDeployer(t *testing.T) {
	bb := &branchBackend{}
	e := startEnvWith(t, func(c *Config) {
		bb.fakeBackend = c.Backend.(*fakeBackend)
		c.Backend = bb
	})
	work := e.newWorkRepo("hello")
	e.must(work, "admin", "git", "push", "xcloud", "main")

	e.must(work, "admin", "git", "branch", "off")
	out := e.must(work, "admin", "git", "push", "xcloud", "off")
	wantContains(t, out, "branch off pushed; only main (or master) is deployed")

	bb.mu.Lock()
	bb.on = true
	bb.mu.Unlock()
	e.must(work, "admin", "git", "checkout", "-q", "-b", "feature")
	sha := e.commit(work, "feature\n")
	out = e.must(work, "admin", "git", "push", "xcloud", "feature")
	wantContains(t, out, "preview of refs/heads/feature at "+sha)
	if strings.Contains(out, "only main") {
		t.Errorf("a taken branch is described as not deployed:\n%s", out)
	}
	if p := bb.last(t, 1); p.App != "hello" || p.OldSHA != "" || p.NewSHA != sha || p.Pusher.Name != "admin" {
		t.Errorf("DeployBranch(%+v)", p)
	}
	e.backend.lastDeploy(t, 1) // main was not deployed again

	e.must(work, "admin", "git", "tag", "v1")
	e.must(work, "admin", "git", "push", "xcloud", "v1")
	bb.last(t, 1) // tags are no branches

	bb.mu.Lock()
	bb.fail = errors.New("too many previews")
	bb.mu.Unlock()
	e.commit(work, "again\n")
	out, err := e.run(work, "admin", "git", "push", "xcloud", "feature")
	if err == nil || !strings.Contains(out, "! feature: too many previews") {
		t.Errorf("a failed branch deploy: %v\n%s", err, out)
	}
	bb.mu.Lock()
	bb.fail = nil
	bb.mu.Unlock()

	e.must(work, "admin", "git", "push", "xcloud", ":feature")
	if p := bb.last(t, 3); p.Ref != "refs/heads/feature" || p.NewSHA != "" {
		t.Errorf("deleting the branch: DeployBranch(%+v), want NewSHA empty", p)
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if len(bb.locked) < 5 || bb.locked[0] != "hello" {
		t.Errorf("pushes did not hold the repository: %q", bb.locked)
	}
}
