package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failed sign-ins are counted per client address, like failed SSH logins
// and API tokens: too many within a window and the address waits.
const (
	signInFailures = 10
	signInWindow   = time.Minute
	signInBan      = time.Minute
	maxTracked     = 10000 // addresses remembered; the table stays bounded
)

type failures struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*failCount
}

type failCount struct {
	n      int
	since  time.Time
	banned time.Time // until
}

func newFailures(now func() time.Time) *failures {
	return &failures{now: now, m: map[string]*failCount{}}
}

// banned returns how long addr must still wait, 0 if it may try.
func (f *failures) banned(addr string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[addr]
	if !ok {
		return 0
	}
	if left := c.banned.Sub(f.now()); left > 0 {
		return left
	}
	return 0
}

// fail counts a failed sign-in from addr.
func (f *failures) fail(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if len(f.m) >= maxTracked {
		for k, c := range f.m {
			if now.Sub(c.since) > signInWindow && !now.Before(c.banned) {
				delete(f.m, k)
			}
		}
		if len(f.m) >= maxTracked {
			clear(f.m) // under a flood from many addresses, forget rather than grow
		}
	}
	c, ok := f.m[addr]
	if !ok || now.Sub(c.since) > signInWindow {
		c = &failCount{since: now}
		f.m[addr] = c
	}
	c.n++
	if c.n >= signInFailures {
		c.banned, c.n, c.since = now.Add(signInBan), 0, now
	}
}

// peerIP is the request's peer address without the port.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
