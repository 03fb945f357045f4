package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := &LineWriter{MaxLine: 8, Emit: func(s string) error { got = append(got, s); return nil }}
	for _, chunk := range []string{"one\r\ntw", "o\n\nthree", "\n0123456789", "abc"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"one", "two", "", "three", "0123456789", "abc"}
	if !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}

	// An emitter's error stops the writer.
	boom := errors.New("gone")
	w = &LineWriter{Emit: func(string) error { return boom }}
	if _, err := w.Write([]byte("a\n")); !errors.Is(err, boom) {
		t.Fatalf("Write after a failing Emit: %v", err)
	}

	// A line without end is emitted in pieces, never buffered past MaxLine.
	got = nil
	w = &LineWriter{MaxLine: 4, Emit: func(s string) error { got = append(got, s); return nil }}
	w.Write([]byte(strings.Repeat("x", 10)))
	if len(w.partial) >= 4 || strings.Join(got, "")+string(w.partial) != strings.Repeat("x", 10) {
		t.Fatalf("pieces %q, left %q", got, w.partial)
	}
}
