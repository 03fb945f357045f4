package daemon

import (
	"bytes"
	"sync"
)

// Capped keeps the first Max bytes written to it and drops the rest, so
// the output an operation keeps (a build log, an answer to a door) stays
// bounded. It is safe for concurrent writers and readers.
type Capped struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *Capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.Max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (c *Capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes()
}

// String returns what was kept.
func (c *Capped) String() string { return string(c.Bytes()) }
