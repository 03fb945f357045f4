package backup

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// Writer writes one archive. Add entries, then Close with the manifest's
// apps and volumes; the files list is filled in from what was added.
type Writer struct {
	zw      *zstd.Encoder
	fr      *frames // tw's output: zw, or frames of raw blocks (stored.go)
	tw      *tar.Writer
	probe   *zstd.Encoder // samples a part: stored or compressed
	sample  []byte        // probe's output (the part's goroutine's)
	header  Header
	files   []File
	seen    map[string]bool
	modTime time.Time
}

// archiveWindow is the compressor's window.
const archiveWindow = 2 << 20

// PartSize is the most a streamed entry's part holds (AddStream): what a
// backup keeps in memory per stream instead of a staged copy on disk.
const PartSize = 8 << 20

// NewWriter starts an archive on w with h as its first entry, of Format
// whatever h.Format says: an older xcloud could not check its checksums.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	// The default level: with the checksums counted beside it, SpeedFastest
	// made no difference measurable here (BenchmarkWriter, and the backup
	// section of make bench), and its archives of text are larger.
	return newWriter(w, h, zstd.SpeedDefault)
}

func newWriter(w io.Writer, h Header, level zstd.EncoderLevel) (*Writer, error) {
	h.Format = Format
	// A 2 MiB window, zstd's own at level 3 (klauspost's default level
	// keeps 8 MiB): moving the history along costs less, 0.05–0.15 CPU-s
	// per GB of random data here, and restore needs less memory.
	// One encoding goroutine, as the zstd CLI's one thread: the library's
	// default (one per CPU) hands every 128 KiB block to a goroutine of its
	// own and cost 0.37–0.43 CPU-s per GB of random data here against
	// 0.21–0.27 for one, no faster in wall time; the part's checksum and
	// the output (Daemon.Backup's asyncWriter) already run beside it.
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(level), zstd.WithWindowSize(archiveWindow), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("start backup: %w", err)
	}
	probe, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("start backup: %w", err)
	}
	fr := &frames{zw: zw, out: w}
	bw := &Writer{zw: zw, fr: fr, tw: tar.NewWriter(fr), probe: probe, header: h, seen: map[string]bool{}, modTime: h.CreatedAt}
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
	h := blake3.New()
	n, err := io.Copy(w.tw, io.TeeReader(io.LimitReader(r, size+1), h))
	if err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
		return fmt.Errorf("add %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("add %s: read %d bytes of %d: it changed while being archived", name, n, size)
	}
	w.files = append(w.files, File{Path: name, Size: size, BLAKE3: hexSum(h.Sum(nil)), Mode: uint32(perm)})
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
	p := &PartWriter{w: w, name: name, mode: mode}
	for i := range p.bufs {
		p.bufs[i] = make([]byte, 0, size)
	}
	return p, nil
}

// PartWriter is an entry being streamed in parts; see Writer.Stream. A
// full part is written into the archive and its checksum counted in
// goroutines of their own while the next part fills, so reading the
// source overlaps with compressing and sending: two parts are held in
// memory.
type PartWriter struct {
	w     *Writer
	name  string
	mode  fs.FileMode
	bufs  [2][]byte
	pend  [2]*pendingPart
	cur   int
	part  int
	err   error
	close bool
}

// pendingPart is one part being written and checksummed.
type pendingPart struct {
	done chan struct{}
	err  error
}

func (p *PartWriter) Write(b []byte) (int, error) {
	if p.close {
		return 0, errClosed
	}
	n := 0
	for len(b) > 0 && p.err == nil {
		c := copy(p.free(), b)
		p.filled(c)
		b, n = b[c:], n+c
	}
	return n, p.err
}

// ReadFrom reads r until EOF straight into the parts' buffers, sparing
// the copy from a caller's buffer (io.Copy uses it: a volume's files
// read by tarDir).
func (p *PartWriter) ReadFrom(r io.Reader) (int64, error) {
	if p.close {
		return 0, errClosed
	}
	var n int64
	for p.err == nil {
		k, err := r.Read(p.free())
		p.filled(k)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n, p.err
}

// free is the room left in the current part's buffer.
func (p *PartWriter) free() []byte {
	buf := p.bufs[p.cur]
	return buf[len(buf):cap(buf)]
}

// filled takes k bytes written into free() into the part, and hands the
// part on once it is full.
func (p *PartWriter) filled(k int) {
	buf := p.bufs[p.cur]
	p.bufs[p.cur] = buf[:len(buf)+k]
	if len(p.bufs[p.cur]) == cap(buf) {
		p.err = p.flush()
	}
}

// flush hands the current part to a goroutine that writes it into the
// archive (after the part before it: parts go in order) and counts its
// checksum beside, then switches to the other buffer.
func (p *PartWriter) flush() error {
	other := p.cur ^ 1
	if err := p.wait(other); err != nil {
		return err
	}
	data, name := p.bufs[p.cur], PartName(p.name, p.part)
	p.part++
	pp := &pendingPart{done: make(chan struct{})}
	p.pend[p.cur] = pp
	go func() {
		defer close(pp.done)
		sum := make(chan string, 1)
		go func() { sum <- sumOf(data) }()
		i, err := p.w.addUnsummed(name, p.mode, data, p.w.incompressible(data))
		s := <-sum
		if err != nil {
			pp.err = err
			return
		}
		// Only this goroutine touches the writer until it is waited for.
		p.w.files[i].BLAKE3 = s
	}()
	p.cur = other
	p.bufs[p.cur] = p.bufs[p.cur][:0]
	return nil
}

// wait waits for the part of buffer i, if one is pending, and returns its
// error.
func (p *PartWriter) wait(i int) error {
	pp := p.pend[i]
	if pp == nil {
		return nil
	}
	<-pp.done
	p.pend[i] = nil
	return pp.err
}

// Close writes the last part (an empty stream is one empty part) and
// waits for the parts pending. After an error it only waits, and returns
// it.
func (p *PartWriter) Close() error {
	if p.close {
		return p.err
	}
	if p.err == nil && (len(p.bufs[p.cur]) > 0 || p.part == 0) {
		p.err = p.flush()
	}
	// The older part first: it was handed over first.
	for _, i := range []int{p.cur, p.cur ^ 1} {
		if err := p.wait(i); p.err == nil {
			p.err = err
		}
	}
	p.close = true
	return p.err
}

var errClosed = errors.New("stream closed")

func sumOf(b []byte) string {
	h := blake3.Sum256(b)
	return hexSum(h[:])
}

// addUnsummed writes the entry name holding data and lists it with its
// checksum left to the caller; stored, it goes into the archive as it is,
// in a frame of raw blocks (stored.go), else through the compressor.
func (w *Writer) addUnsummed(name string, mode fs.FileMode, data []byte, stored bool) (int, error) {
	if err := CheckPath(name); err != nil {
		return 0, err
	}
	if w.seen[name] {
		return 0, fmt.Errorf("add %s: entry already written", name)
	}
	w.seen[name] = true
	perm := mode.Perm()
	if stored {
		if err := w.fr.beginStored(); err != nil {
			return 0, fmt.Errorf("add %s: %w", name, err)
		}
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: int64(perm), Size: int64(len(data)), ModTime: w.modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return 0, fmt.Errorf("add %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return 0, fmt.Errorf("add %s: %w", name, err)
	}
	if stored {
		if err := w.fr.endStored(); err != nil {
			return 0, fmt.Errorf("add %s: %w", name, err)
		}
	}
	w.files = append(w.files, File{Path: name, Size: int64(len(data)), Mode: uint32(perm)})
	return len(w.files) - 1, nil
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
	for _, f := range m.Files {
		if f.BLAKE3 == "" {
			return Manifest{}, fmt.Errorf("finish backup: %s: its stream was not closed", f.Path)
		}
	}
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
	w.probe.Close()
	return m, nil
}

// Abort releases the compressor without finishing the archive: a reader
// refuses what was written so far.
func (w *Writer) Abort() {
	w.zw.Reset(io.Discard)
	w.probe.Close()
}
