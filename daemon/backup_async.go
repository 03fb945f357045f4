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
type asyncWriter struct {
	w    io.Writer
	ch   chan []byte
	free chan []byte // written pieces' buffers, for reuse
	done chan struct{}
	shut bool // Close was called

	mu  sync.Mutex
	err error
}

func newAsyncWriter(w io.Writer, depth int) *asyncWriter {
	a := &asyncWriter{w: w, ch: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan struct{})}
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

// Write copies p (the caller may reuse it at once) and queues it.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	var b []byte
	select {
	case b = <-a.free:
	default:
	}
	a.ch <- append(b, p...)
	return len(p), nil
}

// Close waits for what is queued to be written; again, it only returns
// the error.
func (a *asyncWriter) Close() error {
	if !a.shut {
		a.shut = true
		close(a.ch)
		<-a.done
	}
	return a.failed()
}
