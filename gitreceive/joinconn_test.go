package gitreceive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// recordConn records the writes it gets.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func TestJoinConnKeepsOnlyABufferFlush(t *testing.T) {
	rec := &recordConn{}
	ready := false
	c := newJoinConn(rec, func() bool { return ready })
	full := bytes.Repeat([]byte{1}, libraryWriteBuffer)
	rest := bytes.Repeat([]byte{2}, 100)

	// Before the login every write goes through as it is.
	c.Write(full)
	if c.holding() || len(rec.writes) != 1 {
		t.Fatalf("before the login: holding %v, %d writes, want 1 passed through", c.holding(), len(rec.writes))
	}
	ready = true
	for _, n := range []int{1, 100, libraryWriteBuffer - 1, libraryWriteBuffer + 1, 32 << 10} {
		if k, err := c.Write(make([]byte, n)); k != n || err != nil || c.holding() {
			t.Fatalf("write of %d: %d, %v, holding %v", n, k, err, c.holding())
		}
	}
	rec.writes = nil
	if k, err := c.Write(full); k != len(full) || err != nil || !c.holding() || len(rec.writes) != 0 {
		t.Fatalf("a buffer flush: %d, %v, holding %v, %d writes; want it kept", k, err, c.holding(), len(rec.writes))
	}
	if k, err := c.Write(rest); k != len(rest) || err != nil || c.holding() {
		t.Fatalf("the packet's rest: %d, %v, holding %v", k, err, c.holding())
	}
	got := bytes.Join(rec.writes, nil)
	if !bytes.Equal(got, append(bytes.Clone(full), rest...)) {
		t.Fatalf("sent %d bytes, want the flush then the rest (%d)", len(got), len(full)+len(rest))
	}
}

// TestJoinConnHoldsNothingBetweenPackets runs the door's SSH library with
// the door's ciphers over a joinConn and checks, after every channel write
// of every size around every multiple of the library's buffer up to three
// packets, that the joinConn holds nothing once the write returned: it
// never delays the end of a packet (an interactive session's keystroke, a
// push's last line). The client reads everything meanwhile.
func TestJoinConnHoldsNothingBetweenPackets(t *testing.T) {
	for _, cipher := range gcmCiphers {
		t.Run(cipher, func(t *testing.T) {
			ch, join, received := joinedChannel(t, cipher)
			// Small writes, then every size around every multiple of the
			// buffer up to three full packets (a packet's header and
			// padding, 20-60 bytes, within the range).
			sizes := []int{1, 2, 100, 1000}
			for k := 1; k <= 24; k++ {
				for d := -64; d <= 16; d++ {
					sizes = append(sizes, k*libraryWriteBuffer+d)
				}
			}
			sizes = append(sizes, 1<<20+7)
			payload := make([]byte, 2<<20)
			rand.Read(payload)
			var total int
			for _, n := range sizes {
				if _, err := ch.Write(payload[:n]); err != nil {
					t.Fatal(err)
				}
				if join.holding() {
					t.Fatalf("a channel write of %d bytes returned with bytes held back", n)
				}
				total += n
			}
			ch.CloseWrite()
			select {
			case got := <-received:
				if got != total {
					t.Fatalf("client received %d bytes, want %d", got, total)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("client did not receive everything")
			}
			if join.joined.Load() == 0 {
				t.Fatal("no packet was joined")
			}
		})
	}
}

// joinedChannel starts an x/crypto/ssh server with cipher over a joinConn
// on a TCP connection, and a client that opens a session channel and
// counts what it reads until EOF (sent on received). It returns the
// server's end of the channel.
func joinedChannel(t *testing.T, cipher string) (gossh.Channel, *countingJoin, <-chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, err := gossh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	clientKey, _ := gossh.NewSignerFromKey(clientPriv)

	type served struct {
		ch   gossh.Channel
		join *countingJoin
		err  error
	}
	srvDone := make(chan served, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvDone <- served{err: err}
			return
		}
		var loggedIn atomic.Bool
		join := &countingJoin{}
		join.joinConn = newJoinConn(raw, loggedIn.Load)
		cfg := &gossh.ServerConfig{
			Config:            gossh.Config{Ciphers: []string{cipher}},
			PublicKeyCallback: func(gossh.ConnMetadata, gossh.PublicKey) (*gossh.Permissions, error) { return nil, nil },
		}
		cfg.AddHostKey(hostKey)
		conn, chans, reqs, err := gossh.NewServerConn(join, cfg)
		if err != nil {
			srvDone <- served{err: err}
			return
		}
		t.Cleanup(func() { conn.Close() })
		loggedIn.Store(true)
		go gossh.DiscardRequests(reqs)
		nc := <-chans
		ch, creqs, err := nc.Accept()
		if err != nil {
			srvDone <- served{err: err}
			return
		}
		go gossh.DiscardRequests(creqs)
		srvDone <- served{ch: ch, join: join}
	}()

	client, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{
		User: "xcloud", Auth: []gossh.AuthMethod{gossh.PublicKeys(clientKey)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		Config: gossh.Config{Ciphers: []string{cipher}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	cch, creqs, err := client.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go gossh.DiscardRequests(creqs)
	received := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, cch)
		received <- int(n)
	}()
	s := <-srvDone
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.ch, s.join, received
}

// countingJoin counts the writes a joinConn joined.
type countingJoin struct {
	*joinConn
	joined atomic.Int64
}

func (c *countingJoin) Write(p []byte) (int, error) {
	if c.holding() {
		c.joined.Add(1)
	}
	return c.joinConn.Write(p)
}
