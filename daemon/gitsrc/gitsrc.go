// Package gitsrc reads one commit of a pushed repository straight from its
// object store: as a tar stream for a build, as an fs.FS for detection, or
// extracted into a directory for a static site. No checkout, no work tree.
package gitsrc

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Source is one commit of an app's bare repository.
type Source struct {
	repo   *git.Repository
	commit *object.Commit
	tree   *object.Tree
}

// largeBlob is the size from which a file is streamed from the object
// store rather than read into memory whole: go-git otherwise holds every
// blob it reads in memory, and a build of a tree with a few large files
// (a committed binary, images) would raise the daemon's heap, and its
// resident memory long after, by the size of the largest one.
const largeBlob = 256 << 10

// objectCache bounds the decoded objects a source keeps (go-git's default
// is 96 MiB); a build reads each object once.
const objectCache = 4 * cache.MiByte

// Open reads commit sha of the repository at repoDir (bare, or a work tree).
func Open(repoDir, sha string) (*Source, error) {
	dir := repoDir // bare, as gitreceive makes them; a work tree in tests
	if fi, err := os.Stat(filepath.Join(repoDir, git.GitDirName)); err == nil && fi.IsDir() {
		dir = filepath.Join(repoDir, git.GitDirName)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCache),
		filesystem.Options{LargeObjectThreshold: largeBlob})
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", sha, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", sha, err)
	}
	return &Source{repo: repo, commit: commit, tree: tree}, nil
}

// WriteTar streams the commit's tree as a tar archive, straight from the
// object store: no checkout, no temporary files. Timestamps are the commit
// time so identical trees give identical archives (and build cache hits).
// Extra files (a generated Containerfile) are added at the top level.
func (s *Source) WriteTar(ctx context.Context, w io.Writer, extra map[string][]byte) error {
	tw := tar.NewWriter(w)
	mtime := s.commit.Committer.When
	for name, b := range extra {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	walker := object.NewTreeWalker(s.tree, true, nil)
	defer walker.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("walk tree: %w", err)
		}
		hdr := &tar.Header{Name: name, ModTime: mtime, Format: tar.FormatPAX}
		switch entry.Mode {
		case filemode.Dir:
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		case filemode.Submodule:
			continue // a gitlink has no content in this repository
		}
		blob, err := s.repo.BlobObject(entry.Hash)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		r, err := blob.Reader()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		switch entry.Mode {
		case filemode.Symlink:
			target, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return fmt.Errorf("read link %s: %w", name, err)
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, string(target), 0o777
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		case filemode.Executable:
			hdr.Mode = 0o755
		default:
			hdr.Mode = 0o644
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, blob.Size
		if err := tw.WriteHeader(hdr); err != nil {
			r.Close()
			return err
		}
		_, err = io.Copy(tw, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
	}
	return tw.Close()
}

// FS returns the commit's tree as a read-only fs.FS, for buildpack detection.
func (s *Source) FS() fs.FS { return gitFS{s.tree} }

// gitFS serves a git tree through io/fs without checking anything out.
type gitFS struct{ tree *object.Tree }

func (g gitFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &gitDir{name: ".", tree: g.tree}, nil
	}
	entry, err := g.tree.FindEntry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if entry.Mode == filemode.Dir {
		sub, err := g.tree.Tree(name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &gitDir{name: path.Base(name), tree: sub}, nil
	}
	if entry.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := g.tree.File(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &gitFile{ReadCloser: r, info: entryInfo{name: path.Base(name), mode: entry.Mode, size: f.Size}}, nil
}

type gitFile struct {
	io.ReadCloser
	info entryInfo
}

func (f *gitFile) Stat() (fs.FileInfo, error) { return f.info, nil }

type gitDir struct {
	name string
	tree *object.Tree
	pos  int
}

func (d *gitDir) Stat() (fs.FileInfo, error) {
	return entryInfo{name: d.name, mode: filemode.Dir}, nil
}
func (d *gitDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: fs.ErrInvalid}
}
func (d *gitDir) Close() error { return nil }

func (d *gitDir) ReadDir(n int) ([]fs.DirEntry, error) {
	entries := d.tree.Entries[d.pos:]
	if n > 0 && len(entries) > n {
		entries = entries[:n]
	}
	out := make([]fs.DirEntry, 0, len(entries))
	for _, e := range entries {
		if e.Mode == filemode.Submodule {
			continue
		}
		info := entryInfo{name: e.Name, mode: e.Mode}
		if e.Mode != filemode.Dir {
			if f, err := d.tree.TreeEntryFile(&e); err == nil {
				info.size = f.Size
			}
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	d.pos += len(entries)
	if n > 0 && len(entries) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

type entryInfo struct {
	name string
	mode filemode.FileMode
	size int64
}

func (i entryInfo) Name() string { return i.name }
func (i entryInfo) Size() int64  { return i.size }
func (i entryInfo) Mode() fs.FileMode {
	switch i.mode {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	}
	return 0o644
}
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.mode == filemode.Dir }
func (i entryInfo) Sys() any           { return nil }

// Extract writes the files under root of the commit's tree into dst (made
// complete in a temporary directory, then renamed into place) and returns
// how many files it wrote. Symlinks are skipped: a site must not reach
// outside its own files.
func (s *Source) Extract(root, dst string) (int, error) {
	if _, err := os.Stat(dst); err == nil {
		return 0, nil // the same commit was published before
	}
	tree := s.tree
	if root != "." && root != "" {
		sub, err := s.tree.Tree(root)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", root, err)
		}
		tree = sub
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".publish-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, err
	}
	n := 0
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		p := filepath.Join(tmp, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return 0, err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			blob, err := s.repo.BlobObject(entry.Hash)
			if err != nil {
				return 0, err
			}
			if err := writeBlob(blob, p); err != nil {
				return 0, err
			}
			n++
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, err
	}
	return n, nil
}

func writeBlob(blob *object.Blob, path string) error {
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
