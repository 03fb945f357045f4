package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Writer writes one archive. Add entries, then Close with the manifest's
// apps and volumes; the files list is filled in from what was added.
type Writer struct {
	zw      *zstd.Encoder
	tw      *tar.Writer
	header  Header
	files   []File
	seen    map[string]bool
	modTime time.Time
}

// NewWriter starts an archive on w with h (Format is set) as its first entry.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format = Format
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("start backup: %w", err)
	}
	bw := &Writer{zw: zw, tw: tar.NewWriter(zw), header: h, seen: map[string]bool{}, modTime: h.CreatedAt}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := bw.entry(HeaderName, 0o600, b); err != nil {
		return nil, err
	}
	return bw, nil
}

func (w *Writer) entry(name string, mode int64, b []byte) error {
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b)), ModTime: w.modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := w.tw.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Add writes the entry name of size bytes read from r, counting its
// checksum. r yielding fewer or more bytes than size is an error: the file
// changed while it was read.
func (w *Writer) Add(name string, mode fs.FileMode, size int64, r io.Reader) error {
	if err := CheckPath(name); err != nil {
		return err
	}
	if name == HeaderName || name == ManifestName || w.seen[name] {
		return fmt.Errorf("add %s: entry already written", name)
	}
	w.seen[name] = true
	perm := mode.Perm()
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: int64(perm), Size: size, ModTime: w.modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(w.tw, io.TeeReader(io.LimitReader(r, size+1), h))
	if err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
		return fmt.Errorf("add %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("add %s: read %d bytes of %d: it changed while being archived", name, n, size)
	}
	w.files = append(w.files, File{Path: name, Size: size, SHA256: hexSum(h.Sum(nil)), Mode: uint32(perm)})
	return nil
}

// AddFile adds the file at path as the entry name.
func (w *Writer) AddFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	return w.Add(name, st.Mode(), st.Size(), f)
}

// AddTree adds every regular file under dir as prefix/<relative path>.
// Symbolic links and other special files are left out: repositories and
// published static files hold none that matter (a static site's "current"
// link is made again from its release).
func (w *Writer) AddTree(prefix, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("add %s: %w", prefix, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return w.AddFile(prefix+"/"+filepath.ToSlash(rel), p)
	})
}

// Close writes the manifest (m's header and files are set from the archive)
// and ends the stream. It returns the manifest written.
func (w *Writer) Close(m Manifest) (Manifest, error) {
	m.Header = w.header
	m.Files = w.files
	if m.Apps == nil {
		m.Apps = []string{}
	}
	if m.Volumes == nil {
		m.Volumes = []Volume{}
	}
	m.WithKey = w.seen[KeyName]
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := w.entry(ManifestName, 0o600, b); err != nil {
		return Manifest{}, err
	}
	if err := w.tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("finish backup: %w", err)
	}
	if err := w.zw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("finish backup: %w", err)
	}
	return m, nil
}

// Abort releases the compressor without finishing the archive: a reader
// refuses what was written so far.
func (w *Writer) Abort() { w.zw.Reset(io.Discard) }
