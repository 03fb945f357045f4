// Package gitreceive is xcloud's SSH front door: it accepts "git push"
// (git-receive-pack), hands deploy-branch updates to a Backend, serves
// clones (git-upload-pack) and passes every other command to a Commander.
//
// It imports no other xcloud package; the daemon implements the small
// interfaces declared here.
package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on, e.g. ":2222"; ":0" picks a port.
	Addr string
	// HostKeyPath is the server's OpenSSH private host key; an ed25519 key
	// is generated there on first start.
	HostKeyPath string
	// ReposDir holds one bare repository per app, <ReposDir>/<app>.git.
	ReposDir string
	// Auth maps client keys to identities. Required.
	Auth Authenticator
	// Backend creates and deploys apps. Required.
	Backend Backend
	// Commands runs non-git commands; nil answers them with "unknown command".
	Commands Commander
	// Auditor records denied pushes and fetches; nil: the Backend, if it
	// implements Auditor.
	Auditor Auditor
	// Logger defaults to slog.Default().With("system", "gitreceive").
	Logger *slog.Logger
	// MaxAuthFailures failed logins (connections that offered only
	// rejected keys) from one IP within AuthFailureWindow make the server
	// drop that IP's connections for AuthFailureBan. Zero values take the
	// defaults (10, 1m, 1m); a negative MaxAuthFailures disables the limit.
	MaxAuthFailures   int
	AuthFailureWindow time.Duration
	AuthFailureBan    time.Duration
	// HandshakeTimeout closes a connection that has not logged in within
	// it; such a timeout counts as a failed login. The deadline ends at
	// login, so a push streaming a long build is never cut. Zero takes
	// DefaultHandshakeTimeout; negative means no deadline.
	HandshakeTimeout time.Duration
	// MaxUnauthPerIP caps the connections from one IP (one /64 for IPv6)
	// that have not logged in yet; more are closed at once. Zero takes
	// DefaultMaxUnauthPerIP; negative means no cap.
	MaxUnauthPerIP int
	// RepoSize caps an app's repository on disk, in bytes: a push that
	// would take it beyond is refused. Zero means no cap.
	RepoSize int64
}

// Defaults for Config.HandshakeTimeout and Config.MaxUnauthPerIP.
const (
	// Long enough for a person to answer ssh's first-connection host key
	// prompt; OpenSSH's own LoginGraceTime is longer still.
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxUnauthPerIP   = 10
)

// Server is the SSH server. Create it with New, then call Listen and Serve.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *ssh.Server

	mu       sync.Mutex
	ln       net.Listener
	closing  bool
	sessions sync.WaitGroup // in-flight session handlers
	appLocks map[string]chan struct{}
	limiter  *AuthLimiter // nil: no limit on failed logins
	preauth  *preauthGuard
}

// New validates cfg and returns a Server. It does no I/O.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Addr == "":
		return nil, errors.New("gitreceive: Config.Addr is required")
	case cfg.HostKeyPath == "":
		return nil, errors.New("gitreceive: Config.HostKeyPath is required")
	case cfg.ReposDir == "":
		return nil, errors.New("gitreceive: Config.ReposDir is required")
	case cfg.Auth == nil:
		return nil, errors.New("gitreceive: Config.Auth is required")
	case cfg.Backend == nil:
		return nil, errors.New("gitreceive: Config.Backend is required")
	case cfg.RepoSize < 0:
		return nil, errors.New("gitreceive: Config.RepoSize must not be negative")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, appLocks: map[string]chan struct{}{},
		limiter: NewAuthLimiter(cfg.MaxAuthFailures, cfg.AuthFailureWindow, cfg.AuthFailureBan, nil),
		preauth: newPreauthGuard(cfg.HandshakeTimeout, cfg.MaxUnauthPerIP)}
	if s.log == nil {
		s.log = slog.Default().With("system", "gitreceive")
	}
	s.srv = &ssh.Server{
		Addr:    cfg.Addr,
		Handler: s.handle,
		// Only a PublicKeyHandler: with no auth handler at all gliderlabs
		// would let anyone in. This callback also sees keys the client
		// merely offers, so it only checks that the key is known; the
		// session handler re-derives the identity from the key actually
		// used and authorises each command.
		PublicKeyHandler: s.knownKey,
		// Drops connections from IPs with too many failed logins or too
		// many connections not logged in yet, and times out the handshake.
		ConnCallback: s.wrapConn,
		// Tells the connection's handshake guard when the login succeeded.
		ServerConfigCallback: s.serverConfig,
		// Allow PTYs so the Commander can offer interactive commands;
		// git never asks for one.
		PtyCallback: func(ssh.Context, ssh.Pty) bool { return true },
		// No IdleTimeout: a quiet build must not cut the push.
	}
	return s, nil
}

// wrapConn joins the library's two writes of each large packet (joinConn)
// where the door offers AES-GCM only, then applies connCallback.
func (s *Server) wrapConn(ctx ssh.Context, c net.Conn) net.Conn {
	if doorCiphers() != nil {
		// gliderlabs stores the connection in the context once the login
		// succeeded.
		c = newJoinConn(c, func() bool { return ctx.Value(ssh.ContextKeyConn) != nil })
	}
	return s.connCallback(ctx, c)
}

// knownKey reports whether key may log in at all.
func (s *Server) knownKey(ctx ssh.Context, key ssh.PublicKey) bool {
	err := CheckKeyStrength(key)
	if err == nil {
		_, err = s.cfg.Auth.Authenticate(ctx, key)
	}
	if err != nil {
		noteRejectedKey(ctx)
		s.log.Debug("rejected key", "remote", ctx.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key), "err", err)
	}
	return err == nil
}

// Listen loads (or generates) the host key and binds the TCP listener, so
// that configuration errors and port conflicts surface before Serve.
func (s *Server) Listen() error {
	signer, err := loadOrCreateHostKey(s.cfg.HostKeyPath)
	if err != nil {
		return fmt.Errorf("gitreceive: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gitreceive: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		ln.Close()
		return errors.New("gitreceive: Listen called twice")
	}
	s.srv.AddHostKey(signer)
	s.ln = ln
	s.log.Info("listening", "addr", ln.Addr().String(),
		"host_key", gossh.FingerprintSHA256(signer.PublicKey()))
	return nil
}

// Addr reports the address the server listens on, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until Shutdown; it then returns nil.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("gitreceive: Serve called before Listen")
	}
	err := s.srv.Serve(ln)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("gitreceive: %w", err)
}

// Shutdown stops accepting connections and waits for in-flight sessions
// (pushes and their deploys) to finish. When ctx is done first it closes
// all connections, which cancels the sessions' contexts, and returns
// ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close() // in case Serve was never called
	}

	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	err := s.srv.Shutdown(ctx)
	if err == nil {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil && ctx.Err() != nil {
		s.srv.Close()
		return fmt.Errorf("gitreceive: shutdown: %w", ctx.Err())
	}
	return nil
}

// beginSession registers an in-flight session; it returns false once
// Shutdown has started.
func (s *Server) beginSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions.Add(1)
	return true
}

// lockApp serialises pushes to one app so that the refs snapshot taken
// around receive-pack belongs to this push. It returns false when ctx is
// done first. waiting is called if the lock is busy.
func (s *Server) lockApp(ctx context.Context, app string, waiting func()) (unlock func(), ok bool) {
	s.mu.Lock()
	l, found := s.appLocks[app]
	if !found {
		l = make(chan struct{}, 1)
		s.appLocks[app] = l
	}
	s.mu.Unlock()
	select {
	case l <- struct{}{}:
	default:
		waiting()
		select {
		case l <- struct{}{}:
		case <-ctx.Done():
			return nil, false
		}
	}
	return func() { <-l }, true
}
