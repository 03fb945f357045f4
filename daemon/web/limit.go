package web

import (
	"net"
	"net/http"
	"time"
)

// Failed sign-ins are counted per client address by the SSH door's
// limiter, as failed SSH logins and bad API tokens are: too many within a
// window and the address waits.
const (
	signInFailures = 10
	signInWindow   = time.Minute
	signInBan      = time.Minute
)

// peerIP is the request's peer address without the port.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
