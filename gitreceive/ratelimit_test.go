package gitreceive

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (l *AuthLimiter) failures(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.ips[ip]; f != nil {
		return len(f.times)
	}
	return 0
}

func TestAuthLimiterBansAfterMaxFailures(t *testing.T) {
	clk := newFakeClock()
	l := NewAuthLimiter(3, time.Minute, 2*time.Minute, clk.now)
	for i := 1; i <= 2; i++ {
		if l.Failed("1.2.3.4") {
			t.Fatalf("failure %d started a ban", i)
		}
		clk.add(time.Second)
	}
	if b, _ := l.Blocked("1.2.3.4"); b {
		t.Fatal("blocked before the limit")
	}
	if !l.Failed("1.2.3.4") {
		t.Fatal("third failure did not start a ban")
	}
	banned, until := l.Blocked("1.2.3.4")
	if !banned || !until.Equal(clk.t.Add(2*time.Minute)) {
		t.Fatalf("blocked = %v until %v, want true until %v", banned, until, clk.t.Add(2*time.Minute))
	}
	if b, _ := l.Blocked("5.6.7.8"); b {
		t.Fatal("another IP is blocked")
	}
	clk.add(2*time.Minute - time.Nanosecond)
	if b, _ := l.Blocked("1.2.3.4"); !b {
		t.Fatal("ban ended early")
	}
	clk.add(time.Nanosecond)
	if b, _ := l.Blocked("1.2.3.4"); b {
		t.Fatal("still blocked after the ban")
	}
	// The count starts afresh after a ban.
	if l.Failed("1.2.3.4") {
		t.Fatal("first failure after a ban started a new ban")
	}
}

func TestAuthLimiterWindowSlides(t *testing.T) {
	clk := newFakeClock()
	l := NewAuthLimiter(3, time.Minute, time.Minute, clk.now)
	// Two failures, then the window passes: they no longer count.
	l.Failed("ip")
	l.Failed("ip")
	clk.add(time.Minute)
	if l.Failed("ip") {
		t.Fatal("failures older than the window counted")
	}
	if n := l.failures("ip"); n != 1 {
		t.Fatalf("failures in window = %d, want 1", n)
	}
	clk.add(30 * time.Second)
	l.Failed("ip")
	clk.add(29 * time.Second)
	if !l.Failed("ip") {
		t.Fatal("three failures within a minute did not ban")
	}
}

func TestAuthLimiterDefaultsAndOff(t *testing.T) {
	if l := NewAuthLimiter(-1, 0, 0, nil); l != nil {
		t.Fatal("negative max did not disable the limiter")
	}
	var off *AuthLimiter
	for range 100 {
		if off.Failed("ip") {
			t.Fatal("disabled limiter banned")
		}
	}
	if b, _ := off.Blocked("ip"); b {
		t.Fatal("disabled limiter blocks")
	}
	l := NewAuthLimiter(0, 0, 0, nil)
	if l.max != DefaultMaxAuthFailures || l.window != DefaultAuthFailureWindow || l.ban != DefaultAuthFailureBan {
		t.Fatalf("defaults = %d %s %s", l.max, l.window, l.ban)
	}
}

func TestAuthLimiterForgetsOldIPs(t *testing.T) {
	clk := newFakeClock()
	l := NewAuthLimiter(2, time.Minute, time.Minute, clk.now)
	for i := range 100 {
		l.Failed(fmt.Sprintf("10.0.0.%d", i))
	}
	l.Failed("10.0.0.1") // banned
	if n := l.size(); n != 100 {
		t.Fatalf("tracking %d IPs, want 100", n)
	}
	clk.add(time.Minute)
	l.Failed("192.0.2.1") // triggers a sweep
	if n := l.size(); n != 1 {
		t.Fatalf("after the window tracking %d IPs, want 1", n)
	}
}

// TestFailedLoginsBlockIP runs the limiter behind a real server and the
// OpenSSH client: offering a wrong key before the right one is no failure;
// connections with only unknown keys are, and after MaxAuthFailures of them
// even a good key is refused.
func TestFailedLoginsBlockIP(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	_, stranger := newKey(t, dir, "stranger")
	adminPub, admin := newKey(t, dir, "admin")
	fp := gossh.FingerprintSHA256(adminPub)
	srv, err := New(Config{
		Addr:            "127.0.0.1:0",
		HostKeyPath:     filepath.Join(dir, "host_key"),
		ReposDir:        filepath.Join(dir, "repos"),
		Auth:            fakeAuth{fp: {Name: "admin", Fingerprint: fp, Admin: true}},
		Backend:         &fakeBackend{apps: map[string]bool{}},
		Commands:        &fakeCommander{},
		Logger:          slog.New(slog.NewTextHandler(t.Output(), nil)),
		MaxAuthFailures: 3,
		AuthFailureBan:  time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-served
	})
	port := srv.Addr().(*net.TCPAddr).Port
	ssh := func(keys ...string) (string, error) {
		args := []string{"-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", fmt.Sprint(port)}
		for _, k := range keys {
			args = append(args, "-i", k)
		}
		out, err := exec.Command("ssh", append(args, "xcloud@127.0.0.1", "version")...).CombinedOutput()
		return string(out), err
	}
	// The server counts a failure when it closes the connection, which
	// may be just after the client has exited.
	waitFailures := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for srv.limiter.failures("127.0.0.1") != want {
			if time.Now().After(deadline) {
				t.Fatalf("failures = %d, want %d", srv.limiter.failures("127.0.0.1"), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	for i := range 5 {
		if out, _ := ssh(stranger, admin); !strings.Contains(out, "ran version") {
			t.Fatalf("login %d with a wrong key then the right one failed:\n%s", i, out)
		}
	}
	waitFailures(0)
	for i := 1; i <= 3; i++ {
		out, err := ssh(stranger)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Fatalf("unknown key %d: err %v\n%s", i, err, out)
		}
		if i < 3 {
			waitFailures(i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := srv.limiter.Blocked("127.0.0.1"); b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("127.0.0.1 not blocked after 3 failed logins")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := ssh(admin)
	if err == nil || strings.Contains(out, "ran version") {
		t.Fatalf("blocked IP logged in with a good key: err %v\n%s", err, out)
	}
	if strings.Contains(out, "Permission denied") {
		t.Fatalf("blocked IP reached authentication:\n%s", out)
	}
}
