package gitreceive

// Tests of the front door's limits: what is logged, the command line, the
// login deadline, the per-address cap and key strength.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signer reads the private key of e's key name.
func (e *env) signer(name string) gossh.Signer {
	e.t.Helper()
	b, err := os.ReadFile(e.keys[name])
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// dial logs in with signer over the Go SSH client.
func (e *env) dial(signer gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", e.srv.Addr().String(), &gossh.ClientConfig{
		User:            "xcloud",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

// exec runs line as the admin and returns stdout, stderr and exit status.
func (e *env) exec(line string) (string, string, int) {
	e.t.Helper()
	client, err := e.dial(e.signer("admin"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		e.t.Fatal(err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err = sess.Run(line)
	var exit *gossh.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitStatus()
	case err != nil:
		e.t.Fatalf("running %.40q: %v", line, err)
	}
	return stdout.String(), stderr.String(), 0
}

// rawConn opens a TCP connection that says nothing and returns it with
// the server's first line, "" when the server closed it before saying
// anything.
func (e *env) rawConn() (net.Conn, string) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := c.Read(b)
		if n == 1 {
			line = append(line, b[0])
			if b[0] == '\n' {
				break
			}
		}
		if errors.Is(err, io.EOF) || isReset(err) {
			break
		}
		if err != nil {
			e.t.Fatalf("reading the server's version: %v", err)
		}
	}
	c.SetReadDeadline(time.Time{})
	return c, string(line)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// waitClosed waits up to within for the server to close c.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	if err != nil && !isReset(err) {
		t.Fatalf("connection not closed by the server within %s: %v", within, err)
	}
}

func TestSessionLogHasNoSecrets(t *testing.T) {
	var logs syncBuffer
	e := startEnvWith(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	})
	for _, line := range []string{
		"config:set app SECRET=hunter2 TOKEN='hunter2 too'",
		"run app psql postgres://user:hunter2@db/app",
		`config:set app A="hunter2`, // refused, still not logged
	} {
		before := strings.Count(logs.String(), "msg=session ")
		e.exec(line)
		// The session line is written after the client saw the exit status.
		waitUntil(t, 10*time.Second, "session logged", func() bool {
			return strings.Count(logs.String(), "msg=session ") > before
		})
	}
	out := logs.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("a secret value is in the log:\n%s", out)
	}
	wantContains(t, out, "command=config:set app=app vars=\"SECRET TOKEN\"", "command=run app=app other_args=2",
		"command=config:set command_bytes=")
}

func TestCommandLineRefused(t *testing.T) {
	e := startEnv(t)
	long := "config:set app A='" + strings.Repeat("x", 200<<10) + "'"
	for _, tt := range []struct{ line, want string }{
		// Over the cap (but inside SSH's packet limit): refused before
		// any splitting.
		{long, fmt.Sprintf("xcloud: command line too long: %d bytes, at most 65536\n", len(long))},
		{`config:set app A="x`, "xcloud: unterminated quote: a \" is not closed\n"},
		{`config:set app A='x`, "xcloud: unterminated quote: a ' is not closed\n"},
	} {
		stdout, stderr, code := e.exec(tt.line)
		if code == 0 || stdout != "" || stderr != tt.want {
			t.Errorf("%.40q: exit %d, stdout %q, stderr %q; want non-zero and %q", tt.line, code, stdout, stderr, tt.want)
		}
	}
	e.commands.mu.Lock()
	defer e.commands.mu.Unlock()
	if e.commands.args != nil {
		t.Fatalf("refused command ran: %.80q", e.commands.args)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	e := startEnvWith(t, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	c, banner := e.rawConn()
	if !strings.HasPrefix(banner, "SSH-2.0-") {
		t.Fatalf("server said %q, want its version", banner)
	}
	waitClosed(t, c, 10*time.Second)
	waitUntil(t, 10*time.Second, "slot released", func() bool { return e.srv.preauth.pending("127.0.0.1") == 0 })
}

// blockingCommander runs every command until release is closed.
type blockingCommander struct {
	entered chan struct{}
	release chan struct{}
}

func (c *blockingCommander) RunCommand(ctx context.Context, _ Identity, _ []string, io Stdio) int {
	close(c.entered)
	select {
	case <-c.release:
		fmt.Fprintln(io.Out, "done")
		return 0
	case <-ctx.Done():
		return 1
	}
}

func TestHandshakeDeadlineEndsAtLogin(t *testing.T) {
	cmds := &blockingCommander{entered: make(chan struct{}), release: make(chan struct{})}
	e := startEnvWith(t, func(c *Config) {
		c.HandshakeTimeout = 200 * time.Millisecond
		c.Commands = cmds
	})
	client, err := e.dial(e.signer("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	sess.Stdout = &stdout
	if err := sess.Start("builds:log app"); err != nil {
		t.Fatal(err)
	}
	<-cmds.entered
	// A connection opened after the login and closed by the deadline
	// shows that the logged-in one's deadline has passed too.
	idle, _ := e.rawConn()
	waitClosed(t, idle, 10*time.Second)
	close(cmds.release)
	if err := sess.Wait(); err != nil || stdout.String() != "done\n" {
		t.Fatalf("session past the handshake deadline: %v, stdout %q", err, stdout.String())
	}
}

func TestUnauthenticatedPerIPCap(t *testing.T) {
	e := startEnvWith(t, func(c *Config) {
		c.MaxUnauthPerIP = 3
		c.HandshakeTimeout = time.Minute
	})
	var conns []net.Conn
	for i := range 3 {
		c, banner := e.rawConn()
		if !strings.HasPrefix(banner, "SSH-2.0-") {
			t.Fatalf("connection %d: server said %q, want its version", i+1, banner)
		}
		conns = append(conns, c)
	}
	// One more is closed at once, before the server says anything.
	if _, banner := e.rawConn(); banner != "" {
		t.Fatalf("4th connection: server said %q, want it closed", banner)
	}
	if _, err := e.dial(e.signer("admin")); err == nil {
		t.Fatal("a login succeeded while the address was at its cap")
	}
	// A closed connection frees its slot, and a login holds none.
	conns[0].Close()
	waitUntil(t, 10*time.Second, "slot released", func() bool { return e.srv.preauth.pending("127.0.0.1") == 2 })
	client, err := e.dial(e.signer("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if n := e.srv.preauth.pending("127.0.0.1"); n != 2 {
		t.Fatalf("%d connections pending after a login, want 2", n)
	}
}

func TestWeakRSAKeyRefused(t *testing.T) {
	var weak, strong gossh.Signer
	for _, k := range []struct {
		bits int
		s    *gossh.Signer
	}{{1024, &weak}, {2048, &strong}} {
		priv, err := rsa.GenerateKey(rand.Reader, k.bits)
		if err != nil {
			t.Fatal(err)
		}
		if *k.s, err = gossh.NewSignerFromKey(priv); err != nil {
			t.Fatal(err)
		}
		if err := CheckKeyStrength((*k.s).PublicKey()); (err == nil) != (k.bits >= MinRSABits) {
			t.Fatalf("CheckKeyStrength(%d-bit RSA) = %v", k.bits, err)
		}
	}
	e := startEnvWith(t, func(c *Config) {
		auth := c.Auth.(fakeAuth)
		for _, s := range []gossh.Signer{weak, strong} {
			fp := gossh.FingerprintSHA256(s.PublicKey())
			auth[fp] = Identity{Name: "rsa", Fingerprint: fp, Admin: true}
		}
	})
	if c, err := e.dial(weak); err == nil {
		c.Close()
		t.Fatal("a 1024-bit RSA key logged in")
	}
	c, err := e.dial(strong)
	if err != nil {
		t.Fatalf("a 2048-bit RSA key: %v", err)
	}
	c.Close()
}
