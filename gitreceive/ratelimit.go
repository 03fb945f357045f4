package gitreceive

import (
	"net"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
)

// Defaults for the failed-login limiter (Config.MaxAuthFailures,
// AuthFailureWindow, AuthFailureBan).
const (
	DefaultMaxAuthFailures   = 10
	DefaultAuthFailureWindow = time.Minute
	DefaultAuthFailureBan    = time.Minute
)

// AuthLimiter counts failed logins per source IP; the HTTP API counts its
// bad tokens with one too, so both doors ban alike. For SSH a failed login is a
// connection that offered at least one public key that was rejected and
// ended without authenticating, so a user whose agent offers a few wrong
// keys before the right one is never counted. After max failures within
// window the IP's further connections are dropped before the SSH handshake
// until ban has passed.
type AuthLimiter struct {
	max    int
	window time.Duration
	ban    time.Duration
	now    func() time.Time

	mu        sync.Mutex
	ips       map[string]*ipFailures
	lastSweep time.Time
}

type ipFailures struct {
	times       []time.Time // failures within the window, oldest first
	bannedUntil time.Time
}

// NewAuthLimiter returns nil (no limit) when max < 0; zero values take the
// defaults.
func NewAuthLimiter(max int, window, ban time.Duration, now func() time.Time) *AuthLimiter {
	if max < 0 {
		return nil
	}
	if max == 0 {
		max = DefaultMaxAuthFailures
	}
	if window <= 0 {
		window = DefaultAuthFailureWindow
	}
	if ban <= 0 {
		ban = DefaultAuthFailureBan
	}
	if now == nil {
		now = time.Now
	}
	return &AuthLimiter{max: max, window: window, ban: ban, now: now, ips: map[string]*ipFailures{}}
}

// Blocked reports whether connections from ip are refused right now, and
// until when.
func (l *AuthLimiter) Blocked(ip string) (bool, time.Time) {
	if l == nil {
		return false, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.ips[ip]
	if f == nil || !now.Before(f.bannedUntil) {
		return false, time.Time{}
	}
	return true, f.bannedUntil
}

// Failed records a failed login from ip and reports whether it started a
// ban (true only for the failure that crossed the limit).
func (l *AuthLimiter) Failed(ip string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	f := l.ips[ip]
	if f == nil {
		f = &ipFailures{}
		l.ips[ip] = f
	}
	f.prune(now, l.window)
	f.times = append(f.times, now)
	if len(f.times) >= l.max && !now.Before(f.bannedUntil) {
		f.bannedUntil = now.Add(l.ban)
		f.times = nil // a fresh count after the ban
		return true
	}
	return false
}

func (f *ipFailures) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(f.times) && now.Sub(f.times[i]) >= window {
		i++
	}
	f.times = f.times[i:]
}

// sweep forgets IPs with no recent failures and no ban, at most once per
// window, so the map does not grow without bound.
func (l *AuthLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for ip, f := range l.ips {
		f.prune(now, l.window)
		if len(f.times) == 0 && !now.Before(f.bannedUntil) {
			delete(l.ips, ip)
		}
	}
}

// size is the number of tracked IPs (for tests).
func (l *AuthLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ips)
}

type connAuthKey struct{}

// remoteIP is the host part of addr ("" if there is none).
func remoteIP(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// connCallback is the ssh.Server ConnCallback: it drops connections from
// banned IPs and from IPs with too many connections not logged in yet, puts
// a deadline on the login and watches for failed logins.
func (s *Server) connCallback(ctx ssh.Context, c net.Conn) net.Conn {
	ip := remoteIP(c.RemoteAddr())
	if banned, until := s.limiter.Blocked(ip); banned {
		s.log.Debug("refused connection: too many failed logins", "remote_ip", ip, "until", until.Format(time.RFC3339))
		return nil
	}
	if !s.preauth.admit(ip) {
		s.log.Warn("refused connection: too many connections not logged in from this address",
			"remote_ip", ip, "max", s.preauth.max)
		return nil
	}
	st := &connAuth{}
	s.preauth.watch(st, ip, c)
	ctx.SetValue(connAuthKey{}, st)
	return &watchedConn{Conn: c, onClose: func() {
		st.release()
		timedOut := st.timedOut.Load()
		// gliderlabs stores the SSH connection in the context only once the
		// handshake, including authentication, has succeeded.
		if ctx.Value(ssh.ContextKeyConn) != nil || (st.rejected.Load() == 0 && !timedOut) {
			return
		}
		if timedOut {
			s.log.Info("failed login: handshake timed out", "remote_ip", ip, "timeout", s.preauth.timeout)
		} else {
			s.log.Info("failed login", "remote_ip", ip, "rejected_keys", st.rejected.Load())
		}
		if s.limiter.Failed(ip) {
			s.log.Warn("too many failed logins; refusing connections from this address",
				"remote_ip", ip, "failures", s.limiter.max, "window", s.limiter.window, "ban", s.limiter.ban)
		}
	}}
}

// noteRejectedKey counts a refused key offer on the connection.
func noteRejectedKey(ctx ssh.Context) {
	if st, ok := ctx.Value(connAuthKey{}).(*connAuth); ok {
		st.rejected.Add(1)
	}
}

// watchedConn calls onClose once, when the connection is first closed.
type watchedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *watchedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}
