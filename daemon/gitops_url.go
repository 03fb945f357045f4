package daemon

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// syncURL is a git:sync source, checked: Kind is "http" (http and https),
// "git" or "ssh" (ssh:// and scp-like user@host:path).
type syncURL struct {
	Raw  string
	Kind string
	User string // the SSH user ("git" when the URL names none)
}

// scpLike is git's user@host:path form (a host, then a colon), compiled
// on first use: only apps synced from a git remote need it.
var scpLike = lazyre.MustCompile(`^(?:([^@/:]+)@)?([A-Za-z0-9][A-Za-z0-9.-]*):([^/].*|/.+)$`)

// parseSyncURL checks a git:sync URL: public http(s) and git:// remotes,
// and SSH ones reached with the app's deploy key. A URL carrying a
// password or token, a local path and other schemes are refused with one
// line saying why.
func parseSyncURL(raw string) (syncURL, error) {
	raw = strings.TrimSpace(raw)
	bad := func(format string, a ...any) (syncURL, error) {
		return syncURL{}, InputError{Msg: fmt.Sprintf(format, a...)}
	}
	if raw == "" {
		return bad("no repository URL given")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return bad("repository URL %q has white space in it", raw)
	}
	if !strings.Contains(raw, "://") {
		if at := strings.Index(raw, "@"); at > 0 && strings.Contains(raw[:at], ":") {
			return bad("the repository URL has credentials in it; use a deploy key instead (git:deploy-key APP)")
		}
		m := scpLike().FindStringSubmatch(raw)
		if m == nil {
			return bad("%q is not a repository URL: give https://, http://, git://, ssh:// or user@host:path (a path on the daemon's machine is not fetched)", raw)
		}
		return syncURL{Raw: raw, Kind: "ssh", User: cmp.Or(m[1], "git")}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's message repeats the whole URL, credentials and all.
		return bad("the repository URL does not parse")
	}
	switch u.Scheme {
	case "http", "https", "git", "ssh":
	default:
		return bad("repository URL scheme %q is not fetched: use https, http, git or ssh", u.Scheme)
	}
	if u.Host == "" {
		return bad("repository URL %q names no host", redactURL(u))
	}
	switch u.Scheme {
	case "http", "https":
		if u.User != nil {
			return bad("the repository URL has credentials in it; use a deploy key and an ssh:// URL instead (git:deploy-key APP)")
		}
		return syncURL{Raw: raw, Kind: "http"}, nil
	case "git":
		if u.User != nil {
			return bad("the repository URL has credentials in it; git:// takes none")
		}
		return syncURL{Raw: raw, Kind: "git"}, nil
	case "ssh":
		if _, has := u.User.Password(); has {
			return bad("the repository URL has credentials in it; use a deploy key instead (git:deploy-key APP)")
		}
		return syncURL{Raw: raw, Kind: "ssh", User: cmp.Or(u.User.Username(), "git")}, nil
	}
	return bad("repository URL scheme %q is not fetched", u.Scheme)
}

// redactURL is u without its user information, for messages.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
