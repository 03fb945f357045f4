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
	"strings"

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
	return ExtractTo(r, dst, maxSchema, nil)
}

// VolumeSink takes a volume's tar (volume is its name in the archive) as
// ExtractTo reads it, instead of the file volumes/<volume>.tar under dst;
// ExtractTo closes the writer at the tar's end. It returns a nil writer to
// leave that volume's tar to dst.
type VolumeSink func(volume string) (io.WriteCloser, error)

// ExtractTo is Extract handing each volume's tar to sink while the archive
// is read and checked, so a restore writes the volume's files once rather
// than the tar first and the files after. What sink made is not checked
// yet when it is made: the caller keeps it aside until ExtractTo returns
// no error. A writer's error is returned once the archive checked whole
// (a damaged archive is called damaged, not unpackable).
func ExtractTo(r io.Reader, dst string, maxSchema int, sink VolumeSink) (Manifest, error) {
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
	buf := make([]byte, 1<<20)
	var (
		cur     *unpacking          // the volume's tar being handed to sink
		sunk    = map[string]bool{} // entries handed to sink
		sinkErr error
	)
	endSink := func() {
		if cur == nil {
			return
		}
		if err := cur.w.Close(); err != nil && cur.err == nil {
			cur.err = err
		}
		if cur.err != nil && sinkErr == nil {
			sinkErr = fmt.Errorf("unpack %s: %w", cur.name, cur.err)
		}
		cur = nil
	}
	defer endSink() // an error returned before the end: the writer's goroutines end too
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
		if cur != nil && cur.name != name {
			endSink() // another entry: the volume's tar is whole
		}
		if cur == nil && sunk[name] {
			return Manifest{}, fmt.Errorf("%w: the parts of %s are not together", ErrCorrupt, name)
		}
		if v, ok := volumeOf(name); ok && cur == nil && sink != nil && !appendTo {
			w, err := sink(v)
			if err != nil {
				return Manifest{}, fmt.Errorf("restore %s: %w", name, err)
			}
			if w != nil {
				cur, sunk[name] = &unpacking{name: name, w: w}, true
			}
		}
		var f entry
		if cur != nil {
			f, err = copyEntry(sinkWriter{cur}, hdr, tr, newHash(h.Format), buf)
		} else {
			f, err = extractFile(root, name, appendTo, hdr, tr, newHash(h.Format), buf)
		}
		if err != nil {
			return Manifest{}, err
		}
		got[hdr.Name] = f
	}
	endSink()
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
	if sinkErr != nil {
		return Manifest{}, sinkErr
	}
	return m, nil
}

// volumeOf is the volume whose tar the entry name is.
func volumeOf(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, VolumesDir+"/")
	if !ok || !Streamable(name) {
		return "", false
	}
	return strings.TrimSuffix(rest, ".tar"), true
}

// unpacking is a volume's tar being handed to a VolumeSink's writer.
type unpacking struct {
	name string // the entry, volumes/<volume>.tar
	w    io.WriteCloser
	err  error // the writer's first error
}

// sinkWriter passes what it is given to the writer until that fails, then
// only swallows it: the archive is still read to its end and checked.
type sinkWriter struct{ u *unpacking }

func (s sinkWriter) Write(b []byte) (int, error) {
	if s.u.err == nil {
		if _, err := s.u.w.Write(b); err != nil {
			s.u.err = err
		}
	}
	return len(b), nil
}

// extractFile writes one entry under root as name (a part: appended to
// it), counting its checksum with h.
func extractFile(root *os.Root, name string, appendTo bool, hdr *tar.Header, r io.Reader, h hash.Hash, buf []byte) (entry, error) {
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
	e, err := copyEntry(out, hdr, r, h, buf)
	if cerr := out.Close(); err == nil && cerr != nil {
		return entry{}, fmt.Errorf("restore %s: %w", hdr.Name, cerr)
	}
	return e, err
}

// copyEntry copies the entry hdr from r to w, counting its checksum with
// h.
func copyEntry(w io.Writer, hdr *tar.Header, r io.Reader, h hash.Hash, buf []byte) (entry, error) {
	// w first: while h counts a piece, a writer handing it to another
	// goroutine (a VolumeSink's) has that one write it out.
	n, err := io.CopyBuffer(io.MultiWriter(w, h), r, buf)
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
