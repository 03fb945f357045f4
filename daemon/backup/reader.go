package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Size bounds of the two JSON entries, so a damaged archive cannot make the
// reader hold gigabytes.
const (
	maxHeader   = 64 << 10
	maxManifest = 256 << 20
)

// Extract reads an archive from r into dst, an empty directory, and checks
// it whole: the header says it is an xcloud backup no newer than
// maxSchema, every entry matches the manifest's size and checksum, nothing
// is missing or extra, and the stream is not cut short. On any error what
// was written to dst is the caller's to remove; nothing outside dst is
// touched.
func Extract(r io.Reader, dst string, maxSchema int) (Manifest, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, err := br.Peek(len(zstdMagic)); err != nil || !bytes.Equal(magic, zstdMagic) {
		return Manifest{}, fmt.Errorf("%w (not zstd-compressed)", ErrNotBackup)
	}
	zr, err := zstd.NewReader(br)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrNotBackup, err)
	}
	defer zr.Close()
	root, err := os.OpenRoot(dst)
	if err != nil {
		return Manifest{}, fmt.Errorf("restore into %s: %w", dst, err)
	}
	defer root.Close()

	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != HeaderName || hdr.Size > maxHeader {
		return Manifest{}, fmt.Errorf("%w (no %s first)", ErrNotBackup, HeaderName)
	}
	var h Header
	if b, err := io.ReadAll(tr); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	} else if err := json.Unmarshal(b, &h); err != nil {
		return Manifest{}, fmt.Errorf("%w (unreadable %s)", ErrNotBackup, HeaderName)
	}
	switch {
	case h.Format > Format:
		return Manifest{}, fmt.Errorf("%w: archive format %d, this xcloud reads up to %d; restore with the xcloud (%s) that wrote it or a newer one", ErrNewer, h.Format, Format, h.Version)
	case h.Format < 1:
		return Manifest{}, fmt.Errorf("%w (format %d)", ErrNotBackup, h.Format)
	case h.Schema > maxSchema:
		return Manifest{}, fmt.Errorf("%w: its database schema is v%d, this xcloud knows up to v%d; restore with xcloud %s or newer", ErrNewer, h.Schema, maxSchema, h.Version)
	}

	got := map[string]entry{}
	parts := map[string]int{} // streamed entry → parts joined so far
	var manifest []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if manifest != nil {
			return Manifest{}, fmt.Errorf("%w: %s after the manifest", ErrCorrupt, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, hdr.Name)
		}
		if hdr.Name == ManifestName {
			if hdr.Size > maxManifest {
				return Manifest{}, fmt.Errorf("%w: manifest of %d bytes", ErrCorrupt, hdr.Size)
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			continue
		}
		if err := CheckPath(hdr.Name); err != nil {
			return Manifest{}, err
		}
		if _, dup := got[hdr.Name]; dup || hdr.Name == HeaderName {
			return Manifest{}, fmt.Errorf("%w: %s twice", ErrCorrupt, hdr.Name)
		}
		name, appendTo := hdr.Name, false
		if base, i, ok := splitPart(hdr.Name); ok {
			// Parts come in order and are joined into their entry.
			if parts[base] != i {
				return Manifest{}, fmt.Errorf("%w: %s out of order", ErrCorrupt, hdr.Name)
			}
			parts[base]++
			name, appendTo = base, i > 0
		}
		f, err := extractFile(root, name, appendTo, hdr, tr, newHash(h.Format))
		if err != nil {
			return Manifest{}, err
		}
		got[hdr.Name] = f
	}
	if manifest == nil {
		return Manifest{}, fmt.Errorf("%w: it ends before its manifest (truncated?)", ErrCorrupt)
	}
	// The rest of the stream: zstd checks its frame checksum at the end.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return Manifest{}, err
	}
	if m.Header.Format != h.Format || m.Header.Schema != h.Schema || m.Header.Version != h.Version {
		return Manifest{}, fmt.Errorf("%w: manifest and header disagree", ErrCorrupt)
	}
	for _, want := range m.Files {
		have, ok := got[want.Path]
		if !ok {
			return Manifest{}, fmt.Errorf("%w: %s is missing", ErrCorrupt, want.Path)
		}
		if have.size != want.Size || have.sum != want.sum(h.Format) {
			return Manifest{}, fmt.Errorf("%w: %s does not match its checksum", ErrCorrupt, want.Path)
		}
		delete(got, want.Path)
	}
	for p := range got {
		return Manifest{}, fmt.Errorf("%w: %s is not in the manifest", ErrCorrupt, p)
	}
	return m, nil
}

// extractFile writes one entry under root as name (a part: appended to
// it), counting its checksum with h.
func extractFile(root *os.Root, name string, appendTo bool, hdr *tar.Header, r io.Reader, h hash.Hash) (entry, error) {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return entry{}, fmt.Errorf("restore %s: %w", hdr.Name, err)
		}
	}
	perm := uint32(hdr.Mode) & 0o777
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if appendTo {
		flags = os.O_WRONLY | os.O_APPEND
	}
	out, err := root.OpenFile(name, flags, os.FileMode(perm|0o600))
	if err != nil {
		return entry{}, fmt.Errorf("restore %s: %w", hdr.Name, err)
	}
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return entry{}, fmt.Errorf("%w: %s is cut short (truncated?)", ErrCorrupt, hdr.Name)
		}
		return entry{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, hdr.Name, err)
	}
	return entry{size: n, sum: hexSum(h.Sum(nil))}, nil
}

// entry is what Extract read of one entry: its size and checksum.
type entry struct {
	size int64
	sum  string
}
