package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/backup"
)

// tarDir's tar, extracted by GNU tar as restore extracts a volume, gives
// back the same tree: contents, modes with the special bits, numeric
// owners, symbolic and hard links, empty directories.
func TestTarDirRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	src := volumeFixture(t)
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
	sameTree(t, src, dst)
}

// TestUntarDir: what tarDir wrote, untarDir (restore's direct import into
// a rootful volume) lays out as GNU tar -x would: modes, owners, links.
func TestUntarDir(t *testing.T) {
	src := volumeFixture(t)
	if err := os.Chmod(src, 0o751); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarDir(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := untarDir(context.Background(), &buf, dst); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, dst)

	// A name that climbs out, or a link through which a file would be
	// written outside, is refused.
	for name, hdrs := range map[string][]*tar.Header{
		"dotdot":  {{Name: "../x", Typeflag: tar.TypeReg, Mode: 0o644}},
		"symlink": {{Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "./l/etc-x", Typeflag: tar.TypeReg, Mode: 0o644}},
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range hdrs {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		if err := untarDir(context.Background(), &b, t.TempDir()); err == nil {
			t.Errorf("%s: untarDir took it", name)
		}
	}
	// A FIFO asks for the helper container.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if err := untarDir(context.Background(), &b, t.TempDir()); !errors.Is(err, ErrNeedHelper) {
		t.Errorf("a FIFO: %v, want ErrNeedHelper", err)
	}
}

// volumeFixture makes a directory with what a volume may hold: modes with
// setuid, setgid and sticky bits, an empty directory, a symbolic and a
// hard link, and (as root) other owners.
func volumeFixture(t *testing.T) string {
	t.Helper()
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
	return src
}

// sameTree compares dst with src: modes, owners, sizes, contents, links.
func sameTree(t *testing.T, src, dst string) {
	t.Helper()
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
		before := cpuTime(syscall.RUSAGE_SELF)
		defer func() { reportCPU(b, cpuTime(syscall.RUSAGE_SELF)-before, size) }()
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
		before := cpuTime(syscall.RUSAGE_CHILDREN)
		defer func() { reportCPU(b, cpuTime(syscall.RUSAGE_CHILDREN)-before, size) }()
		for b.Loop() {
			if out, err := exec.Command("sh", "-c", `tar -C "$1" -cf - . | zstd -q -c > /dev/null`, "sh", dir).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

// cpuTime is the user and system CPU time of who (RUSAGE_SELF or
// RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU seconds per GB of the bytes the benchmark went
// through: on a shared machine the CPU spent is steadier than wall time.
func reportCPU(b *testing.B, cpu time.Duration, size int64) {
	if b.N > 0 {
		b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(size)/(1<<30)), "cpu-s/GB")
	}
}

// A file that shrank after tarDir read its size is archived at that size,
// padded with zeros, and the tar goes on at the next block; with a
// buffer smaller than the gap, the padding takes several writes.
func TestAddFileShrunk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("x"), 700)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := addFile(&buf, &tar.Header{Name: "./f", Mode: 0o644}, p, 1500, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "./g", Mode: 0o644, Typeflag: tar.TypeReg, Size: 1}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("g"))
	tw.Close()
	if buf.Len()%tarBlock != 0 {
		t.Fatalf("tar of %d bytes, not whole blocks", buf.Len())
	}
	tr := tar.NewReader(&buf)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(tr)
	if err != nil || h.Size != 1500 || !bytes.Equal(got, append(data, make([]byte, 800)...)) {
		t.Fatalf("entry %s of %d bytes, read %d, %v; want 1500, the data then zeros", h.Name, h.Size, len(got), err)
	}
	if h, err := tr.Next(); err != nil || h.Name != "./g" {
		t.Fatalf("next entry: %v, %v; want ./g", h, err)
	}
}
