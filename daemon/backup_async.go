package daemon

import (
	"io"
	"sync"
)

// asyncWriter hands what is written to it to a goroutine of its own that
// writes it to w, so the compressor goes on with the next block while the
// SSH channel encrypts and sends the last (or the file takes it): up to
// depth pieces wait. Close waits for them and returns w's first error;
// after an error the pieces left are dropped.
//
// Pieces are chunk bytes (the last may be shorter), whatever the sizes
// written: the compressor writes a block of 128 KiB and 3 bytes at a time,
// which the SSH channel sent as four full packets and one of 3 bytes, each
// costing the OpenSSH client a packet's work; whole multiples of the
// channel's packet size go as full packets only, and in half the hand-offs.
type asyncWriter struct {
	w     io.Writer
	chunk int
	cur   []byte      // the piece being filled
	ch    chan []byte // full pieces, to be written in order
	free  chan []byte // written pieces' buffers, for reuse
	done  chan struct{}
	shut  bool // Close was called

	mu  sync.Mutex
	err error
}

// sshPacketData is the most data OpenSSH takes in one channel packet (its
// session channels' maximum packet size); asyncWriter's pieces for the
// SSH door are a multiple of it.
const sshPacketData = 32 << 10

func newAsyncWriter(w io.Writer, depth, chunk int) *asyncWriter {
	a := &asyncWriter{w: w, chunk: chunk, ch: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.ch {
		if a.failed() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		select {
		case a.free <- b[:0]:
		default:
		}
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Write copies p (the caller may reuse it at once), queueing each piece
// it fills.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			select {
			case a.cur = <-a.free:
			default:
				a.cur = make([]byte, 0, a.chunk)
			}
		}
		k := copy(a.cur[len(a.cur):a.chunk], p)
		a.cur, p = a.cur[:len(a.cur)+k], p[k:]
		if len(a.cur) == a.chunk {
			a.ch <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// Close queues the piece being filled, waits for what is queued to be
// written; again, it only returns the error.
func (a *asyncWriter) Close() error {
	if !a.shut {
		a.shut = true
		if len(a.cur) > 0 {
			a.ch <- a.cur
			a.cur = nil
		}
		close(a.ch)
		<-a.done
	}
	return a.failed()
}
