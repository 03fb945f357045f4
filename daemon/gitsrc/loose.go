package gitsrc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/klauspost/compress/zlib"
)

// looseReader reads blobs stored as loose objects (a small push, which
// git-receive-pack unpacks) with one inflater kept across the blobs of an
// archive. Through go-git, each blob takes a pooled compress/flate reader
// that makes new Huffman link tables for every deflate block: a 5 MB
// committed binary made about 1 MB of garbage a build, whose collection
// left the heap's spans fragmented after a burst of deploys. This
// inflater reuses its tables.
type looseReader struct {
	objects string // the repository's objects directory
	zr      io.ReadCloser
	br      *bufio.Reader
}

// errNotLoose means the object is not stored loose (it is in a pack).
var errNotLoose = errors.New("not a loose object")

// open returns the content of loose blob h and its size; errNotLoose when
// the object is not stored loose. The reader is valid until the next open.
func (l *looseReader) open(h plumbing.Hash) (io.Reader, int64, func() error, error) {
	hex := h.String()
	f, err := os.Open(filepath.Join(l.objects, hex[:2], hex[2:]))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil, errNotLoose
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if l.br == nil {
		l.br = bufio.NewReaderSize(f, 32<<10)
	} else {
		l.br.Reset(f)
	}
	if l.zr == nil {
		l.zr, err = zlib.NewReader(l.br)
	} else {
		err = l.zr.(zlib.Resetter).Reset(l.br, nil)
	}
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("object %s: %w", hex, err)
	}
	size, err := blobHeader(l.zr)
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("object %s: %w", hex, err)
	}
	return io.LimitReader(l.zr, size), size, f.Close, nil
}

// blobHeader reads a loose object's header, "blob SIZE\x00", and returns
// the size.
func blobHeader(r io.Reader) (int64, error) {
	var hdr [32]byte
	n := 0
	for {
		if n == len(hdr) {
			return 0, errors.New("header too long")
		}
		if _, err := io.ReadFull(r, hdr[n:n+1]); err != nil {
			return 0, fmt.Errorf("read header: %w", err)
		}
		if hdr[n] == 0 {
			break
		}
		n++
	}
	kind, size, ok := bytes.Cut(hdr[:n], []byte(" "))
	if !ok || string(kind) != "blob" {
		return 0, fmt.Errorf("not a blob: %q", hdr[:n])
	}
	v, err := strconv.ParseInt(string(size), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size in header %q", hdr[:n])
	}
	return v, nil
}
