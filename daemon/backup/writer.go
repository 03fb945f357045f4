package backup

import (
	"archive/tar"
	"bytes"
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

// PartSize is the most a streamed entry's part holds (AddStream): what a
// backup keeps in memory per stream instead of a staged copy on disk.
const PartSize = 8 << 20

// NewWriter starts an archive on w with h (Format is set) as its first entry.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	// SpeedFastest: on incompressible data (most of what volumes hold:
	// media, compressed files) the writer runs about 1.4 times as fast as
	// at the default level (BenchmarkWriter measures both).
	return newWriter(w, h, zstd.SpeedFastest)
}

func newWriter(w io.Writer, h Header, level zstd.EncoderLevel) (*Writer, error) {
	h.Format = Format
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(level))
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

// Stream starts the entry name, whose size is not known beforehand (a
// volume's tar as it is made): what is written to it goes into the archive
// as consecutive parts name.000000, name.000001, … of at most PartSize
// bytes, each with its own size and checksum in the manifest; Extract
// joins them back into name. Close the stream before adding anything else.
func (w *Writer) Stream(name string, mode fs.FileMode) (*PartWriter, error) {
	return w.stream(name, mode, PartSize)
}

func (w *Writer) stream(name string, mode fs.FileMode, size int) (*PartWriter, error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	if !Streamable(name) {
		return nil, fmt.Errorf("add %s: not an entry that is streamed in parts", name)
	}
	if w.seen[name] {
		return nil, fmt.Errorf("add %s: entry already written", name)
	}
	w.seen[name] = true
	return &PartWriter{w: w, name: name, mode: mode, buf: make([]byte, 0, size)}, nil
}

// PartWriter is an entry being streamed in parts; see Writer.Stream.
type PartWriter struct {
	w    *Writer
	name string
	mode fs.FileMode
	buf  []byte
	part int
	err  error
}

func (p *PartWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 && p.err == nil {
		c := copy(p.buf[len(p.buf):cap(p.buf)], b)
		p.buf = p.buf[:len(p.buf)+c]
		b, n = b[c:], n+c
		if len(p.buf) == cap(p.buf) {
			p.err = p.flush()
		}
	}
	return n, p.err
}

func (p *PartWriter) flush() error {
	err := p.w.Add(PartName(p.name, p.part), p.mode, int64(len(p.buf)), bytes.NewReader(p.buf))
	p.part++
	p.buf = p.buf[:0]
	return err
}

// Close writes the last part (an empty stream is one empty part).
func (p *PartWriter) Close() error {
	if p.err == nil && (len(p.buf) > 0 || p.part == 0) {
		p.err = p.flush()
	}
	if p.err == nil {
		p.err = errClosed
		return nil
	}
	if errors.Is(p.err, errClosed) {
		return nil
	}
	return p.err
}

var errClosed = errors.New("stream closed")

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
