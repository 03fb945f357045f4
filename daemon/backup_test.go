package daemon

import (
	"bytes"
	"context"
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

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
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

// archiveRuntime is the fake runtime with one volume of this install,
// whose export (tar in a helper container) writes a known tar.
type archiveRuntime struct {
	*fakeRuntime
	specs []podman.ContainerSpec
}

func (a *archiveRuntime) ListVolumes(context.Context, map[string]string) ([]podman.VolumeInfo, error) {
	return []podman.VolumeInfo{{Name: "xcloud-test-data", Labels: map[string]string{"xcloud.managed": "true", "xcloud.instance": "test", "xcloud.volume": "data"}}}, nil
}

func (a *archiveRuntime) RunAttached(_ context.Context, cs podman.ContainerSpec, stdio podman.Stdio) (int, error) {
	a.specs = append(a.specs, cs)
	if slices.Contains(cs.Command, "-cf") {
		_, err := stdio.Out.Write([]byte("volume tar"))
		return 0, err
	}
	return 2, nil
}

// Backup archives the database, the app's repository, its volume (read
// only, by tar with numeric owners) and, asked, the key; the archive
// reads back whole, and the run is an event.
func TestBackupEngine(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ctx := context.Background()
	st := newAppsStore(t, "web")
	rt := &archiveRuntime{fakeRuntime: newFakeRuntime(t)}
	e := newEngine(t, st, rt.fakeRuntime)
	e.d.rt = rt
	dir := t.TempDir()
	key := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.opts.Backup = BackupOptions{KeyFile: key, StagingDir: filepath.Join(dir, "staging")}
	e.d.opts.Version = "test"
	gitIn(t, dir, "init", "-q", "--bare", filepath.Join(e.d.opts.ReposDir, "web.git"))

	var buf bytes.Buffer
	res, err := e.d.Backup(ctx, &buf, BackupRequest{WithKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != int64(buf.Len()) {
		t.Errorf("Bytes = %d, wrote %d", res.Bytes, buf.Len())
	}
	out := t.TempDir()
	m, err := backup.Extract(&buf, out, store.SchemaVersion())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Apps, []string{"web"}) || len(m.Volumes) != 1 || m.Volumes[0].Name != "data" || !m.WithKey || m.Version != "test" {
		t.Fatalf("manifest: %+v", m)
	}
	for _, p := range []string{backup.DatabaseName, "repos/web.git/HEAD", backup.VolumeFile("data"), backup.KeyName} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(rt.specs) != 1 {
		t.Fatalf("helper containers: %+v", rt.specs)
	}
	cs := rt.specs[0]
	if !slices.Contains(cs.Command, "--numeric-owner") || cs.Mounts[0].Volume != "xcloud-test-data" || !cs.Mounts[0].ReadOnly || cs.Labels["xcloud.oneoff"] == "" {
		t.Errorf("export container: %+v", cs)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "staging")); len(entries) != 0 {
		t.Errorf("staging left %v", entries)
	}
	evs, err := st.ListEvents(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(evs, func(ev store.Event) bool { return ev.Type == store.EventBackupSucceeded }); i < 0 {
		t.Errorf("no backup:succeeded in %+v", evs)
	}
}

// A scheduled run writes xcloud-backup-<time>.tar.zst into the directory
// (no partial file left), keeps the newest keep archives, and a run that
// cannot write is a backup:failed event.
func TestBackupToDir(t *testing.T) {
	ctx := context.Background()
	st := newAppsStore(t, "web")
	rt := &archiveRuntime{fakeRuntime: newFakeRuntime(t)}
	e := newEngine(t, st, rt.fakeRuntime)
	e.d.rt = rt
	dir := t.TempDir()
	out := filepath.Join(dir, "archives")
	old := filepath.Join(out, "xcloud-backup-20200101T000000Z.tar.zst")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.opts.Backup = BackupOptions{StagingDir: filepath.Join(dir, "staging"), Dir: out, Keep: 1}
	path, err := e.d.BackupToDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 || filepath.Join(out, entries[0].Name()) != path {
		t.Fatalf("archives: %v, want only %s", entries, path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := backup.Extract(f, t.TempDir(), store.SchemaVersion()); err != nil {
		t.Fatalf("the scheduled archive does not read back: %v", err)
	}

	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.opts.Backup.Dir = filepath.Join(blocker, "archives") // a file is in the way
	if _, err := e.d.BackupToDir(ctx); err == nil {
		t.Fatal("a backup into an impossible directory succeeded")
	}
	evs, err := st.ListEvents(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "backup:") {
			types = append(types, ev.Type+" by "+ev.Actor)
		}
	}
	if want := []string{"backup:succeeded by xcloud", "backup:failed by xcloud"}; !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

// What a backup cut short by a stop left is removed at the next start;
// anything else in the directories stays.
func TestClearStaging(t *testing.T) {
	dir := t.TempDir()
	staging, out := filepath.Join(dir, "staging"), filepath.Join(dir, "archives")
	for _, p := range []string{
		filepath.Join(staging, "backup-123", "repos", "x"), filepath.Join(staging, "other"),
		filepath.Join(out, ".partial-xcloud-backup-20260101T000000Z.tar.zst-99"), filepath.Join(out, "xcloud-backup-20260101T000000Z.tar.zst"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := New(Options{Backup: BackupOptions{StagingDir: staging, Dir: out}})
	d.clearStaging()
	var left []string
	for _, sub := range []string{staging, out} {
		entries, _ := os.ReadDir(sub)
		for _, e := range entries {
			left = append(left, e.Name())
		}
	}
	if want := []string{"other", "xcloud-backup-20260101T000000Z.tar.zst"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
