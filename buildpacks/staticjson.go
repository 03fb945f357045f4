package buildpacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// StaticConfig is a static site's static.json, read the way Heroku's static
// buildpack reads it. It is stored with the release, so its JSON form is
// part of the release spec.
type StaticConfig struct {
	// Root is the folder served, relative to the repository root ("" when
	// static.json does not say).
	Root string `json:"root,omitempty"`
	// CleanURLs serves /about from about.html.
	CleanURLs bool `json:"clean_urls,omitempty"`
	// Routes, in file order, serve a file for paths that name no file
	// (single-page apps: "/**" → index.html); the first match wins.
	Routes []StaticRoute `json:"routes,omitempty"`
	// Redirects answer matching paths with a redirect, before any file.
	Redirects []StaticRedirect `json:"redirects,omitempty"`
	// Headers set response headers on matching paths, in file order.
	Headers []StaticHeaders `json:"headers,omitempty"`
	// ErrorPage is the page served, with the error's status, for every
	// error ("/errors/error.html"); "" serves /404.html for 404s when the
	// site has one.
	ErrorPage string `json:"error_page,omitempty"`

	// Notes name the keys xcloud does not act on, for the push output.
	Notes []string `json:"-"`

	p        *staticParser
	rootLine member // where root is, for an error about its folder
}

// Paths in routes, redirects and headers are Heroku's patterns: literal
// but for "*", one path segment or part of one, and "**", anything.

// StaticRoute serves File for requests matching Path that name no file.
type StaticRoute struct {
	Path   string   `json:"path"`
	File   string   `json:"file"`             // absolute within the site: "/index.html"
	Except []string `json:"except,omitempty"` // patterns left alone; a trailing "/" takes the folder's contents too
}

// StaticRedirect answers Path with a redirect to URL.
type StaticRedirect struct {
	Path   string `json:"path"`
	URL    string `json:"url"`
	Status int    `json:"status"`
}

// StaticHeaders sets headers (canonical name → value) on responses to Path.
type StaticHeaders struct {
	Path string            `json:"path"`
	Set  map[string]string `json:"set"`
}

// staticUnsupported are the keys of Heroku's static.json xcloud does not
// act on, with a reason where there is one to give.
var staticUnsupported = map[string]string{
	"https_only":               "HTTP is redirected to HTTPS whenever the daemon's TLS is on",
	"canonical_host":           "",
	"basic_auth":               "",
	"basic_auth_htpasswd_path": "",
	"proxies":                  "",
	"encoding":                 "",
	"logging":                  "",
}

// ParseStaticJSON parses and validates a static.json. Syntax errors name
// the line and column; bad values name the key and line.
func ParseStaticJSON(b []byte) (*StaticConfig, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, jsonError("static.json", b, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("static.json line 1: want an object")
	}
	p := &staticParser{b: b}
	top, err := p.members(b, 0)
	if err != nil {
		return nil, err
	}
	c := &StaticConfig{p: p}
	for _, m := range top {
		why, unsupported := staticUnsupported[m.key]
		switch {
		case unsupported && why != "":
			c.note("static.json %s is not supported; ignored (%s)", m.key, why)
		case unsupported:
			c.note("static.json %s is not supported; ignored", m.key)
		default:
			known, err := p.top(c, m)
			if err != nil {
				return nil, err
			}
			if !known {
				c.note("static.json %s is not a key xcloud knows; ignored", m.key)
			}
		}
	}
	return c, nil
}

func (c *StaticConfig) note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// staticParser reads static.json's objects in file order (routes and
// headers depend on it), remembering where each key is.
type staticParser struct{ b []byte }

// member is one key of an object and its value; off is the offset, in the
// whole file, just past the key.
type member struct {
	key string
	off int64
	raw json.RawMessage
}

func (p *staticParser) errorf(m member, key, format string, args ...any) error {
	line, _ := lineCol(p.b, m.off)
	return fmt.Errorf("static.json %s: %s (line %d)", key, fmt.Sprintf(format, args...), line)
}

// members returns the keys of the object raw (at offset base) in order.
// raw must be valid JSON.
func (p *staticParser) members(raw []byte, base int64) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // "{"
		return nil, fmt.Errorf("static.json: %w", err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("static.json: %w", err)
		}
		m := member{key: tok.(string), off: base + dec.InputOffset()}
		if err := dec.Decode(&m.raw); err != nil {
			return nil, fmt.Errorf("static.json: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// object returns the members of m's value, which must be an object.
func (p *staticParser) object(m member, key string) ([]member, error) {
	if !isJSON(m.raw, '{') {
		return nil, p.errorf(m, key, "want an object, got %s", m.raw)
	}
	// The value starts after the key, its colon and any spaces.
	start := m.off + int64(bytes.IndexByte(p.b[m.off:], '{'))
	return p.members(m.raw, start)
}

func isJSON(raw json.RawMessage, first byte) bool {
	return len(raw) > 0 && raw[0] == first
}

func (p *staticParser) str(m member, key string) (string, error) {
	var s string
	if !isJSON(m.raw, '"') || json.Unmarshal(m.raw, &s) != nil {
		return "", p.errorf(m, key, "want a string, got %s", m.raw)
	}
	return s, nil
}

// top reads one of the keys xcloud acts on; known is false for any other.
func (p *staticParser) top(c *StaticConfig, m member) (known bool, err error) {
	switch m.key {
	case "root":
		s, err := p.str(m, "root")
		if err != nil {
			return true, err
		}
		root := path.Clean(strings.TrimSpace(s))
		if path.IsAbs(root) || root == ".." || strings.HasPrefix(root, "../") {
			return true, p.errorf(m, "root", "%q is not a folder inside the repository", s)
		}
		if root != "." {
			c.Root, c.rootLine = root, m
		}
	case "clean_urls":
		if err := json.Unmarshal(m.raw, &c.CleanURLs); err != nil {
			return true, p.errorf(m, "clean_urls", "want true or false, got %s", m.raw)
		}
	case "error_page":
		s, err := p.str(m, "error_page")
		if err != nil {
			return true, err
		}
		f, ok := sitePath(s)
		if !ok {
			return true, p.errorf(m, "error_page", "%q is not a file of the site", s)
		}
		c.ErrorPage = f
	case "routes":
		err = p.routes(c, m)
	case "redirects":
		err = p.redirects(c, m)
	case "headers":
		err = p.headers(c, m)
	default:
		return false, nil
	}
	return true, err
}

func (p *staticParser) routes(c *StaticConfig, m member) error {
	entries, err := p.object(m, "routes")
	if err != nil {
		return err
	}
	for _, e := range entries {
		key := "routes." + e.key
		if err := checkPattern(e.key); err != nil {
			return p.errorf(e, key, "%v", err)
		}
		r := StaticRoute{Path: e.key}
		target := e
		if isJSON(e.raw, '{') {
			fields, err := p.object(e, key)
			if err != nil {
				return err
			}
			target = member{}
			for _, f := range fields {
				switch f.key {
				case "path":
					target = f
				case "except":
					if r.Except, err = p.excepts(f, key+".except"); err != nil {
						return err
					}
				default:
					return p.errorf(f, key+"."+f.key, "unknown key; want path or except")
				}
			}
			if target.raw == nil {
				return p.errorf(e, key, "has no path")
			}
		}
		s, err := p.str(target, key)
		if err != nil {
			return err
		}
		f, ok := sitePath(s)
		if !ok {
			return p.errorf(target, key, "%q is not a file of the site", s)
		}
		r.File = f
		c.Routes = append(c.Routes, r)
	}
	return nil
}

// excepts reads a route's except: one pattern or a list.
func (p *staticParser) excepts(m member, key string) ([]string, error) {
	var list []string
	if isJSON(m.raw, '"') {
		s, err := p.str(m, key)
		if err != nil {
			return nil, err
		}
		list = []string{s}
	} else if json.Unmarshal(m.raw, &list) != nil {
		return nil, p.errorf(m, key, "want a path or a list of paths, got %s", m.raw)
	}
	for _, s := range list {
		if err := checkPattern(s); err != nil {
			return nil, p.errorf(m, key, "%v", err)
		}
	}
	return list, nil
}

// redirectStatuses are the statuses a redirect may have.
var redirectStatuses = map[int]bool{301: true, 302: true, 303: true, 307: true, 308: true}

func (p *staticParser) redirects(c *StaticConfig, m member) error {
	entries, err := p.object(m, "redirects")
	if err != nil {
		return err
	}
	for _, e := range entries {
		key := "redirects." + e.key
		if err := checkPattern(e.key); err != nil {
			return p.errorf(e, key, "%v", err)
		}
		fields, err := p.object(e, key)
		if err != nil {
			return err
		}
		r := StaticRedirect{Path: e.key, Status: 301}
		for _, f := range fields {
			switch f.key {
			case "url":
				if r.URL, err = p.str(f, key+".url"); err != nil {
					return err
				}
				if strings.TrimSpace(r.URL) == "" || strings.ContainsAny(r.URL, " \t\r\n") {
					return p.errorf(f, key+".url", "want a URL without spaces, got %q", r.URL)
				}
			case "status":
				if json.Unmarshal(f.raw, &r.Status) != nil || !redirectStatuses[r.Status] {
					return p.errorf(f, key+".status", "want 301, 302, 303, 307 or 308, got %s", f.raw)
				}
			default:
				return p.errorf(f, key+"."+f.key, "unknown key; want url or status")
			}
		}
		if r.URL == "" {
			return p.errorf(e, key, "has no url")
		}
		c.Redirects = append(c.Redirects, r)
	}
	return nil
}

func (p *staticParser) headers(c *StaticConfig, m member) error {
	entries, err := p.object(m, "headers")
	if err != nil {
		return err
	}
	for _, e := range entries {
		key := "headers." + e.key
		if err := checkPattern(e.key); err != nil {
			return p.errorf(e, key, "%v", err)
		}
		fields, err := p.object(e, key)
		if err != nil {
			return err
		}
		h := StaticHeaders{Path: e.key, Set: map[string]string{}}
		for _, f := range fields {
			if !validHeaderName(f.key) {
				return p.errorf(f, key, "%q is not a header name", f.key)
			}
			v, err := p.str(f, key+"."+f.key)
			if err != nil {
				return err
			}
			if strings.ContainsAny(v, "\r\n") {
				return p.errorf(f, key+"."+f.key, "a header value is one line")
			}
			h.Set[http.CanonicalHeaderKey(f.key)] = v
		}
		c.Headers = append(c.Headers, h)
	}
	return nil
}

// checkPattern accepts a path pattern: it starts with "/" and has no query,
// fragment or spaces.
func checkPattern(s string) error {
	if !strings.HasPrefix(s, "/") {
		return fmt.Errorf("%q must start with /", s)
	}
	if strings.ContainsAny(s, "?# \t\r\n\\") {
		return fmt.Errorf("%q is not a path", s)
	}
	return nil
}

// sitePath turns a file named relative to the site's root ("index.html",
// "/errors/404.html") into its absolute path in the site; ok is false for
// a path out of the site or one that is no file name.
func sitePath(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, "/") || strings.ContainsAny(s, "?#\\\r\n") {
		return "", false
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return "", false
		}
	}
	return path.Clean("/" + s), true
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// staticJSON reads static.json into plan when plan serves a static site:
// its root picks the folder of a plain site, its notes join the plan's.
func (d *detector) staticJSON(plan *Plan) error {
	if !d.exists("static.json") {
		return nil
	}
	if plan.StaticRoot == "" {
		d.note("static.json ignored: %s is not a static site", plan.Name)
		return nil
	}
	b, err := d.read("static.json")
	if err != nil {
		return err
	}
	c, err := ParseStaticJSON(b)
	if err != nil {
		return err
	}
	d.notes = append(d.notes, c.Notes...)
	switch {
	case c.Root == "" || c.Root == plan.StaticRoot:
	case plan.Kind == KindStatic:
		if !d.isDir(c.Root) {
			return c.p.errorf(c.rootLine, "root", "%s is not a folder of the repository", c.Root)
		}
		plan.StaticRoot = c.Root
	default:
		d.note("static.json root %s ignored: the build writes the site to %s", c.Root, plan.StaticRoot)
	}
	plan.Static = c
	return nil
}
