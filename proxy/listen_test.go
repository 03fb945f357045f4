package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeListener stands for the placeholder Caddy binds: it only closes.
type fakeListener struct{ net.Listener }

func (fakeListener) Close() error { return nil }

// acceptOne accepts from l in the background.
func acceptOne(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// TestHandoffNewestGetsConnections: a connection goes to the listener
// attached last; once it closes, to the one before it; with none, it waits
// for the next.
func TestHandoffNewestGetsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := startHandoff(ln)
	defer h.close()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	got := func(ch <-chan net.Conn, what string) {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("%s: accept failed", what)
			}
			c.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no connection within 10s", what)
		}
	}

	old := h.attach(fakeListener{})
	oldCh := acceptOne(old)
	dial()
	got(oldCh, "only listener")

	oldCh = acceptOne(old)
	newer := h.attach(fakeListener{})
	dial()
	got(acceptOne(newer), "newest listener")

	// The old one got nothing; closing it ends its Accept.
	old.Close()
	if c, ok := <-oldCh; ok {
		c.Close()
		t.Fatal("the replaced listener got a connection")
	}

	newer.Close()
	dial() // waits in the handoff for a listener
	third := h.attach(fakeListener{})
	got(acceptOne(third), "listener attached after the connection")
	third.Close()
	if _, err := third.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestHandoffPauseWaitsForRequests: a reload pauses the handoff until the
// connection handed over last has settled, and the connections
// that arrive meanwhile go to the new configuration's listener, never to
// the old one (whose server is about to stop, which would drop them).
func TestHandoffPauseWaitsForRequests(t *testing.T) {
	defer func(d time.Duration) { settleWait = d }(settleWait)
	settleWait = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := startHandoff(ln)
	defer h.close()
	old := h.attach(fakeListener{})
	oldCh := acceptOne(old)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-oldCh
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()

	paused := make(chan struct{})
	go func() {
		h.pause(context.Background())
		close(paused)
	}()
	waitPaused(t, h)
	// A connection arriving now waits for the new listener.
	oldCh = acceptOne(old)
	late, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	newer := h.attach(fakeListener{})
	select {
	case c := <-acceptOne(newer):
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the connection made during the pause did not reach the new listener")
	}
	select {
	case <-paused:
		t.Fatal("pause returned before the handed-over connection settled")
	default:
	}
	// What the server does once the request reached its handlers.
	server.(*handedConn).settle()
	select {
	case <-paused:
	case <-time.After(10 * time.Second):
		t.Fatal("pause did not return once the connection settled")
	}
	h.resume()
	old.Close()
	if c, ok := <-oldCh; ok {
		c.Close()
		t.Fatal("the replaced listener got a connection")
	}
}

// TestApplyOnTakenPort: a port another socket holds is an error naming
// it, not a silent share (the proxy's sockets have no SO_REUSEPORT), and
// Apply succeeds once it is free.
func TestApplyOnTakenPort(t *testing.T) {
	p, cfg := startProxy(t, TLSOff)
	taken, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Apply(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), cfg.HTTPListen) {
		t.Fatalf("Apply on a taken port: %v", err)
	}
	taken.Close()
	if err := p.Apply(context.Background(), nil); err != nil {
		t.Fatalf("Apply once the port is free: %v", err)
	}
}

// waitPaused waits until a pause of h has begun.
func waitPaused(t *testing.T, h *handoff) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		paused := h.paused
		h.mu.Unlock()
		if paused {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handoff did not pause within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
