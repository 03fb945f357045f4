package daemon

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// How a volume's files were read for a backup (logged, and in the
// backup's event).
const (
	readDirect    = "direct"    // the daemon walked the volume's directory
	readContainer = "container" // tar in a helper container
)

// archiveVolumes streams a tar of each of this install's volumes into the
// archive, in parts (nothing is staged on disk). It returns the volumes
// archived and how each was read.
func (d *Daemon) archiveVolumes(ctx context.Context, aw *backup.Writer) ([]backup.Volume, map[string]string, error) {
	vols, err := d.Volumes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list volumes: %w", err)
	}
	mounts := map[string]string{}
	if len(vols) > 0 {
		have, err := d.rt.ListVolumes(ctx, d.labels(nil))
		if err != nil {
			return nil, nil, fmt.Errorf("list volumes: %w", err)
		}
		for _, v := range have {
			mounts[v.Name] = v.Mountpoint
		}
	}
	var out []backup.Volume
	how := map[string]string{}
	for _, v := range vols {
		if v.Missing {
			continue // created empty at its next mount
		}
		pw, err := aw.Stream(backup.VolumeFile(v.Name), 0o600)
		if err != nil {
			return nil, nil, err
		}
		how[v.Name] = readContainer
		if dir := mounts[v.Podman]; directReadable(dir) {
			how[v.Name] = readDirect
			err = tarDir(ctx, pw, dir)
		} else {
			err = d.exportVolume(ctx, v.Podman, pw)
		}
		if cerr := pw.Close(); err == nil { // Close waits for the checksums' goroutines
			err = cerr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("export volume %s: %w", v.Name, err)
		}
		out = append(out, backup.Volume{Name: v.Name, Podman: v.Podman, Labels: d.volumeLabels(v.Name)})
	}
	return out, how, nil
}

// directReadable reports whether the daemon can read a volume's directory
// itself, owners as the containers see them: it runs as root and the
// volume is in root's storage (rootful Podman: no user namespace between
// the files' owners and the containers'). A rootless service's volumes
// hold files owned by subordinate ids the daemon cannot all read; tar in
// a helper container reads those.
func directReadable(dir string) bool {
	if dir == "" || os.Geteuid() != 0 {
		return false
	}
	st, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Uid == 0
}

// tarDir writes a tar of dir to w as `tar --numeric-owner -C dir -cf - .`
// would: names ./…, numeric owners, modes with setuid, setgid and sticky
// bits, hard links as links, symbolic links, devices and FIFOs. The app
// may be writing meanwhile: a file that goes away is left out, one that
// shrinks is padded with zeros to the size it had (as GNU tar does), one
// that grows is archived at that size.
func tarDir(ctx context.Context, w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := "./" + filepath.ToSlash(rel)
		if rel == "." {
			name = "./"
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner", p)
		}
		h := &tar.Header{
			Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
			ModTime: fi.ModTime().Truncate(time.Second),
		}
		switch m := fi.Mode(); {
		case m.IsDir():
			h.Typeflag = tar.TypeDir
			if name != "./" {
				h.Name += "/"
			}
		case m&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(p); err != nil {
				return nil // gone meanwhile
			}
		case m&fs.ModeNamedPipe != 0:
			h.Typeflag = tar.TypeFifo
		case m&fs.ModeDevice != 0:
			h.Typeflag = tar.TypeBlock
			if m&fs.ModeCharDevice != 0 {
				h.Typeflag = tar.TypeChar
			}
			h.Devmajor, h.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		case m.IsRegular():
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				break
			}
			if st.Nlink > 1 {
				links[key] = name
			}
			return addFile(w, h, p, fi.Size(), buf)
		default:
			return nil // sockets: GNU tar leaves them out too
		}
		return tw.WriteHeader(h)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addFile writes a regular file of size bytes, as much as it has of them,
// to w, the tar tarDir writes: its header, its data, the zeros up to the
// next 512-byte block. The header comes from a tar.Writer of its own and
// the data goes to w directly, so a w that reads it into its own buffer
// (backup.PartWriter's ReadFrom) gets it with no copy through buf: a
// tar.Writer offers no such path. tarDir's tar.Writer writes only entries
// without data, so it has no padding of a file left to write.
func addFile(w io.Writer, h *tar.Header, p string, size int64, buf []byte) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h.Typeflag, h.Size = tar.TypeReg, size
	if err := tar.NewWriter(w).WriteHeader(h); err != nil {
		return err
	}
	n, err := io.CopyBuffer(w, io.LimitReader(f, size), buf)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	// It shrank: the size is in the header already. Then the block's
	// padding.
	for rest := size - n + (-size & (tarBlock - 1)); rest > 0; {
		k := min(int64(len(buf)), rest)
		clear(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		rest -= k
	}
	return nil
}

// tarBlock is a tar's block size.
const tarBlock = 512

// volumeTool runs tar in a helper container of the stack's base image
// with a volume at /v (and, when dir is not "", dir at /x), its stdout to
// out; it returns tar's complaint on failure.
func volumeTool(ctx context.Context, rt Runtime, image string, labels map[string]string, volume string, readOnly bool, dir string, out io.Writer, args ...string) error {
	var msg bytes.Buffer
	cmd := append([]string{"tar", "--numeric-owner"}, args...)
	mounts := []podman.Mount{{Volume: volume, Path: "/v", ReadOnly: readOnly}}
	if dir != "" {
		mounts = append(mounts, podman.Mount{HostDir: dir, Path: "/x"})
	}
	if out == nil {
		out = &msg
	}
	code, err := rt.RunAttached(ctx, podman.ContainerSpec{Image: image, Command: cmd, Labels: labels, Mounts: mounts},
		podman.Stdio{Out: out, Err: &msg})
	if err != nil {
		return err
	}
	// 1: a file changed while tar read it; the tar is whole, the file
	// as tar found it.
	if code != 0 && !(code == 1 && readOnly) {
		return fmt.Errorf("tar exited %d: %s", code, strings.TrimSpace(msg.String()))
	}
	return nil
}

// exportVolume streams a tar of the volume to w from a helper container
// that mounts it read-only, so owners and modes are kept whatever user
// namespace the volume lives in.
func (d *Daemon) exportVolume(ctx context.Context, volume string, w io.Writer) error {
	labels := d.labels(map[string]string{labelOneOff: "backup"})
	return volumeTool(ctx, d.rt, d.opts.Stack.Base, labels, volume, true, "", w, "-C", "/v", "-cf", "-", ".")
}

// ImportVolume fills a volume from a tar that a backup made, found at
// dir/file on this host. `xcloud restore` uses it with the daemon stopped.
// Where the backup would read the volume's directory itself (root beside
// rootful Podman), the tar is unpacked straight into it (untarDir): the
// helper container's start cost more than the rest of a small volume's
// import. Otherwise, or for what untarDir does not make (devices,
// FIFOs), tar runs in a helper container of image (the stack's base).
func ImportVolume(ctx context.Context, rt Runtime, image, volume string, labels map[string]string, dir, file string) error {
	if err := rt.EnsureVolume(ctx, volume, labels); err != nil {
		return err
	}
	if mount := volumeMount(ctx, rt, volume, labels); directReadable(mount) {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			return fmt.Errorf("import volume %s: %w", volume, err)
		}
		err = untarDir(ctx, bufio.NewReaderSize(f, 1<<20), mount)
		f.Close()
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNeedHelper) {
			return fmt.Errorf("import volume %s: %w", volume, err)
		}
	}
	if err := volumeTool(ctx, rt, image, nil, volume, false, dir, nil, "-C", "/v", "-xpf", "/x/"+file); err != nil {
		return fmt.Errorf("import volume %s: %w", volume, err)
	}
	return nil
}

// volumeMount is the volume's directory on the host, or "" if unknown.
func volumeMount(ctx context.Context, rt Runtime, volume string, labels map[string]string) string {
	vols, err := rt.ListVolumes(ctx, labels)
	if err != nil {
		return ""
	}
	for _, v := range vols {
		if v.Name == volume {
			return v.Mountpoint
		}
	}
	return ""
}

// ErrNeedHelper: the tar holds an entry untarDir does not make; tar in a
// helper container makes it (ImportVolume).
var ErrNeedHelper = errors.New("the volume's tar holds devices or FIFOs")

// untarDir unpacks a tar that tarDir wrote into dir as `tar
// --numeric-owner -xpf` would: numeric owners, modes with the special
// bits, modification times, symbolic and hard links; the "./" entry sets
// dir's own mode and owner. Every name is confined to dir (os.Root: no
// "..", no symbolic link followed out of it). A device or FIFO is
// ErrNeedHelper.
func untarDir(ctx context.Context, r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	buf := make([]byte, 1<<20)
	type dirMeta struct {
		name  string
		mtime time.Time
	}
	var dirs []dirMeta // mtimes set last: files written inside change them
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "" || name == "/" {
			name = "."
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%w: entry %q outside the volume", backup.ErrCorrupt, h.Name)
		}
		mode := fileMode(h.Mode)
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := root.MkdirAll(name, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{name, h.ModTime})
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(f, io.LimitReader(tr, h.Size), buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
			if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			old := path.Clean(strings.TrimPrefix(h.Linkname, "./"))
			if err := root.Link(old, name); err != nil {
				return err
			}
			continue
		default:
			return ErrNeedHelper
		}
		if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
			return err
		}
		// After chown, which clears setuid and setgid.
		if err := root.Chmod(name, mode); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if err := root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
				return err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// fileMode turns a tar header's mode bits into an fs.FileMode.
func fileMode(m int64) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
