package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// source is one commit of an app's bare repository.
type source struct {
	repo   *git.Repository
	commit *object.Commit
	tree   *object.Tree
}

func openSource(repoDir, sha string) (*source, error) {
	repo, err := git.PlainOpen(repoDir)
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
	return &source{repo: repo, commit: commit, tree: tree}, nil
}

// containerfile returns the build file at the repository root, preferring
// Containerfile like Podman does.
func (s *source) containerfile() (string, bool) {
	for _, name := range []string{"Containerfile", "Dockerfile"} {
		if e, err := s.tree.FindEntry(name); err == nil && e.Mode.IsFile() {
			return name, true
		}
	}
	return "", false
}

// writeTar streams the commit's tree as a tar archive, straight from the
// object store: no checkout, no temporary files. Timestamps are the commit
// time so identical trees give identical archives (and build cache hits).
func (s *source) writeTar(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	mtime := s.commit.Committer.When
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
