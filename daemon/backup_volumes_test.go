package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon/backup"
)

// tarDir's tar, extracted by GNU tar as restore extracts a volume, gives
// back the same tree: contents, modes with the special bits, numeric
// owners, symbolic and hard links, empty directories.
func TestTarDirRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	src := t.TempDir()
	write := func(p string, mode fs.FileMode, body string) {
		t.Helper()
		p = filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", 0o640, "hello")
	write("sub/deep/b.bin", 0o600, string(bytes.Repeat([]byte{0, 1, 2}, 500000)))
	write("run.sh", 0o755|fs.ModeSetuid, "#!/bin/sh\n")
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o700|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "empty"), 0o700|fs.ModeSetgid|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "a.txt"), filepath.Join(src, "sub", "hard")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(src, "sub"), 1000, 1001); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(src, "a.txt"), 100999, 100998); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	if err := tarDir(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	cmd := exec.Command("tar", "--numeric-owner", "-C", dst, "-xpf", "-")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, out)
	}
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		want, _ := os.Lstat(p)
		got, err := os.Lstat(filepath.Join(dst, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		ws, gs := want.Sys().(*syscall.Stat_t), got.Sys().(*syscall.Stat_t)
		if want.Mode() != got.Mode() || ws.Uid != gs.Uid || ws.Gid != gs.Gid || (want.Mode().IsRegular() && want.Size() != got.Size()) {
			t.Errorf("%s: got %v %d:%d size %d, want %v %d:%d size %d", rel, got.Mode(), gs.Uid, gs.Gid, got.Size(), want.Mode(), ws.Uid, ws.Gid, want.Size())
		}
		if want.Mode().IsRegular() {
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(filepath.Join(dst, rel))
			if !bytes.Equal(a, b) {
				t.Errorf("%s: contents differ", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "a.txt" {
		t.Errorf("link -> %q, %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(dst, "a.txt"))
	h, _ := os.Stat(filepath.Join(dst, "sub", "hard"))
	if !os.SameFile(a, h) {
		t.Error("the hard link came back as a copy")
	}
}

// BenchmarkArchiveVolume is a volume's way into an archive without the
// SSH channel (read its directory, tar, checksums, zstd) against
// `tar | zstd` of the same directory: the engine's share of `backup`.
func BenchmarkArchiveVolume(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 4<<20)
	for i := range 16 {
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	size := int64(16 * len(data))
	b.Run("xcloud", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			aw, err := backup.NewWriter(io.Discard, backup.Header{})
			if err != nil {
				b.Fatal(err)
			}
			pw, err := aw.Stream(backup.VolumeFile("v"), 0o600)
			if err != nil {
				b.Fatal(err)
			}
			if err := tarDir(context.Background(), pw, dir); err != nil {
				b.Fatal(err)
			}
			if err := pw.Close(); err != nil {
				b.Fatal(err)
			}
			if _, err := aw.Close(backup.Manifest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tar-zstd", func(b *testing.B) {
		if _, err := exec.LookPath("zstd"); err != nil {
			b.Skip("no zstd")
		}
		b.SetBytes(size)
		for b.Loop() {
			if out, err := exec.Command("sh", "-c", `tar -C "$1" -cf - . | zstd -q -c > /dev/null`, "sh", dir).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
