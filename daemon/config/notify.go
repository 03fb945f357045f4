package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is where /metrics is served; "" turns the endpoint off. The
	// default is loopback only: the figures name every app.
	Listen string `toml:"listen"`
	// PProf adds Go's profiling handlers under /debug/pprof on the same
	// listener, to measure the daemon's memory and CPU; off by default.
	PProf bool `toml:"pprof"`
}

// Notify is one [[notify]] table: a destination for events.
type Notify struct {
	// Name identifies the notifier in logs and names its delivery cursor
	// under data_dir; default "<type>-<N>" for the Nth [[notify]] table.
	Name string `toml:"name"`
	Type string `toml:"type"` // webhook | discord | email
	URL  string `toml:"url"`  // webhook and discord
	// Secret (or the file holding it) is the webhook's HMAC-SHA256 key.
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	// Events are event types or "kind:*" patterns; empty means all.
	Events []string `toml:"events"`
	// Apps limits events to these apps; empty means all (events without
	// an app, such as key:added, only reach notifiers without apps).
	Apps    []string `toml:"apps"`
	Timeout Duration `toml:"timeout"` // per attempt; default 10s
	// Retries after the first failed attempt (default 5), waiting Backoff,
	// doubling each time (default 1s, at most 5m; a 429's Retry-After wins).
	Retries *int     `toml:"retries"`
	Backoff Duration `toml:"backoff"`

	// E-mail: SMTP server "host:port" (STARTTLS when offered), sender,
	// recipients and optional PLAIN auth credentials.
	SMTP         string   `toml:"smtp"`
	From         string   `toml:"from"`
	To           []string `toml:"to"`
	Username     string   `toml:"username"`
	Password     string   `toml:"password"`
	PasswordFile string   `toml:"password_file"`
}

// Notifier defaults.
const (
	DefaultNotifyTimeout = 10 * time.Second
	DefaultNotifyRetries = 5
	DefaultNotifyBackoff = time.Second
)

// eventTypes are the event types a notifier's events filter may name: all
// the store can hold, from its one list.
var eventTypes = store.EventTypes()

// notifyNamePattern is the rule of notifier names, as users read it.
const notifyNamePattern = `^[a-z0-9][a-z0-9._-]{0,62}$`

// notifyNameRe is notifyNamePattern but for the length, checked apart: Go
// expands a counted repetition such as {0,62} into as many copies, some
// 20 KB held for the life of the process.
var notifyNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

func validNotifyName(name string) bool { return len(name) <= 63 && notifyNameRe.MatchString(name) }

func (c *Config) validateMetrics(bad func(key, format string, args ...any) error) error {
	if c.Metrics.Listen == "" {
		if c.Metrics.PProf {
			return bad("metrics.pprof", "needs metrics.listen (it is served on that listener)")
		}
		return nil
	}
	if err := checkListen(c.Metrics.Listen); err != nil {
		return bad("metrics.listen", "%v (\"\" turns metrics off)", err)
	}
	return nil
}

// validateNotify checks every [[notify]] table and fills in its defaults.
// Keys are named "notify[N].key", N counting tables from 1.
func (c *Config) validateNotify(bad func(key, format string, args ...any) error) error {
	names := map[string]bool{}
	for i := range c.Notify {
		n := &c.Notify[i]
		key := func(k string) string { return fmt.Sprintf("notify[%d].%s", i+1, k) }
		switch n.Type {
		case "webhook", "discord", "email":
		default:
			return bad(key("type"), "must be one of webhook, discord, email; got %q", n.Type)
		}
		if n.Name == "" {
			n.Name = fmt.Sprintf("%s-%d", n.Type, i+1)
		}
		if !validNotifyName(n.Name) {
			return bad(key("name"), "must match %s, got %q", notifyNamePattern, n.Name)
		}
		if names[n.Name] {
			return bad(key("name"), "another notifier is named %q", n.Name)
		}
		names[n.Name] = true
		if n.Type == "email" {
			if err := n.validateEmail(bad, key); err != nil {
				return err
			}
		} else {
			if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(key("url"), "must be an http(s) URL, got %q", n.URL)
			}
		}
		if n.Secret != "" && n.SecretFile != "" {
			return bad(key("secret_file"), "set secret or secret_file, not both")
		}
		n.SecretFile, n.PasswordFile = c.underDataDir(n.SecretFile), c.underDataDir(n.PasswordFile)
		for _, e := range n.Events {
			if !validEventPattern(e) {
				return bad(key("events"), "%q is not an event type (e.g. \"deploy:failed\") or pattern (\"deploy:*\", \"*\")", e)
			}
		}
		for _, a := range n.Apps {
			if store.ValidateAppName(a) != nil {
				return bad(key("apps"), "%q is not an app name", a)
			}
		}
		if n.Timeout.Duration == 0 {
			n.Timeout.Duration = DefaultNotifyTimeout
		}
		if n.Timeout.Duration < 100*time.Millisecond {
			return bad(key("timeout"), "must be at least 100ms, got %s", n.Timeout)
		}
		if n.Retries == nil {
			r := DefaultNotifyRetries
			n.Retries = &r
		}
		if *n.Retries < 0 || *n.Retries > 20 {
			return bad(key("retries"), "must be between 0 and 20, got %d", *n.Retries)
		}
		if n.Backoff.Duration == 0 {
			n.Backoff.Duration = DefaultNotifyBackoff
		}
		if n.Backoff.Duration < 10*time.Millisecond || n.Backoff.Duration > 5*time.Minute {
			return bad(key("backoff"), "must be between 10ms and 5m, got %s", n.Backoff)
		}
	}
	return nil
}

func (n *Notify) validateEmail(bad func(key, format string, args ...any) error, key func(string) string) error {
	if host, port, err := net.SplitHostPort(n.SMTP); err != nil || host == "" || port == "" {
		return bad(key("smtp"), "must be host:port, got %q", n.SMTP)
	}
	if !strings.Contains(n.From, "@") {
		return bad(key("from"), "must be an e-mail address, got %q", n.From)
	}
	if len(n.To) == 0 {
		return bad(key("to"), "needs at least one recipient")
	}
	for _, t := range n.To {
		if !strings.Contains(t, "@") || strings.ContainsAny(t, "\r\n") {
			return bad(key("to"), "%q is not an e-mail address", t)
		}
	}
	if strings.ContainsAny(n.From, "\r\n") {
		return bad(key("from"), "must be one line")
	}
	if n.Password != "" && n.PasswordFile != "" {
		return bad(key("password_file"), "set password or password_file, not both")
	}
	return nil
}

func validEventPattern(p string) bool {
	if p == "*" {
		return true
	}
	if kind, ok := strings.CutSuffix(p, ":*"); ok {
		return slices.ContainsFunc(eventTypes, func(t string) bool { return strings.HasPrefix(t, kind+":") })
	}
	return slices.Contains(eventTypes, p)
}

// underDataDir resolves a relative path against data_dir ("" stays "").
func (c *Config) underDataDir(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}
