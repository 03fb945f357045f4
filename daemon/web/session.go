package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/access"
)

// Session limits. Sessions live in memory: a daemon restart signs
// everyone out, which a single-node tool can afford.
const (
	defaultIdle    = 2 * time.Hour
	defaultMaxAge  = 24 * time.Hour
	defaultRecheck = time.Minute // how often a session's token is checked again
	maxSessions    = 10000       // sign-in floods evict the oldest, memory stays bounded
)

// session is one signed-in browser.
type session struct {
	csrf      string // per-session token every state-changing form carries
	principal access.Principal
	// secret is the token the session was opened with, kept server-side
	// only, so a revoked or expired token ends its sessions too.
	secret  string
	created time.Time
	seen    time.Time
	checked time.Time
	flash   *flash // the result of the last action, shown once
	streams int    // event streams open
}

// flash is an action's outcome, shown on the next page.
type flash struct {
	Failed bool
	Line   string // one line: what happened
	Output string // the operation's progress, if any
}

// sessions is the server-side session table, keyed by a hash of the
// cookie's value so the map never holds a usable session id.
type sessions struct {
	mu     sync.Mutex
	m      map[[32]byte]*session
	idle   time.Duration
	maxAge time.Duration
	now    func() time.Time
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, maxAge: maxAge, now: now}
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics if the kernel cannot supply)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create opens a session for p and returns its id (the cookie's value).
func (s *sessions) create(p access.Principal, secret string) (string, *session) {
	id := randomToken()
	now := s.now()
	sess := &session{csrf: randomToken(), principal: p, secret: secret, created: now, seen: now, checked: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeLocked(now)
	if len(s.m) >= maxSessions {
		var oldest [32]byte
		first := true
		for k, v := range s.m {
			if first || v.created.Before(s.m[oldest].created) {
				oldest, first = k, false
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session of id, refreshing its idle time, or nil.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[key]
	if !ok {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.m, key)
		return nil
	}
	sess.seen = now
	return sess
}

// delete ends the session of id.
func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

func (s *sessions) expired(sess *session, now time.Time) bool {
	return now.Sub(sess.seen) > s.idle || now.Sub(sess.created) > s.maxAge
}

func (s *sessions) purgeLocked(now time.Time) {
	for k, v := range s.m {
		if s.expired(v, now) {
			delete(s.m, k)
		}
	}
}

// len is how many sessions are open (for tests).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// setFlash and takeFlash pass an action's outcome to the next page.
func (s *sessions) setFlash(sess *session, f flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.flash = &f
}

func (s *sessions) takeFlash(sess *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := sess.flash
	sess.flash = nil
	return f
}

// due reports whether the session's token should be checked again, and
// marks it checked.
func (s *sessions) due(sess *session, every time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(sess.checked) < every {
		return false
	}
	sess.checked = now
	return true
}

// openStream counts an event stream of sess, unless it has max open.
func (s *sessions) openStream(sess *session, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.streams >= max {
		return false
	}
	sess.streams++
	return true
}

func (s *sessions) closeStream(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.streams--
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(sess *session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// cookieName is __Host- prefixed with TLS, so the browser only accepts it
// over HTTPS, for this host, at path /.
func cookieName(secure bool) string {
	if secure {
		return "__Host-xcloud_session"
	}
	return "xcloud_session"
}

func sessionCookie(secure bool, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName(secure),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
}
