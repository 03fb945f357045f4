package backup

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"
)

// sample writes an archive with a database, a repository file, a static
// file, a volume and the key.
func sample(t testing.TB) []byte {
	t.Helper()
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "hello.git", "refs", "heads"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "hello.git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "hello.git", "refs", "heads", "main"), []byte(strings.Repeat("a", 40)+"\n"), 0o644))
	must(t, os.Symlink("HEAD", filepath.Join(src, "hello.git", "link"))) // left out
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Version: "test", Schema: 9, CreatedAt: time.Unix(1700000000, 0).UTC()})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 5, strings.NewReader("db!!!")))
	must(t, w.AddTree(ReposDir+"/hello.git", filepath.Join(src, "hello.git")))
	must(t, w.Add(StaticDir+"/site/abc/index.html", 0o644, 2, strings.NewReader("hi")))
	must(t, w.Add(VolumeFile("data"), 0o600, 3, strings.NewReader("tar")))
	must(t, w.Add(KeyName, 0o600, 32, bytes.NewReader(make([]byte, 32))))
	m, err := w.Close(Manifest{Apps: []string{"hello", "site"}, Volumes: []Volume{{Name: "data", Podman: "xcloud-x-data"}}})
	must(t, err)
	if !m.WithKey || len(m.Files) != 6 {
		t.Fatalf("manifest: %+v", m)
	}
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	arc := sample(t)
	dst := t.TempDir()
	m, err := Extract(bytes.NewReader(arc), dst, 9)
	must(t, err)
	if m.Version != "test" || m.Schema != 9 || !m.WithKey || len(m.Volumes) != 1 || m.Volumes[0].Name != "data" {
		t.Fatalf("manifest: %+v", m)
	}
	for p, want := range map[string]string{
		DatabaseName: "db!!!", "repos/hello.git/HEAD": "ref: refs/heads/main\n",
		"static/site/abc/index.html": "hi", "volumes/data.tar": "tar",
	} {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "repos/hello.git/link")); err == nil {
		t.Error("symlink archived")
	}
	if st, err := os.Stat(filepath.Join(dst, "static/site/abc/index.html")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v %v", st.Mode(), err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	_, err := Extract(bytes.NewReader(sample(t)), t.TempDir(), 8)
	if !errors.Is(err, ErrNewer) {
		t.Fatalf("err = %v, want ErrNewer", err)
	}
}

func TestNotABackupRefused(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty": nil,
		"text":  []byte("hello, world\n"),
		"gzip":  {0x1f, 0x8b, 8, 0, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := Extract(bytes.NewReader(data), dst, 9)
			if !errors.Is(err, ErrNotBackup) {
				t.Fatalf("err = %v, want ErrNotBackup", err)
			}
			if entries, _ := os.ReadDir(dst); len(entries) != 0 {
				t.Fatalf("wrote %v", entries)
			}
		})
	}
}

// Every cut of the archive is refused, wherever it falls.
func TestTruncatedRefused(t *testing.T) {
	arc := sample(t)
	for _, n := range []int{4, 20, len(arc) / 3, len(arc) / 2, len(arc) - 40, len(arc) - 1} {
		_, err := Extract(bytes.NewReader(arc[:n]), t.TempDir(), 9)
		if err == nil {
			t.Errorf("cut at %d of %d: accepted", n, len(arc))
		}
	}
}

// An entry changed after the manifest was written is refused.
func TestTamperedRefused(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Version: "test", Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 5, strings.NewReader("db!!!")))
	// A manifest claiming other content for the same file.
	w.files[0].BLAKE3 = strings.Repeat("0", 64)
	_, err = w.Close(Manifest{})
	must(t, err)
	_, err = Extract(&buf, t.TempDir(), 9)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), DatabaseName) {
		t.Fatalf("err = %v, want ErrCorrupt naming the file", err)
	}
}

// A flipped byte anywhere in the compressed stream is refused, unless it
// is one of the few bits zstd ignores, and what comes out is unchanged.
func TestFlippedByteRefused(t *testing.T) {
	arc := sample(t)
	clean, err := Extract(bytes.NewReader(arc), t.TempDir(), 9)
	must(t, err)
	refused := 0
	for i := len(zstdMagic); i < len(arc); i += 7 {
		bad := bytes.Clone(arc)
		bad[i] ^= 0x40
		m, err := Extract(bytes.NewReader(bad), t.TempDir(), 9)
		if err != nil {
			refused++
			continue
		}
		if !reflect.DeepEqual(m, clean) {
			t.Fatalf("flipped byte %d of %d: accepted with a different manifest", i, len(arc))
		}
	}
	if refused == 0 {
		t.Fatal("no flipped byte was refused")
	}
}

func TestAddChangedFile(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{})
	must(t, err)
	if err := w.Add(DatabaseName, 0o600, 10, strings.NewReader("short")); err == nil {
		t.Fatal("a file shorter than its size was archived")
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"db/xcloud.db", "repos/a.git/HEAD", "static/a/x/y.html", "volumes/data.tar", "secret.key",
		"volumes/data.tar.000000", "volumes/data.tar.000123", "services/db.dump", "services/db.dump.000001", "caddy/certificates/acme/example.com/example.com.crt"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc/passwd", "../x", "repos/../../x", "repos/A.git/x", "other/x", "volumes/x", "volumes/../x.tar", "static//a", "./db/xcloud.db", "repos/a.git/../../../x",
		"caddy", "caddy/../x", "services/db", "services/DB.dump", "volumes/data.tar.12", "volumes/data.tar.00000x"} {
		if err := CheckPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"files":[{"path":"db/xcloud.db","size":1,"sha256":"` + strings.Repeat("a", 64) + `","mode":384}]}`))
	f.Add([]byte(`{"format":1,"with_key":true,"apps":["a"],"volumes":[{"name":"v"}],"files":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		// What is accepted names only entries an archive may hold.
		for _, file := range m.Files {
			if CheckPath(file.Path) != nil || strings.Contains(file.Path, "..") {
				t.Fatalf("accepted %q", file.Path)
			}
		}
	})
}

// A streamed entry goes in as parts of at most the part size, each with
// its checksum, and comes out joined; an empty stream is one empty part.
// Written in pieces or read from a reader (ReadFrom), after a piece
// written, alike.
func TestStreamRoundTrip(t *testing.T) {
	for _, readFrom := range []bool{false, true} {
		for _, size := range []int{0, 1, 9, 10, 11, 35} {
			streamRoundTrip(t, size, readFrom)
		}
	}
}

func streamRoundTrip(t *testing.T, size int, readFrom bool) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Version: "test", Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	pw, err := w.stream(VolumeFile("data"), 0o600, 10)
	must(t, err)
	want := bytes.Repeat([]byte("0123456789abcdefg"), 3)[:size]
	// Written in uneven pieces, as tar and an attach stream write.
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 7)
		_, err := pw.Write(rest[:n])
		must(t, err)
		rest = rest[n:]
		if readFrom {
			// Reads of uneven sizes too.
			n, err := pw.ReadFrom(iotest.HalfReader(bytes.NewReader(rest)))
			must(t, err)
			if n != int64(len(rest)) {
				t.Fatalf("size %d: ReadFrom took %d of %d bytes", size, n, len(rest))
			}
			break
		}
	}
	must(t, pw.Close())
	m, err := w.Close(Manifest{Volumes: []Volume{{Name: "data"}}})
	must(t, err)
	if parts := max(1, (size+9)/10); len(m.Files) != 1+parts {
		t.Fatalf("size %d: files %+v, want %d parts", size, m.Files, parts)
	}
	dst := t.TempDir()
	if _, err := Extract(bytes.NewReader(buf.Bytes()), dst, 9); err != nil {
		t.Fatalf("size %d: %v", size, err)
	}
	got, err := os.ReadFile(filepath.Join(dst, VolumeFile("data")))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("size %d: joined %q, %v; want %q", size, got, err, want)
	}
}

// Parts out of order, a part missing from the manifest, an entry both
// whole and in parts are refused.
func TestPartsChecked(t *testing.T) {
	file := func(p string) File { return File{Path: p, BLAKE3: strings.Repeat("a", 64)} }
	db := file(DatabaseName)
	for name, files := range map[string][]File{
		"gap":          {db, file("volumes/v.tar.000000"), file("volumes/v.tar.000002")},
		"no first":     {db, file("volumes/v.tar.000001")},
		"whole, parts": {db, file("volumes/v.tar"), file("volumes/v.tar.000000")},
		"parts, whole": {db, file("volumes/v.tar.000000"), file("volumes/v.tar")},
	} {
		b, err := json.Marshal(Manifest{Header: Header{Format: Format}, Files: files})
		must(t, err)
		if _, err := ParseManifest(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	// In the stream: part 1 before part 0.
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	must(t, w.Add(PartName(VolumeFile("v"), 1), 0o600, 1, strings.NewReader("b")))
	must(t, w.Add(PartName(VolumeFile("v"), 0), 0o600, 1, strings.NewReader("a")))
	_, err = w.Close(Manifest{})
	must(t, err)
	if _, err := Extract(&buf, t.TempDir(), 9); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("parts out of order: err = %v", err)
	}
}

// BenchmarkWriter is the archive writer's own rate (tar, SHA-256, zstd)
// on incompressible data at the level it uses, with the default level
// beside it for comparison.
func BenchmarkWriter(b *testing.B) {
	data := make([]byte, 64<<20)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	for _, lv := range []struct {
		name  string
		level zstd.EncoderLevel
	}{{"fastest", zstd.SpeedFastest}, {"default", zstd.SpeedDefault}} {
		b.Run(lv.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				w, err := newWriter(io.Discard, Header{}, lv.level)
				must(b, err)
				pw, err := w.Stream(VolumeFile("v"), 0o600)
				must(b, err)
				for off := 0; off < len(data); off += 32 << 10 {
					if _, err := pw.Write(data[off : off+32<<10]); err != nil {
						b.Fatal(err)
					}
				}
				must(b, pw.Close())
				_, err = w.Close(Manifest{})
				must(b, err)
			}
		})
	}
}

// Archives of the formats before BLAKE3, their checksums SHA-256, still
// restore: format 1 (a volume as one whole entry, as xcloud wrote them
// before volumes were streamed in parts), 2 and 3 (parts); one whose
// checksum does not match is refused.
func TestOlderFormatsRead(t *testing.T) {
	for _, format := range []int{1, 2, 3} {
		for _, tamper := range []bool{false, true} {
			arc := olderArchive(t, format, tamper)
			dst := t.TempDir()
			m, err := Extract(bytes.NewReader(arc), dst, 9)
			if tamper {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("format %d, tampered: err = %v, want ErrCorrupt", format, err)
				}
				continue
			}
			must(t, err)
			if m.Format != format || len(m.Volumes) != 1 {
				t.Fatalf("manifest: %+v", m)
			}
			if b, err := os.ReadFile(filepath.Join(dst, VolumeFile("data"))); err != nil || string(b) != "volume tar" {
				t.Fatalf("format %d: volume: %q, %v", format, b, err)
			}
		}
	}
}

// olderArchive writes an archive of format (below FormatBLAKE3) as the
// xcloud of that format did: SHA-256 checksums, the volume whole (1) or
// in two parts; tamper lists a wrong checksum for the database.
func olderArchive(t *testing.T, format int, tamper bool) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	must(t, err)
	tw := tar.NewWriter(zw)
	put := func(name string, b []byte) {
		must(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		must(t, err)
	}
	h := Header{Format: format, Version: "old", Schema: 9}
	hb, err := json.Marshal(h)
	must(t, err)
	put(HeaderName, hb)
	entries := []struct{ name, body string }{{DatabaseName, "db"}, {VolumeFile("data"), "volume tar"}}
	if format > 1 {
		entries = []struct{ name, body string }{{DatabaseName, "db"}, {PartName(VolumeFile("data"), 0), "volume"}, {PartName(VolumeFile("data"), 1), " tar"}}
	}
	var files []File
	for _, e := range entries {
		put(e.name, []byte(e.body))
		sum := sha256.Sum256([]byte(e.body))
		if tamper && e.name == DatabaseName {
			sum = sha256.Sum256([]byte("other"))
		}
		files = append(files, File{Path: e.name, Size: int64(len(e.body)), SHA256: hexSum(sum[:]), Mode: 0o600})
	}
	mb, err := json.Marshal(Manifest{Header: h, Apps: []string{}, Volumes: []Volume{{Name: "data"}}, Files: files})
	must(t, err)
	put(ManifestName, mb)
	must(t, tw.Close())
	must(t, zw.Close())
	return buf.Bytes()
}

// A manifest's checksums are those of its format: SHA-256 below
// FormatBLAKE3, BLAKE3 from it; the other kind, or both, is refused.
func TestChecksumKindChecked(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for _, c := range []struct {
		format         int
		sha256, blake3 string
		ok             bool
	}{
		{3, sum, "", true}, {3, "", sum, false}, {3, sum, sum, false},
		{Format, "", sum, true}, {Format, sum, "", false}, {Format, sum, sum, false}, {Format, "", "", false},
	} {
		b, err := json.Marshal(Manifest{Header: Header{Format: c.format}, Files: []File{{Path: DatabaseName, SHA256: c.sha256, BLAKE3: c.blake3}}})
		must(t, err)
		if _, err := ParseManifest(b); (err == nil) != c.ok {
			t.Errorf("format %d, sha256 %q, blake3 %q: err = %v", c.format, c.sha256, c.blake3, err)
		}
	}
}

// BenchmarkExtract is restore's reading of an archive (zstd, checksums,
// writing the files) holding a 64 MB volume of random data, against
// `zstd -d | tar -x` of an archive of the same bytes, in the same run.
func BenchmarkExtract(b *testing.B) {
	data := make([]byte, 64<<20)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var arc bytes.Buffer
	w, err := NewWriter(&arc, Header{Schema: 1})
	must(b, err)
	must(b, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	pw, err := w.Stream(VolumeFile("v"), 0o600)
	must(b, err)
	_, err = pw.Write(data)
	must(b, err)
	must(b, pw.Close())
	_, err = w.Close(Manifest{Volumes: []Volume{{Name: "v"}}})
	must(b, err)

	b.Run("xcloud", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			dst, err := os.MkdirTemp(dir, "x-")
			must(b, err)
			_, err = Extract(bytes.NewReader(arc.Bytes()), dst, 1)
			must(b, err)
			b.StopTimer()
			must(b, os.RemoveAll(dst))
			b.StartTimer()
		}
	})
	b.Run("zstd-tar", func(b *testing.B) {
		if _, err := exec.LookPath("zstd"); err != nil {
			b.Skip("no zstd")
		}
		src := filepath.Join(dir, "src")
		must(b, os.MkdirAll(src, 0o700))
		must(b, os.WriteFile(filepath.Join(src, "v.tar"), data, 0o600))
		plain := filepath.Join(dir, "plain.tar.zst")
		if out, err := exec.Command("sh", "-c", `tar -C "$1" -cf - . | zstd -q -f -o "$2"`, "sh", src, plain).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			dst, err := os.MkdirTemp(dir, "t-")
			must(b, err)
			if out, err := exec.Command("sh", "-c", `zstd -q -d -c "$1" | tar -C "$2" -xf -`, "sh", plain, dst).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			b.StopTimer()
			must(b, os.RemoveAll(dst))
			b.StartTimer()
		}
	})
}

// An archive with an image restores it joined; a manifest that
// lists an image without its file, or a bad name, is refused.
func TestImageRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Format: Format, Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	pw, err := w.stream(ImageFile("web"), 0o600, 4)
	must(t, err)
	_, err = pw.Write([]byte("docker-archive"))
	must(t, err)
	must(t, pw.Close())
	// A release names its image by ID, as a build records it.
	im := Image{App: "web", Ref: strings.Repeat("f0", 32)}
	_, err = w.Close(Manifest{Images: []Image{im}})
	must(t, err)
	dst := t.TempDir()
	m, err := Extract(bytes.NewReader(buf.Bytes()), dst, 9)
	must(t, err)
	if m.Format != Format || len(m.Images) != 1 || m.Images[0] != im {
		t.Fatalf("manifest: format %d, images %+v", m.Format, m.Images)
	}
	if got, err := os.ReadFile(filepath.Join(dst, ImageFile("web"))); err != nil || string(got) != "docker-archive" {
		t.Fatalf("image file %q, %v", got, err)
	}

	for name, mm := range map[string]Manifest{
		"no file":  {Header: Header{Format: 3}, Images: []Image{{App: "api", Ref: "localhost/xcloud/api:b1"}}},
		"format 2": {Header: Header{Format: 2}, Images: []Image{im}},
		"bad ref":  {Header: Header{Format: 3}, Images: []Image{{App: "web", Ref: "--rm"}}},
		"short id": {Header: Header{Format: 3}, Images: []Image{{App: "web", Ref: "f0ce4cd37a21"}}},
		"twice":    {Header: Header{Format: 3}, Images: []Image{im, im}},
		"bad app":  {Header: Header{Format: 3}, Images: []Image{{App: "../x", Ref: im.Ref}}},
	} {
		mm.Files = []File{{Path: DatabaseName, SHA256: strings.Repeat("a", 64)}, {Path: PartName(ImageFile("web"), 0), SHA256: strings.Repeat("a", 64)}}
		b, err := json.Marshal(mm)
		must(t, err)
		if _, err := ParseManifest(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// ExtractTo hands each volume's tar, its parts joined, to the sink instead
// of writing it under dst, and closes the sink's writer at its end; a nil
// writer leaves the tar to dst.
func TestExtractToSink(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	want := map[string]string{"data": strings.Repeat("0123456789", 5), "files": "abc", "other": "kept as a file"}
	for _, v := range []string{"data", "files", "other"} {
		pw, err := w.stream(VolumeFile(v), 0o600, 7)
		must(t, err)
		_, err = pw.Write([]byte(want[v]))
		must(t, err)
		must(t, pw.Close())
	}
	_, err = w.Close(Manifest{Volumes: []Volume{{Name: "data"}, {Name: "files"}, {Name: "other"}}})
	must(t, err)

	got := map[string]*sinkBuffer{}
	dst := t.TempDir()
	m, err := ExtractTo(bytes.NewReader(buf.Bytes()), dst, 9, func(v string) (io.WriteCloser, error) {
		if v == "other" {
			return nil, nil
		}
		got[v] = &sinkBuffer{}
		return got[v], nil
	})
	must(t, err)
	if len(m.Volumes) != 3 || len(got) != 2 {
		t.Fatalf("manifest %+v, sunk %v", m, got)
	}
	for _, v := range []string{"data", "files"} {
		if got[v].String() != want[v] || !got[v].closed {
			t.Errorf("%s: sink got %q (closed %v), want %q", v, got[v].String(), got[v].closed, want[v])
		}
		if _, err := os.Stat(filepath.Join(dst, VolumeFile(v))); err == nil {
			t.Errorf("%s: written under dst too", v)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, VolumeFile("other"))); err != nil || string(b) != want["other"] {
		t.Errorf("other: %q, %v", b, err)
	}
}

// A volume's part changed after the manifest was written is refused as
// damaged even when the sink took it (and failed on it): the sink's work
// is the caller's to throw away. A sink's failure on an archive that
// checks is returned.
func TestExtractToSinkChecked(t *testing.T) {
	archive := func(tamper bool) []byte {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, Header{Schema: 9})
		must(t, err)
		must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
		pw, err := w.stream(VolumeFile("data"), 0o600, 4)
		must(t, err)
		_, err = pw.Write([]byte("0123456789"))
		must(t, err)
		must(t, pw.Close())
		if tamper {
			w.files[2].BLAKE3 = strings.Repeat("0", 64)
		}
		_, err = w.Close(Manifest{Volumes: []Volume{{Name: "data"}}})
		must(t, err)
		return buf.Bytes()
	}
	noRoom := errors.New("no room")
	failing := func(string) (io.WriteCloser, error) { return &sinkBuffer{fail: noRoom}, nil }
	_, err := ExtractTo(bytes.NewReader(archive(true)), t.TempDir(), 9, failing)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), PartName(VolumeFile("data"), 1)) {
		t.Fatalf("tampered: err = %v, want ErrCorrupt naming the part", err)
	}
	if _, err := ExtractTo(bytes.NewReader(archive(false)), t.TempDir(), 9, failing); !errors.Is(err, noRoom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("sink failing: err = %v, want the sink's error", err)
	}
}

// sinkBuffer is a VolumeSink's writer that keeps what it is given, or
// fails with fail.
type sinkBuffer struct {
	bytes.Buffer
	fail   error
	closed bool
}

func (s *sinkBuffer) Write(b []byte) (int, error) {
	if s.fail != nil {
		return 0, s.fail
	}
	return s.Buffer.Write(b)
}

func (s *sinkBuffer) Close() error { s.closed = true; return nil }

// A volume's parts with another entry between them cannot be handed to a
// sink as one tar: refused when a sink takes the volume.
func TestExtractToSinkPartsTogether(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, strings.NewReader("db")))
	must(t, w.Add(PartName(VolumeFile("v"), 0), 0o600, 1, strings.NewReader("a")))
	must(t, w.Add(StaticDir+"/site/x/index.html", 0o644, 2, strings.NewReader("hi")))
	must(t, w.Add(PartName(VolumeFile("v"), 1), 0o600, 1, strings.NewReader("b")))
	_, err = w.Close(Manifest{Volumes: []Volume{{Name: "v"}}})
	must(t, err)
	sink := func(string) (io.WriteCloser, error) { return &sinkBuffer{}, nil }
	if _, err := ExtractTo(bytes.NewReader(buf.Bytes()), t.TempDir(), 9, sink); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}
