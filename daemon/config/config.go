// Package config loads and validates xcloud.toml, the daemon's configuration.
//
// Loading runs in a fixed order: Default, decode TOML, apply XCLOUD_* environment
// overrides, Validate. Every key has a default; unknown keys and bad values are
// errors that name the key and its line.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// DefaultPath is where the daemon looks when neither -config nor $XCLOUD_CONFIG is given.
const DefaultPath = "/etc/xcloud/xcloud.toml"

// Config is the daemon configuration. Field tags are the TOML keys.
type Config struct {
	DataDir    string `toml:"data_dir"`
	BaseDomain string `toml:"base_domain"`

	SSH     SSH     `toml:"ssh"`
	HTTP    HTTP    `toml:"http"`
	TLS     TLS     `toml:"tls"`
	Podman  Podman  `toml:"podman"`
	Build   Build   `toml:"build"`
	Deploy  Deploy  `toml:"deploy"`
	Log     Log     `toml:"log"`
	Stack   Stack   `toml:"stack"`
	Limits  Limits  `toml:"limits"`
	Secrets Secrets `toml:"secrets"`
	Logs    Logs    `toml:"logs"`
	Cron    Cron    `toml:"cron"`
	Backup  Backup  `toml:"backup"`
	Storage Storage `toml:"storage"`
	// Previews bounds preview apps from branches (previews.go).
	Previews Previews `toml:"previews"`
	Metrics  Metrics  `toml:"metrics"`
	API      API      `toml:"api"`
	// Notify lists the notifiers ([[notify]] tables) events are sent to.
	Notify []Notify `toml:"notify"`
}

// Cron configures app.json cron jobs.
type Cron struct {
	// MinInterval is the shortest "@every" schedule a deploy accepts: each
	// run is a container, and a job every few seconds is usually a mistake.
	MinInterval Duration `toml:"min_interval"`
}

// Logs configures the apps' log history on disk.
type Logs struct {
	// MaxSize is the history kept per app (<data_dir>/logs), so `logs -n`
	// still shows what a crashed or replaced container printed.
	MaxSize Size `toml:"max_size"`
}

// Secrets configures the key that encrypts config vars at rest.
type Secrets struct {
	// KeyFile holds 32 random bytes, made (0600) on first start when
	// missing. Default: $CREDENTIALS_DIRECTORY/xcloud-secret-key when systemd
	// passes that credential, else <data_dir>/secret.key. Keep a copy: the
	// database's secrets are unreadable without it.
	KeyFile string `toml:"key_file"`
}

// Limits are the default resource caps of every app container; `resources
// APP` overrides them per app. Zero means no cap.
type Limits struct {
	Memory Size    `toml:"memory"`
	CPUs   float64 `toml:"cpus"`
	Pids   int64   `toml:"pids"`
	// RepoSize caps each app's git repository on disk, so a key that may
	// push cannot fill the disk: a push that would go beyond is refused.
	// Not a container cap; `resources` does not override it.
	RepoSize Size `toml:"repo_size"`
}

// Size is a byte count written like "512m" or "2g" (k, m, g; powers of 1024).
type Size struct{ Bytes int64 }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	s.Bytes = n
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(s.Bytes, 10)), nil }

// ParseSize reads "512m", "2g", "1GB", "64k", "1048576" or "0".
func ParseSize(v string) (int64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	// "1gb", "512mb", "64kb" mean the same as "1g", "512m", "64k".
	if n := len(v); n > 1 && v[n-1] == 'b' && strings.IndexByte("kmg", v[n-2]) >= 0 {
		v = v[:n-1]
	}
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k':
			mult, v = 1<<10, v[:n-1]
		case 'm':
			mult, v = 1<<20, v[:n-1]
		case 'g':
			mult, v = 1<<30, v[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(v, "b"), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size like \"512m\" or \"2g\": %q", v)
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("size too large to count in bytes")
	}
	return n * mult, nil
}

// SSH configures the git and admin SSH server.
type SSH struct {
	Listen    string `toml:"listen"`
	HostKey   string `toml:"host_key"`
	AdminKeys string `toml:"admin_keys"`
	// MaxAuthFailures failed logins from one IP within AuthFailureWindow
	// make the server refuse that IP's connections for AuthFailureBan;
	// 0 turns the limit off.
	MaxAuthFailures   int      `toml:"max_auth_failures"`
	AuthFailureWindow Duration `toml:"auth_failure_window"`
	AuthFailureBan    Duration `toml:"auth_failure_ban"`
}

// HTTP configures the proxy's listeners.
type HTTP struct {
	Listen      string `toml:"listen"`
	HTTPSListen string `toml:"https_listen"`
}

// TLS configures certificates for routed hosts.
type TLS struct {
	Mode  string `toml:"mode"`
	Email string `toml:"email"`
	CA    string `toml:"ca"`
}

// Podman configures the container engine connection and container defaults.
type Podman struct {
	Socket  string   `toml:"socket"`
	Ulimits []string `toml:"ulimits"`
}

// Build configures image builds.
type Build struct {
	Concurrency int      `toml:"concurrency"`
	Timeout     Duration `toml:"timeout"`
	// PipIndexURL is the Python package index builds use (PIP_INDEX_URL);
	// empty means pip's default.
	PipIndexURL string `toml:"pip_index_url"`
	// Memory and CPUs cap each build, so a heavy build cannot starve the
	// serving apps. Zero means no cap.
	Memory Size    `toml:"memory"`
	CPUs   float64 `toml:"cpus"`
	// CacheMax bounds the build cache: build layers no release uses and
	// the builds' RUN cache mounts. Zero means no bound.
	CacheMax Size `toml:"cache_max"`
}

// Deploy configures how releases are started and retired.
type Deploy struct {
	ReadyTimeout Duration `toml:"ready_timeout"`
	StopGrace    Duration `toml:"stop_grace"`
	// KeepReleases is how many releases before the current one keep their
	// image for a rollback; older images are removed.
	KeepReleases int `toml:"keep_releases"`
}

// MaxKeepReleases bounds deploy.keep_releases: rollback picks from the
// newest 100 releases.
const MaxKeepReleases = 100

// Log configures the daemon's own logging.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Stack configures the images `xcloud stack build` makes in local Podman
// storage, which app builds start from.
type Stack struct {
	Base        string `toml:"base"`
	BuildGo     string `toml:"build_go"`
	BuildNode   string `toml:"build_node"`
	RunNode     string `toml:"run_node"`
	BuildPython string `toml:"build_python"`
	RunPython   string `toml:"run_python"`
	// Postgres and Redis are the service images (services:create).
	Postgres string `toml:"postgres"`
	Redis    string `toml:"redis"`
	// Mirror is the Debian archive debootstrap uses; empty: the host's apt sources.
	Mirror string `toml:"mirror"`
	// TrustHostCA copies the host's CA bundle into the base image.
	TrustHostCA bool `toml:"trust_host_ca"`
}

// Duration is a time.Duration written as a Go duration string ("90s", "10m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"30s\" or \"10m\": %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the configuration used for keys the file does not set.
func Default() Config {
	return Config{
		DataDir:    "/var/lib/xcloud",
		BaseDomain: "xcloud.localhost",
		SSH:        SSH{Listen: ":2222", AdminKeys: "/etc/xcloud/admin_keys", MaxAuthFailures: 10, AuthFailureWindow: Duration{time.Minute}, AuthFailureBan: Duration{time.Minute}},
		HTTP:       HTTP{Listen: ":80", HTTPSListen: ":443"},
		TLS:        TLS{Mode: "acme"},
		Podman:     Podman{Ulimits: []string{"nofile=4096:4096", "nproc=4096:4096"}},
		Build:      Build{Concurrency: 2, Timeout: Duration{30 * time.Minute}, Memory: Size{2 << 30}, CPUs: 1.5, CacheMax: Size{5 << 30}},
		Limits:     Limits{Memory: Size{512 << 20}, CPUs: 1, Pids: 512, RepoSize: Size{1 << 30}},
		Logs:       Logs{MaxSize: Size{10 << 20}},
		Cron:       Cron{MinInterval: Duration{time.Minute}},
		Backup:     Backup{Keep: 7},
		Previews:   defaultPreviews(),
		Deploy:     Deploy{ReadyTimeout: Duration{60 * time.Second}, StopGrace: Duration{10 * time.Second}, KeepReleases: 5},
		Log:        Log{Level: "info", Format: "auto"},
		Metrics:    Metrics{Listen: "127.0.0.1:9100"},
		Stack: Stack{
			Base:        "localhost/xcloud/base:trixie",
			BuildGo:     "localhost/xcloud/build-go:trixie",
			BuildNode:   "localhost/xcloud/build-node:trixie",
			RunNode:     "localhost/xcloud/run-node:trixie",
			BuildPython: "localhost/xcloud/build-python:trixie",
			RunPython:   "localhost/xcloud/run-python:trixie",
			Postgres:    "localhost/xcloud/postgres:trixie",
			Redis:       "localhost/xcloud/redis:trixie",
			TrustHostCA: true,
		},
	}
}

// Error is a configuration problem tied to a key and, when known, its line.
type Error struct {
	File string
	Line int // 0 when the key is not in the file (defaults, environment)
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if where == "" {
		return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Key, e.Msg)
}

// Load reads the file at path. A missing file is an error: the daemon must not
// silently run with defaults the admin did not choose.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, bytes.NewReader(b), os.LookupEnv)
}

// Parse decodes TOML from r over the defaults, applies environment overrides
// found by lookupEnv, and validates. name is used in error messages.
func Parse(name string, r io.Reader, lookupEnv func(string) (string, bool)) (Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := pe.LastKey
			if key == "" {
				key = "syntax"
			}
			return Config{}, &Error{File: name, Line: pe.Position.Line, Key: key, Msg: pe.Message}
		}
		// Type mismatches come back as plain errors naming the last key.
		if m := typeErrRe().FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return Config{}, &Error{File: name, Line: line, Key: m[2], Msg: m[3]}
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	// The line index is built only for an error: a config without one
	// never compiles its regexps.
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return Config{}, &Error{File: name, Line: newLineIndex(src).find(k), Key: k, Msg: "unknown key"}
	}
	c.applyEnv(lookupEnv)
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			// Keys of [[array]] tables ("notify[2].url") are not visible to IsDefined.
			if ce.Line == 0 && (md.IsDefined(strings.Split(ce.Key, ".")...) || strings.Contains(ce.Key, "[")) {
				ce.Line = newLineIndex(src).find(ce.Key)
			}
		}
		return Config{}, err
	}
	return c, nil
}

// envOverrides maps environment variables to the keys they override, so a
// systemd unit or a test can adjust a setting without editing the file.
var envOverrides = []struct {
	env string
	key string
	set func(*Config, string)
}{
	{"XCLOUD_DATA_DIR", "data_dir", func(c *Config, v string) { c.DataDir = v }},
	{"XCLOUD_BASE_DOMAIN", "base_domain", func(c *Config, v string) { c.BaseDomain = v }},
	{"XCLOUD_SSH_LISTEN", "ssh.listen", func(c *Config, v string) { c.SSH.Listen = v }},
	{"XCLOUD_ADMIN_KEYS", "ssh.admin_keys", func(c *Config, v string) { c.SSH.AdminKeys = v }},
	{"XCLOUD_HTTP_LISTEN", "http.listen", func(c *Config, v string) { c.HTTP.Listen = v }},
	{"XCLOUD_HTTPS_LISTEN", "http.https_listen", func(c *Config, v string) { c.HTTP.HTTPSListen = v }},
	{"XCLOUD_API_HOST", "api.host", func(c *Config, v string) { c.API.Host = v }},
	{"XCLOUD_TLS_MODE", "tls.mode", func(c *Config, v string) { c.TLS.Mode = v }},
	{"XCLOUD_PODMAN_SOCKET", "podman.socket", func(c *Config, v string) { c.Podman.Socket = v }},
	{"XCLOUD_LOG_LEVEL", "log.level", func(c *Config, v string) { c.Log.Level = v }},
	{"XCLOUD_SECRET_KEY_FILE", "secrets.key_file", func(c *Config, v string) { c.Secrets.KeyFile = v }},
	// systemd's LoadCredential= puts the key here; an explicit setting wins.
	{"CREDENTIALS_DIRECTORY", "secrets.key_file", func(c *Config, v string) {
		if c.Secrets.KeyFile == "" {
			if p := filepath.Join(v, "xcloud-secret-key"); fileExists(p) {
				c.Secrets.KeyFile = p
			}
		}
	}},
}

func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) {
	if lookupEnv == nil {
		return
	}
	for _, o := range envOverrides {
		if v, ok := lookupEnv(o.env); ok && v != "" {
			o.set(c, v)
		}
	}
}

// typeErrRe reads the type errors BurntSushi/toml returns as plain text;
// compiled on the first one, as a config that decodes never needs it.
var typeErrRe = lazyre.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

// ulimitRe is compiled on first use: most configs set no ulimits.
var ulimitRe = lazyre.MustCompile(`^[a-z]+=-?[0-9]+(:-?[0-9]+)?$`)

// imageRe matches a fully qualified local image name like
// localhost/xcloud/base:trixie (registry host[:port], path, optional tag)
// but for the tag's length, which imageName checks apart: Go expands a
// counted repetition such as {0,127} into as many copies, held for the
// life of the process.
var imageRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)

// imageName is `^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`.
func imageName(s string) bool {
	if !imageRe.MatchString(s) {
		return false
	}
	// A port is before the first '/', a tag after the last.
	_, tag, _ := strings.Cut(s[strings.LastIndexByte(s, '/')+1:], ":")
	return len(tag) <= 128
}

// dnsName reports whether s is a lowercase DNS name: labels of a-z, 0-9
// and '-' joined by dots, each 1-63 long and neither starting nor ending
// in '-'. It is
// `^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`
// written out (see imageRe).
func dnsName(s string) bool {
	for l := range strings.SplitSeq(s, ".") {
		if len(l) < 1 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

// Validate checks every value and resolves defaults that depend on others
// (paths under data_dir). Errors name the key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return bad("data_dir", "must be an absolute path, got %q", c.DataDir)
	}
	c.DataDir = filepath.Clean(c.DataDir)
	if !dnsName(c.BaseDomain) {
		return bad("base_domain", "must be a lowercase DNS name like \"apps.example.com\", got %q", c.BaseDomain)
	}
	for _, l := range []struct{ key, val string }{
		{"ssh.listen", c.SSH.Listen}, {"http.listen", c.HTTP.Listen}, {"http.https_listen", c.HTTP.HTTPSListen},
	} {
		if err := checkListen(l.val); err != nil {
			return bad(l.key, "%v", err)
		}
	}
	if c.SSH.HostKey == "" {
		c.SSH.HostKey = filepath.Join(c.DataDir, "ssh_host_ed25519_key")
	} else if !filepath.IsAbs(c.SSH.HostKey) {
		c.SSH.HostKey = filepath.Join(c.DataDir, c.SSH.HostKey)
	}
	if c.Secrets.KeyFile == "" {
		c.Secrets.KeyFile = filepath.Join(c.DataDir, "secret.key")
	} else if !filepath.IsAbs(c.Secrets.KeyFile) {
		c.Secrets.KeyFile = filepath.Join(c.DataDir, c.Secrets.KeyFile)
	}
	if c.SSH.MaxAuthFailures < 0 {
		return bad("ssh.max_auth_failures", "must be 0 (no limit) or positive, got %d", c.SSH.MaxAuthFailures)
	}
	if c.SSH.AuthFailureWindow.Duration < time.Second {
		return bad("ssh.auth_failure_window", "must be at least 1s, got %s", c.SSH.AuthFailureWindow)
	}
	if c.SSH.AuthFailureBan.Duration < time.Second {
		return bad("ssh.auth_failure_ban", "must be at least 1s, got %s", c.SSH.AuthFailureBan)
	}
	if c.SSH.AdminKeys != "" && !filepath.IsAbs(c.SSH.AdminKeys) {
		c.SSH.AdminKeys = filepath.Join(c.DataDir, c.SSH.AdminKeys)
	}
	switch c.TLS.Mode {
	case "acme", "internal", "off":
	default:
		return bad("tls.mode", "must be one of acme, internal, off; got %q", c.TLS.Mode)
	}
	if c.TLS.Email != "" && !strings.Contains(c.TLS.Email, "@") {
		return bad("tls.email", "not an e-mail address: %q", c.TLS.Email)
	}
	if c.Podman.Socket != "" && !strings.HasPrefix(c.Podman.Socket, "/") && !strings.HasPrefix(c.Podman.Socket, "unix://") {
		return bad("podman.socket", "must be a unix socket path or unix:// URL, got %q", c.Podman.Socket)
	}
	for _, u := range c.Podman.Ulimits {
		if !ulimitRe().MatchString(u) {
			return bad("podman.ulimits", "entry %q must look like \"nofile=4096:4096\"", u)
		}
	}
	if c.Build.Concurrency < 1 || c.Build.Concurrency > 64 {
		return bad("build.concurrency", "must be between 1 and 64, got %d", c.Build.Concurrency)
	}
	if c.Build.PipIndexURL != "" {
		if u, err := url.Parse(c.Build.PipIndexURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("build.pip_index_url", "must be an http(s) URL, got %q", c.Build.PipIndexURL)
		}
	}
	if c.Build.Memory.Bytes != 0 && c.Build.Memory.Bytes < 64<<20 {
		return bad("build.memory", "must be 0 (no cap) or at least 64m, got %d bytes", c.Build.Memory.Bytes)
	}
	if c.Build.CPUs != 0 && CheckCPUs(c.Build.CPUs) != nil {
		return bad("build.cpus", "must be 0 (no cap) or a number from %g to %d, got %g", MinCPUs, MaxCPUs, c.Build.CPUs)
	}
	if c.Limits.Memory.Bytes != 0 && CheckMemory(c.Limits.Memory.Bytes) != nil {
		return bad("limits.memory", "must be 0 (no cap) or at least 6m, got %d bytes", c.Limits.Memory.Bytes)
	}
	if c.Limits.CPUs != 0 && CheckCPUs(c.Limits.CPUs) != nil {
		return bad("limits.cpus", "must be 0 (no cap) or a number from %g to %d, got %g", MinCPUs, MaxCPUs, c.Limits.CPUs)
	}
	if c.Cron.MinInterval.Duration < time.Second {
		return bad("cron.min_interval", "must be at least 1s, got %s", c.Cron.MinInterval.Duration)
	}
	if c.Logs.MaxSize.Bytes < 64<<10 {
		return bad("logs.max_size", "must be at least 64k, got %d bytes", c.Logs.MaxSize.Bytes)
	}
	if c.Limits.RepoSize.Bytes != 0 && c.Limits.RepoSize.Bytes < 1<<20 {
		return bad("limits.repo_size", "must be 0 (no cap) or at least 1m, got %d bytes", c.Limits.RepoSize.Bytes)
	}
	if c.Limits.Pids != 0 && CheckPids(c.Limits.Pids) != nil {
		return bad("limits.pids", "must be 0 (no cap) or a whole number from %d to %d (the kernel's limit), got %d", MinPids, MaxPids, c.Limits.Pids)
	}
	if c.Build.Timeout.Duration < time.Minute {
		return bad("build.timeout", "must be at least 1m, got %s", c.Build.Timeout)
	}
	if c.Deploy.ReadyTimeout.Duration < time.Second {
		return bad("deploy.ready_timeout", "must be at least 1s, got %s", c.Deploy.ReadyTimeout)
	}
	if c.Deploy.StopGrace.Duration < 0 {
		return bad("deploy.stop_grace", "must not be negative, got %s", c.Deploy.StopGrace)
	}
	if c.Deploy.KeepReleases < 0 || c.Deploy.KeepReleases > MaxKeepReleases {
		return bad("deploy.keep_releases", "must be between 0 and %d, got %d", MaxKeepReleases, c.Deploy.KeepReleases)
	}
	if c.Build.CacheMax.Bytes != 0 && c.Build.CacheMax.Bytes < 64<<20 {
		return bad("build.cache_max", "must be 0 (no bound) or at least 64m, got %d bytes", c.Build.CacheMax.Bytes)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		return bad("log.format", "must be one of auto, text, json; got %q", c.Log.Format)
	}
	if err := c.validateBackup(bad); err != nil {
		return err
	}
	if err := c.validateStorage(bad); err != nil {
		return err
	}
	if err := c.validatePreviews(bad); err != nil {
		return err
	}
	if err := c.validateMetrics(bad); err != nil {
		return err
	}
	if err := c.validateNotify(bad); err != nil {
		return err
	}
	if err := c.validateAPI(bad); err != nil {
		return err
	}
	return c.validateStack(bad)
}

func (c *Config) validateStack(bad func(key, format string, args ...any) error) error {
	seen := map[string]string{}
	for _, n := range []struct{ key, val string }{
		{"stack.base", c.Stack.Base}, {"stack.build_go", c.Stack.BuildGo}, {"stack.build_node", c.Stack.BuildNode},
		{"stack.run_node", c.Stack.RunNode}, {"stack.build_python", c.Stack.BuildPython}, {"stack.run_python", c.Stack.RunPython},
		{"stack.postgres", c.Stack.Postgres}, {"stack.redis", c.Stack.Redis},
	} {
		if !imageName(n.val) {
			return bad(n.key, "must be a full image name like \"localhost/xcloud/base:trixie\", got %q", n.val)
		}
		if other, dup := seen[n.val]; dup {
			return bad(n.key, "same image as %s: %q", other, n.val)
		}
		seen[n.val] = n.key
	}
	if m := c.Stack.Mirror; m != "" {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Host == "" && u.Scheme != "file") {
			return bad("stack.mirror", "must be an http://, https:// or file:// Debian archive URL, got %q", m)
		}
	}
	return nil
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port or :port, got %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("host must be an IP address or localhost, got %q", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0-65535, got %q", port)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Path returns a path under the data directory.
func (c *Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.DataDir}, elem...)...)
}

// lineIndex finds the line a dotted key is set on. BurntSushi/toml reports
// positions for syntax and type errors but not for undecoded keys, so the
// daemon finds them itself: it tracks [table] headers and matches "key =".
type lineIndex struct{ keys map[string]int }

// tableRe and keyRe are a [table] header's and a "key =" line's patterns,
// compiled on the first error that needs a line.
var (
	tableRe = lazyre.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\]?\s*(#.*)?$`)
	keyRe   = lazyre.MustCompile(`^\s*([A-Za-z0-9_.\-"']+)\s*=`)
)

func newLineIndex(src []byte) lineIndex {
	idx := lineIndex{keys: map[string]int{}}
	table, elem := "", "" // elem: "name[N]" inside the Nth [[name]] table (1-based)
	arrays := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := tableRe().FindStringSubmatch(line); m != nil {
			table, elem = unquoteKey(m[1]), ""
			if _, ok := idx.keys[table]; !ok {
				idx.keys[table] = n
			}
			if strings.HasPrefix(strings.TrimSpace(line), "[[") {
				arrays[table]++
				elem = table + "[" + strconv.Itoa(arrays[table]) + "]"
				idx.keys[elem] = n
			}
			continue
		}
		if m := keyRe().FindStringSubmatch(line); m != nil {
			k := unquoteKey(m[1])
			if table != "" {
				k = table + "." + k
			}
			if _, ok := idx.keys[k]; !ok {
				idx.keys[k] = n
			}
			if elem != "" {
				idx.keys[elem+"."+unquoteKey(m[1])] = n
			}
		}
	}
	return idx
}

func unquoteKey(k string) string {
	return strings.NewReplacer(`"`, "", `'`, "", " ", "").Replace(k)
}

func (idx lineIndex) find(key string) int {
	// An unknown table reports its header when the key itself is not found.
	for k := key; k != ""; {
		if n, ok := idx.keys[k]; ok {
			return n
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
