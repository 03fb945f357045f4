package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// record is a line as conmon writes it to a k8s-file log.
func record(t time.Time, tag, text string) string {
	return fmt.Sprintf("%s stdout %s %s\n", t.UTC().Format(time.RFC3339Nano), tag, text)
}

type gotLines struct {
	mu    sync.Mutex
	lines []string
}

func (g *gotLines) add(fl *followedLog, text string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lines = append(g.lines, fl.app+"/"+fl.typ+"/"+fl.name+": "+text)
}

// waitFor waits until the lines are want, or fails after a generous deadline.
func (g *gotLines) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := slices.Clone(g.lines)
		g.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines:\n%q\nwant:\n%q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func startLogFiles(t *testing.T) (*logFiles, *gotLines) {
	t.Helper()
	got := &gotLines{}
	lf, err := newLogFiles(got.add)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		lf.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return lf, got
}

func TestLogFilesFollow(t *testing.T) {
	lf, got := startLogFiles(t)
	path := filepath.Join(t.TempDir(), "ctr.log")
	since := time.Now().Add(-time.Second)
	// Written before the container was followed: the older record is not
	// the container's current output, the newer one is.
	appendFile(t, path, record(since.Add(-time.Hour), "F", "old")+record(since, "F", "starting"))
	if err := lf.follow("c1", "app", "web", "web-1", path, since); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "app/web/web-1: starting")

	// New records, an empty line, a record cut across two writes, and a
	// partial one (no newline yet in the app's output) as a line of its own.
	now := time.Now()
	appendFile(t, path, record(now, "F", "hello world")+record(now, "F", ""))
	rec := record(now, "P", "part")
	appendFile(t, path, rec[:10])
	appendFile(t, path, rec[10:]+record(now, "F", "rest"))
	got.waitFor(t, "app/web/web-1: starting", "app/web/web-1: hello world", "app/web/web-1: ",
		"app/web/web-1: part", "app/web/web-1: rest")

	// Following the same container again (it restarted) keeps the place.
	if err := lf.follow("c1", "app", "web", "web-1", path, since); err != nil {
		t.Fatal(err)
	}
	// A truncated file is read again from the top.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, record(time.Now(), "F", "after truncation"))
	got.waitFor(t, "app/web/web-1: starting", "app/web/web-1: hello world", "app/web/web-1: ",
		"app/web/web-1: part", "app/web/web-1: rest", "app/web/web-1: after truncation")

	// The container removed: its file is let go.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lf.followed("c1") {
		if time.Now().After(deadline) {
			t.Fatal("a removed log file is still followed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A log rotated the way conmon rotates one that reached log_size_max (a
// new file renamed over it) is followed on in the new file.
func TestLogFilesRotated(t *testing.T) {
	lf, got := startLogFiles(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ctr.log")
	appendFile(t, path, "")
	if err := lf.follow("c1", "app", "web", "web-1", path, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, record(time.Now(), "F", "before rotation"))
	got.waitFor(t, "app/web/web-1: before rotation")
	tmp := filepath.Join(dir, "ctr.log.tmp")
	appendFile(t, tmp, record(time.Now(), "F", "first of the new file"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, record(time.Now(), "F", "after rotation"))
	got.waitFor(t, "app/web/web-1: before rotation", "app/web/web-1: first of the new file", "app/web/web-1: after rotation")
	if !lf.followed("c1") {
		t.Fatal("a rotated log file is no longer followed")
	}
}

func TestLogFilesMissing(t *testing.T) {
	lf, _ := startLogFiles(t)
	if err := lf.follow("c1", "app", "web", "web-1", filepath.Join(t.TempDir(), "none.log"), time.Now()); err == nil {
		t.Fatal("following a missing file: no error")
	}
	if lf.followed("c1") {
		t.Fatal("a missing file is followed")
	}
}

// A long-running container's file is searched from its end for where the
// records since a time begin.
func TestRecordsSinceLargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctr.log")
	old := time.Now().Add(-time.Hour)
	var s []byte
	for i := range 20000 {
		s = append(s, record(old.Add(time.Duration(i)*time.Millisecond), "F", fmt.Sprintf("old line %d", i))...)
	}
	since := time.Now().Add(-time.Second)
	tail := record(since, "F", "new 1") + record(since.Add(time.Millisecond), "F", "new 2")
	s = append(s, tail...)
	if err := os.WriteFile(path, s, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, err := recordsSince(f, since)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(s) - len(tail)); off != want {
		t.Fatalf("offset %d, want %d (of %d)", off, want, len(s))
	}
	// All records older: the end of the file.
	if off, err := recordsSince(f, time.Now().Add(time.Hour)); err != nil || off != int64(len(s)) {
		t.Fatalf("offset %d, %v; want the end, %d", off, err, len(s))
	}
	// All newer: the start.
	if off, err := recordsSince(f, old.Add(-time.Hour)); err != nil || off != 0 {
		t.Fatalf("offset %d, %v; want 0", off, err)
	}
}
