package podman

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"testing"
)

func frame(stream byte, payload string) []byte {
	hdr := make([]byte, 8, 8+len(payload))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return append(hdr, payload...)
}

func TestDemuxLines(t *testing.T) {
	long := strings.Repeat("x", 5000) // longer than the initial buffer
	var in bytes.Buffer
	in.Write(frame(1, "hello\n"))
	in.Write(frame(2, "oops\n"))
	in.Write(frame(1, long+"\n"))
	in.Write(frame(1, "no newline"))
	var got []string
	if err := demuxLines(&in, func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"hello", "oops", long, "no newline"}; !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestDemuxLinesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"service error", frame(3, "container gone"), "container gone"},
		{"bad stream", frame(7, "x"), "unknown stream 7"},
		{"truncated frame", frame(1, "hello")[:10], io.ErrUnexpectedEOF.Error()},
		{"truncated header", frame(1, "")[:4], io.ErrUnexpectedEOF.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := demuxLines(bytes.NewReader(tc.in), func(string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	big := frame(1, "")
	binary.BigEndian.PutUint32(big[4:], maxLogFrame+1)
	if err := demuxLines(bytes.NewReader(big), func(string) {}); err == nil || !strings.Contains(err.Error(), "log frame of") {
		t.Errorf("oversized frame: error = %v", err)
	}
}
