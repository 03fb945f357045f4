package client

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/store"
)

// Target is where admin commands go: an SSH destination and, when known,
// the app.
type Target struct {
	User string // "" leaves it to ssh (and ~/.ssh/config)
	Host string
	Port int // 0 leaves it to ssh (and ~/.ssh/config)
	App  string
}

// Destination is the ssh argument: USER@HOST, or HOST.
func (t Target) Destination() string {
	if t.User == "" {
		return t.Host
	}
	return t.User + "@" + t.Host
}

// RemoteURL is the git remote of app on t's daemon.
func (t Target) RemoteURL(app string) string {
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if t.Port != 0 {
		host += ":" + strconv.Itoa(t.Port)
	}
	if t.User != "" {
		host = t.User + "@" + host
	}
	return "ssh://" + host + "/" + app + ".git"
}

// ParseRemote reads an xcloud git remote's URL: ssh://[USER@]HOST[:PORT]/APP.git
// or the scp-like [USER@]HOST:APP.git (port 22, or ~/.ssh/config's).
func ParseRemote(raw string) (Target, error) {
	var t Target
	var path string
	switch {
	case strings.HasPrefix(raw, "ssh://") || strings.HasPrefix(raw, "git+ssh://") || strings.HasPrefix(raw, "ssh+git://"):
		u, err := url.Parse(raw)
		if err != nil {
			return t, fmt.Errorf("%w: %v", ErrNotSSH, err)
		}
		if u.User != nil {
			if _, hasPass := u.User.Password(); hasPass {
				return t, fmt.Errorf("%w: the URL holds a password", ErrNotSSH)
			}
			t.User = u.User.Username()
		}
		t.Host = u.Hostname()
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return t, fmt.Errorf("%w: port %q", ErrNotSSH, p)
			}
			t.Port = n
		}
		path = u.Path
	case strings.Contains(raw, "://"):
		return t, ErrNotSSH
	default:
		// scp-like: a colon before any slash (git's own rule), the host
		// possibly in brackets.
		rest := raw
		if at := strings.LastIndex(rest[:max(strings.IndexByte(rest, ':'), 0)], "@"); at >= 0 {
			t.User, rest = rest[:at], rest[at+1:]
		}
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]:")
			if end < 0 {
				return t, ErrNotSSH
			}
			t.Host, path = rest[1:end], rest[end+2:]
		} else {
			colon := strings.IndexByte(rest, ':')
			if colon <= 0 || strings.Contains(rest[:colon], "/") {
				return t, ErrNotSSH
			}
			t.Host, path = rest[:colon], rest[colon+1:]
		}
	}
	if t.Host == "" || strings.HasPrefix(t.Host, "-") {
		return t, fmt.Errorf("%w: no host", ErrNotSSH)
	}
	app := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), ".git")
	if app == "" || strings.Contains(app, "/") || store.ValidateAppName(app) != nil {
		return t, fmt.Errorf("%w: %q is not APP.git", ErrNoApp, path)
	}
	t.App = app
	return t, nil
}

// ParseHost reads --host and XCLOUD_HOST: [USER@]HOST[:PORT]; USER
// defaults to xcloud, the daemon's.
func ParseHost(s string) (Target, error) {
	t := Target{User: "xcloud"}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		t.User, s = s[:at], s[at+1:]
		if t.User == "" {
			return t, fmt.Errorf("%w: empty user", ErrBadHost)
		}
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole is the host (an IPv6 address in brackets, too).
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	}
	if host == "" || strings.HasPrefix(host, "-") || strings.ContainsAny(host, " /\t") {
		return t, fmt.Errorf("%w %q: want HOST or HOST:PORT", ErrBadHost, s)
	}
	t.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("%w %q: port %q is not a number from 1 to 65535", ErrBadHost, s, port)
		}
		t.Port = n
	}
	return t, nil
}
