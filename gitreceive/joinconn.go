package gitreceive

import "net"

// libraryWriteBuffer is the size of the bufio.Writer x/crypto/ssh puts
// between its packets and the connection (bufio's default).
const libraryWriteBuffer = 4096

// joinConn sends every SSH packet larger than the library's write buffer
// in one write(2) instead of two. x/crypto/ssh writes a packet's 4-byte
// length into its 4 KiB buffer, fills the buffer with the packet's first
// bytes and flushes it, then writes the rest directly: a bulk stream
// (backup, clone, build output) cost two system calls, two TCP segments
// and two wake-ups of the client per 32 KiB packet. joinConn keeps such a
// flush of exactly libraryWriteBuffer bytes and sends it with the next
// write, in one writev.
//
// It never holds bytes past the end of a packet: once the transport is
// encrypted with AES-GCM (the only cipher the door offers where joinConn
// is used; see newJoinConn), every packet on the wire is 4 bytes of
// length, a multiple of 16 and a 16-byte tag, so no write that ends a
// packet is 4096 bytes long, and a 4096-byte write is the first half of a
// packet whose rest the library writes at once, before its packet write
// returns. Before the login (the handshake, in the clear) it passes every
// write through. TestJoinConnHoldsNothingBetweenPackets checks this
// against the library itself.
//
// Writes come from one goroutine at a time: the library's own buffered
// writer, whose output this is, requires it.
type joinConn struct {
	net.Conn
	ready  func() bool // the transport is encrypted: the login succeeded
	on     bool        // ready reported true once
	held   [libraryWriteBuffer]byte
	isHeld bool
}

// newJoinConn wraps c; ready reports whether the login succeeded (so the
// transport is encrypted). Use it only where every cipher the server
// offers is AES-GCM.
func newJoinConn(c net.Conn, ready func() bool) *joinConn {
	return &joinConn{Conn: c, ready: ready}
}

func (c *joinConn) Write(p []byte) (int, error) {
	if c.isHeld {
		c.isHeld = false
		bufs := net.Buffers{c.held[:], p} // one writev on a TCP connection
		n, err := bufs.WriteTo(c.Conn)
		return int(max(n-libraryWriteBuffer, 0)), err
	}
	if len(p) == libraryWriteBuffer && c.armed() {
		copy(c.held[:], p) // the library refills its buffer before the next write
		c.isHeld = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *joinConn) armed() bool {
	if !c.on && c.ready() {
		c.on = true
	}
	return c.on
}

// holding reports whether a write is being kept for the next one.
func (c *joinConn) holding() bool { return c.isHeld }
