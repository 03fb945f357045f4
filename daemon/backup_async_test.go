package daemon

import (
	"bytes"
	"errors"
	"testing"
)

// sizes records the size of each write.
type sizes struct {
	bytes.Buffer
	n []int
}

func (s *sizes) Write(p []byte) (int, error) {
	s.n = append(s.n, len(p))
	return s.Buffer.Write(p)
}

// failAfter takes n writes, then fails.
type failAfter struct {
	bytes.Buffer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("channel closed")
	}
	f.n--
	return f.Buffer.Write(p)
}

// What goes through an asyncWriter comes out in order, whole, though the
// caller reuses its buffer; the writer's error comes back from a later
// Write or from Close.
func TestAsyncWriter(t *testing.T) {
	var out sizes
	a := newAsyncWriter(&out, 4, 64)
	var want bytes.Buffer
	buf := make([]byte, 1000)
	for i := range 100 {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		want.Write(buf[:i*10])
		if _, err := a.Write(buf[:i*10]); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("got %d bytes, want %d, or in another order", out.Len(), want.Len())
	}
	// Whole pieces of the chunk size, whatever was written; the rest last.
	for i, n := range out.n {
		if n != 64 && (i != len(out.n)-1 || n > 64) {
			t.Fatalf("write %d of %d is %d bytes, want 64 (or fewer, last): %v", i, len(out.n), n, out.n)
		}
	}

	f := &failAfter{n: 3}
	a = newAsyncWriter(f, 2, len("piece"))
	var werr error
	for range 50 {
		if _, werr = a.Write([]byte("piece")); werr != nil {
			break
		}
	}
	if err := a.Close(); err == nil || (werr != nil && werr.Error() != err.Error()) {
		t.Fatalf("Close = %v after Write = %v, want the channel's error", err, werr)
	}
	if f.String() != "piecepiecepiece" {
		t.Fatalf("written %q", f.String())
	}
}
