package backup

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// textBytes is n bytes of varied log-like text (zstd makes it much smaller).
func textBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2026-11-30T23:%02d:%02d.%03dZ INFO request id=%08x path=/api/items/%d status=200\n", i/3600%60, i/60%60, i%1000, i*2654435761, i%977)
	}
	return b.Bytes()[:n]
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIncompressible(t *testing.T) {
	w, err := NewWriter(&bytes.Buffer{}, Header{})
	must(t, err)
	defer w.Abort()
	const n = 1 << 20
	random, text := randomBytes(t, n), textBytes(n)
	// A volume of media with one text file in it: one sample lands on the
	// text, and the part is compressed.
	mixed := append(append([]byte{}, random[:n-n/8]...), text[:n/8]...)
	for _, c := range []struct {
		name string
		data []byte
		want bool
	}{{"random", random, true}, {"text", text, false}, {"mixed", mixed, false}, {"small random", random[:minStoredLen-1], false}} {
		if got := w.incompressible(c.data); got != c.want {
			t.Errorf("%s: incompressible = %v, want %v", c.name, got, c.want)
		}
	}
}

// A stream whose parts are random, text, random is archived with the
// random parts stored as they are (their bytes appear in the archive
// verbatim) and the text compressed; it extracts whole, and the zstd tool
// reads the archive too.
func TestStoredPartsRoundTrip(t *testing.T) {
	const part = 1 << 20
	random, text := randomBytes(t, 3*part), textBytes(part)
	want := append(append(append([]byte{}, random[:2*part]...), text...), random[2*part:]...)
	want = append(want, random[:1000]...) // a short last part, compressed

	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Version: "test", Schema: 9})
	must(t, err)
	must(t, w.Add(DatabaseName, 0o600, 2, bytes.NewReader([]byte("db"))))
	pw, err := w.stream(VolumeFile("data"), 0o600, part)
	must(t, err)
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 100_000)
		_, err := pw.Write(rest[:n])
		must(t, err)
		rest = rest[n:]
	}
	must(t, pw.Close())
	_, err = w.Close(Manifest{Volumes: []Volume{{Name: "data"}}})
	must(t, err)

	archive := buf.Bytes()
	for i, off := range []int{0, part, 2*part + part/2} {
		if !bytes.Contains(archive, random[off:off+storedBlock/2]) {
			t.Errorf("random bytes %d are not stored verbatim", i)
		}
	}
	if max := len(random) + part/2; len(archive) > max {
		t.Errorf("archive %d bytes, want at most %d (text compressed, random stored)", len(archive), max)
	}
	dst := t.TempDir()
	if _, err := Extract(bytes.NewReader(archive), dst, 9); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, VolumeFile("data")))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("joined %d bytes, %v; want %d bytes", len(got), err, len(want))
	}

	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("no zstd tool to check the archive with")
	}
	file := filepath.Join(t.TempDir(), "box.tar.zst")
	must(t, os.WriteFile(file, archive, 0o600))
	if out, err := exec.Command("zstd", "-q", "-t", file).CombinedOutput(); err != nil {
		t.Fatalf("zstd -t: %v: %s", err, out)
	}
}
