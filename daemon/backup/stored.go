package backup

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// A part of a stream that does not compress (photos, videos, archives,
// encrypted files: most of what fills an app's volume) is stored in the
// archive as it is, in zstd frames of raw blocks, instead of going
// through the compressor: zstd's match search on such data costs about
// 0.4 CPU-s per GB and saves nothing. A zstd stream is any sequence of
// frames, so every zstd decoder, this package's and the zstd tool's,
// reads the archive as before; the format does not change.

// storedFrameHeader starts a frame of raw blocks: the magic number, a
// frame header descriptor with no content size, no checksum and no
// dictionary, and a 128 KiB window (a raw block needs none; the window
// only bounds the block size, 128 KiB at most anyway).
var storedFrameHeader = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}

// storedBlock is the most a raw block holds (zstd's block maximum).
const storedBlock = 128 << 10

// Sampling a part: sampleCount samples of sampleSize spread over it, each
// compressed at zstd's fastest level; a part is stored when every sample
// came out less than storeGain percent smaller. One compressible sample
// (a text file among media in a volume) keeps the part compressed.
const (
	sampleCount  = 8
	sampleSize   = 16 << 10
	storeGain    = 3
	minStoredLen = sampleCount * sampleSize * 4
)

// frames is what the archive's tar writes to: the compressor, or, between
// beginStored and endStored, one frame of raw blocks written straight to
// out.
type frames struct {
	zw     *zstd.Encoder
	out    io.Writer
	stored bool // in a frame of raw blocks
	dirty  bool // zw holds a frame begun since it was last closed
}

func (f *frames) Write(p []byte) (int, error) {
	if !f.stored {
		f.dirty = true
		return f.zw.Write(p)
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), storedBlock)
		if err := f.blockHeader(false, k); err != nil {
			return n, err
		}
		m, err := f.out.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// blockHeader writes a raw block's header: last block flag, type 0 (raw),
// size, 3 bytes little-endian.
func (f *frames) blockHeader(last bool, size int) error {
	v := uint32(size) << 3
	if last {
		v |= 1
	}
	_, err := f.out.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
	return err
}

// beginStored ends the compressor's frame, if it holds one, and starts a
// frame of raw blocks.
func (f *frames) beginStored() error {
	if f.dirty {
		if err := f.zw.Close(); err != nil {
			return fmt.Errorf("end a compressed frame: %w", err)
		}
		f.zw.Reset(f.out)
		f.dirty = false
	}
	if _, err := f.out.Write(storedFrameHeader); err != nil {
		return err
	}
	f.stored = true
	return nil
}

// endStored ends the frame of raw blocks with an empty last block; what
// is written next goes to the compressor again, in a new frame.
func (f *frames) endStored() error {
	f.stored = false
	return f.blockHeader(true, 0)
}

// incompressible reports whether data is better stored than compressed:
// see sampleCount.
func (w *Writer) incompressible(data []byte) bool {
	if len(data) < minStoredLen {
		return false
	}
	step := len(data) / sampleCount
	for i := range sampleCount {
		s := data[i*step : i*step+sampleSize]
		w.sample = w.probe.EncodeAll(s, w.sample[:0])
		if len(w.sample)*100 < len(s)*(100-storeGain) {
			return false
		}
	}
	return true
}
