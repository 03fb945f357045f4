package gitsrc

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// commitTree makes a bare-able repository with the given files (mode 0755 when
// the name ends in .sh, a symlink when the content starts with "->").
func commitTree(t *testing.T, files map[string]string) (dir, sha string) {
	t.Helper()
	dir = t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := bytes.CutPrefix([]byte(content), []byte("->")); ok {
			if err := os.Symlink(string(target), p); err != nil {
				t.Fatal(err)
			}
		} else {
			mode := os.FileMode(0o644)
			if filepath.Ext(name) == ".sh" {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h, err := wt.Commit("test", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@x", When: when}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, h.String()
}

func TestSourceTar(t *testing.T) {
	dir, sha := commitTree(t, map[string]string{
		"Dockerfile":     "FROM scratch\n",
		"sub/run.sh":     "#!/bin/sh\n",
		"sub/deep/a.txt": "a",
		"link":           "->Dockerfile",
	})
	src, err := Open(dir, sha)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.WriteTar(context.Background(), &buf, map[string][]byte{"gen.Containerfile": []byte("FROM x\n")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	want := map[string]struct {
		typ  byte
		mode int64
	}{
		"Dockerfile":        {tar.TypeReg, 0o644},
		"sub/":              {tar.TypeDir, 0o755},
		"sub/run.sh":        {tar.TypeReg, 0o755},
		"sub/deep/":         {tar.TypeDir, 0o755},
		"sub/deep/a.txt":    {tar.TypeReg, 0o644},
		"link":              {tar.TypeSymlink, 0o777},
		"gen.Containerfile": {tar.TypeReg, 0o644},
	}
	for name, w := range want {
		h, ok := got[name]
		if !ok {
			t.Errorf("tar lacks %s (has %v)", name, got)
			continue
		}
		if h.Typeflag != w.typ || h.Mode != w.mode {
			t.Errorf("%s: type %c mode %o, want %c %o", name, h.Typeflag, h.Mode, w.typ, w.mode)
		}
		if !h.ModTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("%s: mtime %v is not the commit time", name, h.ModTime)
		}
	}
	if got["link"] != nil && got["link"].Linkname != "Dockerfile" {
		t.Errorf("link target = %q", got["link"].Linkname)
	}

	// Same commit, same bytes: the build cache depends on it.
	var again bytes.Buffer
	if err := src.WriteTar(context.Background(), &again, nil); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	src.WriteTar(context.Background(), &first, nil)
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two exports of one commit differ")
	}
}

func TestGitFS(t *testing.T) {
	dir, sha := commitTree(t, map[string]string{
		"go.mod":          "module x\n",
		"cmd/app/main.go": "package main\n",
		"run.sh":          "#!/bin/sh\n",
	})
	src, err := Open(dir, sha)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(src.FS(), "go.mod", "cmd/app/main.go", "run.sh", "cmd", "cmd/app"); err != nil {
		t.Fatal(err)
	}
}

// TestSourceTarLargeFile checks a big file is archived intact and streamed
// from the object store, not read into memory whole.
func TestSourceTarLargeFile(t *testing.T) {
	const size = 8 << 20
	big := make([]byte, size)
	for i := range big {
		big[i] = byte(i * 7 / 3) // compressible, like most committed binaries
	}
	dir, sha := commitTree(t, map[string]string{"app": string(big)})
	src, err := Open(dir, sha)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() { done <- pw.CloseWithError(src.WriteTar(context.Background(), pw, nil)) }()
	tr := tar.NewReader(pr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, tr)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, pr) // the archive's end
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if h.Name != "app" || n != size || !bytes.Equal(sum.Sum(nil), sha256Sum(big)) {
		t.Fatalf("archived %s, %d bytes, content equal %v", h.Name, n, bytes.Equal(sum.Sum(nil), sha256Sum(big)))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/2 {
		t.Errorf("archiving an %d MB file allocated %d MB: it was read into memory", size>>20, alloc>>20)
	}
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
