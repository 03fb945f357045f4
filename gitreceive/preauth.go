package gitreceive

import (
	"crypto/rsa"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA key accepted, at login and by keys:add.
const MinRSABits = 2048

// CheckKeyStrength returns an error naming the problem for keys too weak to
// log in: RSA keys under MinRSABits bits and DSA keys.
func CheckKeyStrength(key gossh.PublicKey) error {
	switch key.Type() {
	case "ssh-dss": // DSA: 1024 bits by definition
		return fmt.Errorf("DSA keys are not accepted; use ed25519 (ssh-keygen -t ed25519)")
	case gossh.KeyAlgoRSA:
		ck, ok := key.(gossh.CryptoPublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		pub, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		if bits := pub.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is too weak; at least %d are required (or use ed25519)", bits, MinRSABits)
		}
	}
	return nil
}

// preauthGuard watches connections until they log in: it caps how many one
// address may hold open and closes those that take too long. Idle
// connections that never authenticate would otherwise be held forever.
type preauthGuard struct {
	timeout time.Duration // 0: none
	max     int           // 0: no cap

	mu    sync.Mutex
	count map[string]int // connections not logged in yet, by ipKey
}

func newPreauthGuard(timeout time.Duration, max int) *preauthGuard {
	switch {
	case timeout == 0:
		timeout = DefaultHandshakeTimeout
	case timeout < 0:
		timeout = 0
	}
	switch {
	case max == 0:
		max = DefaultMaxUnauthPerIP
	case max < 0:
		max = 0
	}
	return &preauthGuard{timeout: timeout, max: max, count: map[string]int{}}
}

// ipKey groups addresses the way one client holds them: an IPv4 address,
// or the /64 of an IPv6 one (a host usually has a whole /64 to pick from).
func ipKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// admit registers a new connection from ip, or reports false when ip
// already holds the maximum of connections that have not logged in.
func (g *preauthGuard) admit(ip string) bool {
	k := ipKey(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.max > 0 && g.count[k] >= g.max {
		return false
	}
	g.count[k]++
	return true
}

func (g *preauthGuard) release(ip string) {
	k := ipKey(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.count[k] <= 1 {
		delete(g.count, k)
		return
	}
	g.count[k]--
}

// pending is the number of connections from ip not logged in (for tests).
func (g *preauthGuard) pending(ip string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.count[ipKey(ip)]
}

// watch starts guarding conn from ip, already admitted; st.loggedIn or
// st.closed end the guard.
func (g *preauthGuard) watch(st *connAuth, ip string, conn net.Conn) {
	st.release = sync.OnceFunc(func() {
		if st.timer != nil {
			st.timer.Stop()
		}
		g.release(ip)
	})
	if g.timeout > 0 {
		st.timer = time.AfterFunc(g.timeout, func() {
			if st.authed.Load() {
				return
			}
			st.timedOut.Store(true)
			conn.Close() // the handshake's read fails and the connection ends
		})
	}
}

// loggedIn ends the pre-login guard of a connection: no deadline from now
// on, and it no longer counts against its address's cap.
func (st *connAuth) loggedIn() {
	st.authed.Store(true)
	if st.release != nil {
		st.release()
	}
}

// serverConfig is the gliderlabs ServerConfigCallback, called once per
// connection after ConnCallback: it hooks the login's outcome and sets
// the ciphers offered (doorCiphers).
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	cfg := &gossh.ServerConfig{Config: gossh.Config{Ciphers: doorCiphers()}}
	if st, ok := ctx.Value(connAuthKey{}).(*connAuth); ok {
		// Called with a nil error only once a key's signature is verified,
		// not when a client merely offers a known public key.
		cfg.AuthLogCallback = func(_ gossh.ConnMetadata, _ string, err error) {
			if err == nil {
				st.loggedIn()
			}
		}
	}
	return cfg
}

// connAuth is the per-connection state of the login.
type connAuth struct {
	rejected atomic.Int32 // keys offered and refused
	authed   atomic.Bool  // a key's signature was verified
	timedOut atomic.Bool  // closed by the handshake deadline
	timer    *time.Timer  // the handshake deadline, nil if none
	release  func()       // ends the pre-login guard; idempotent
}
