package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Copies of a bare repository taken while pushes land and git gc repacks,
// packs refs and prunes are each a whole repository: every ref resolves
// and every object it reaches is there.
func TestLinkRepoDuringPushAndGC(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	bare := filepath.Join(dir, "app.git")
	work := filepath.Join(dir, "work")
	gitIn(t, dir, "init", "-q", "--bare", bare)
	gitIn(t, dir, "init", "-q", "-b", "main", work)
	commit := func(i int) {
		if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("f%d", i%7)), []byte(strings.Repeat(fmt.Sprint(i), 1000)), 0o644); err != nil {
			t.Error(err)
		}
		gitIn(t, work, "add", "-A")
		gitIn(t, work, "commit", "-q", "-m", fmt.Sprint(i))
		gitIn(t, work, "push", "-q", bare, "main", fmt.Sprintf("main:refs/heads/b%d", i%5))
	}
	commit(0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			commit(i)
			if i%3 == 0 {
				gitIn(t, bare, "gc", "-q", "--prune=now")
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	deadline := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(deadline) || n < 3; n++ {
		dst := filepath.Join(dir, fmt.Sprintf("copy-%d.git", n))
		var err error
		for attempt := 0; attempt < stageAttempts*4; attempt++ {
			os.RemoveAll(dst)
			if err = linkRepo(bare, dst); !errors.Is(err, errVanished) {
				break
			}
		}
		if err != nil {
			t.Fatalf("copy %d: %v", n, err)
		}
		if out := gitIn(t, dst, "fsck", "--connectivity-only", "--no-dangling"); strings.Contains(out, "missing") || strings.Contains(out, "broken") {
			t.Fatalf("copy %d is torn:\n%s", n, out)
		}
		if out := gitIn(t, dst, "rev-parse", "--verify", "refs/heads/main"); len(strings.TrimSpace(out)) != 40 {
			t.Fatalf("copy %d: main = %q", n, out)
		}
		if t.Failed() {
			return
		}
	}
}

func TestPruneBackups(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"xcloud-backup-20260101T030000Z.tar.zst", "xcloud-backup-20260102T030000Z.tar.zst",
		"xcloud-backup-20260103T030000Z.tar.zst", "xcloud-backup-20260104T030000Z.tar.zst",
		"notes.txt", "xcloud-1700000000-v9.db", // not scheduled archives: kept
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := New(Options{})
	d.pruneBackups(dir, 2)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{"notes.txt", "xcloud-1700000000-v9.db", "xcloud-backup-20260103T030000Z.tar.zst", "xcloud-backup-20260104T030000Z.tar.zst"}
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
