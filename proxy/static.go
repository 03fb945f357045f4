package proxy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Site is how a static site wants its files served beyond plain files
// (Heroku's static.json). Path patterns are Heroku's: literal but for "*",
// any characters within one path segment, and "**", any characters.
type Site struct {
	// CleanURLs serves /about from about.html when /about is no file.
	CleanURLs bool
	// Routes serve a file for requests that name no file or folder; the
	// first route matching wins (single-page apps: "/**" → "/index.html").
	Routes []SiteRoute
	// Redirects answer before any file is looked at.
	Redirects []SiteRedirect
	// Headers are set on the responses of matching paths, in order, after
	// xcloud's Cache-Control (so they can replace it).
	Headers []SiteHeaders
	// ErrorPage ("/errors/oops.html") is served for every error, with the
	// error's status. Empty: /404.html for 404s, when the site has one.
	ErrorPage string
}

// SiteRoute serves File for requests matching Path, unless they name a
// file or folder or match one of Except ("/spa/assets/" takes everything
// under the folder).
type SiteRoute struct {
	Path   string
	Except []string
	File   string // "/index.html"
}

// SiteRedirect answers requests matching Path with Status (3xx) to URL.
type SiteRedirect struct {
	Path   string
	URL    string
	Status int
}

// SiteHeaders sets the headers Set (name → value) on responses to Path.
type SiteHeaders struct {
	Path string
	Set  map[string]string
}

// check validates s; the daemon has checked it when it was pushed, so
// an error here is a bug, not a user's mistake.
func (s *Site) check() error {
	if s == nil {
		return nil
	}
	abs := func(what, p string) error {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("site %s %q is not an absolute path", what, p)
		}
		return nil
	}
	var errs []error
	for _, r := range s.Routes {
		errs = append(errs, abs("route", r.Path), abs("route file", r.File))
		for _, e := range r.Except {
			errs = append(errs, abs("route except", e))
		}
	}
	for _, r := range s.Redirects {
		errs = append(errs, abs("redirect", r.Path))
		if r.Status < 300 || r.Status > 399 || r.URL == "" {
			errs = append(errs, fmt.Errorf("site redirect %q: want a 3xx status and a URL", r.Path))
		}
	}
	for _, h := range s.Headers {
		errs = append(errs, abs("headers", h.Path))
	}
	if s.ErrorPage != "" {
		errs = append(errs, abs("error page", s.ErrorPage))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Static sites: HTML and other unversioned files are revalidated on every
// use (cheap 304s through ETag/Last-Modified), while the conventional
// fingerprinted asset folders of Vite, Next.js and Create React App are
// cached for a year.
const (
	revalidate = "no-cache"
	immutable  = "public, max-age=31536000, immutable"
)

var fingerprinted = []string{"/assets/*", "/_next/static/*", "/static/js/*", "/static/css/*", "/static/media/*"}

// encodeHandler compresses text responses (Caddy's default list of types,
// 512 bytes and up) with zstd or gzip, as the client accepts. Only static
// sites get it: proxied apps' responses pass untouched, since most
// frameworks compress their own and compressing costs the proxy CPU on
// every request.
var encodeHandler = obj{
	"handler":   "encode",
	"encodings": obj{"gzip": obj{}, "zstd": obj{}},
	"prefer":    []string{"zstd", "gzip"},
}

// Placeholders of the request's path, for the file matcher.
const (
	reqPath = "{http.request.uri.path}"
)

// staticRouteOf serves a's files from its root: cache headers, the site's
// headers and redirects, compression, clean URLs and routes, then the
// file; errors get the site's error page.
func staticRouteOf(a appPlan) appRoute {
	root, site := a.Root, a.Site
	if site == nil {
		site = &Site{}
	}
	cache := func(value string) obj {
		return obj{"handler": "headers", "response": obj{"set": obj{"Cache-Control": []string{value}}}}
	}
	// xcloud_files (files.go) also answers with a site's own foo.js.br,
	// foo.js.zst or foo.js.gz (made at build time, at a higher level than
	// a per-request encoder can afford) when the client accepts it.
	fileServer := obj{"handler": "xcloud_files", "root": root}
	// exists matches a request naming a file or a folder of the site.
	exists := obj{"xcloud_file": obj{"root": root, "try_files": []string{reqPath, reqPath + "/"}}}

	routes := []obj{
		{"match": []obj{{"path": fingerprinted}}, "handle": []obj{cache(immutable)}},
		{"match": []obj{{"not": []obj{{"path": fingerprinted}}}}, "handle": []obj{cache(revalidate)}},
	}
	for _, h := range site.Headers {
		set := obj{}
		for k, v := range h.Set {
			set[k] = []string{literal(v)}
		}
		routes = append(routes, obj{
			"match":  []obj{pathMatch(h.Path)},
			"handle": []obj{{"handler": "headers", "response": obj{"set": set}}},
		})
	}
	for _, r := range site.Redirects {
		routes = append(routes, obj{
			"match": []obj{pathMatch(r.Path)},
			"handle": []obj{{
				"handler":     "static_response",
				"status_code": r.Status,
				"headers":     obj{"Location": []string{literal(r.URL)}},
			}},
			"terminal": true,
		})
	}
	routes = append(routes, obj{"handle": []obj{encodeHandler}})
	if site.CleanURLs {
		routes = append(routes, obj{
			"match": []obj{{
				"not":         []obj{exists},
				"xcloud_file": obj{"root": root, "try_files": []string{reqPath + ".html"}},
			}},
			"handle": []obj{{"handler": "rewrite", "uri": reqPath + ".html"}},
		})
	}
	for _, r := range site.Routes {
		not := []obj{exists}
		for _, e := range r.Except {
			if strings.HasSuffix(e, "/") {
				e += "**"
			}
			not = append(not, pathMatch(e))
		}
		m := pathMatch(r.Path)
		m["not"] = not
		routes = append(routes, obj{
			// Only the first matching route of the group runs.
			"group":  "routes",
			"match":  []obj{m},
			"handle": []obj{{"handler": "rewrite", "uri": literal(r.File)}},
		})
	}
	routes = append(routes, obj{"handle": []obj{fileServer}})

	// An error (a file that is not there) gets the site's page for it,
	// else the bare status.
	page, pageMatch := site.ErrorPage, obj{}
	if page == "" {
		page, pageMatch = "/404.html", obj{"vars": obj{"{http.error.status_code}": []string{"404"}}}
	}
	pageMatch["xcloud_file"] = obj{"root": root, "try_files": []string{literal(page)}}
	errRoutes := []obj{
		{
			"match":    []obj{pageMatch},
			"handle":   []obj{encodeHandler, {"handler": "rewrite", "uri": literal(page)}, fileServer},
			"terminal": true,
		},
		{"handle": []obj{{"handler": "static_response", "status_code": "{http.error.status_code}"}}},
	}

	return appRoute{
		Match: []hostMatch{{Host: a.Hosts}},
		Handle: []any{obj{
			"handler": "subroute",
			"routes":  routes,
			"errors":  obj{"routes": errRoutes},
		}},
		Terminal: true,
	}
}

// pathMatch is a matcher set for a Heroku path pattern.
func pathMatch(pattern string) obj {
	return obj{"path_regexp": obj{"pattern": patternRegexp(pattern)}}
}

// patternRegexp turns a Heroku path pattern into an anchored regular
// expression: "**" is any characters, "*" any but "/".
func patternRegexp(pattern string) string {
	var sb strings.Builder
	sb.WriteByte('^')
	for i := 0; i < len(pattern); {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			sb.WriteString(".*")
			i += 2
		case pattern[i] == '*':
			sb.WriteString("[^/]*")
			i++
		default:
			j := i + 1
			for j < len(pattern) && pattern[j] != '*' {
				j++
			}
			sb.WriteString(regexp.QuoteMeta(pattern[i:j]))
			i = j
		}
	}
	sb.WriteByte('$')
	return sb.String()
}

// literal escapes Caddy's placeholder braces in s, so a site's value is
// sent as written: "{env.SECRET}" in a header must not read the daemon's
// environment.
func literal(s string) string {
	return strings.NewReplacer(`{`, `\{`, `}`, `\}`).Replace(s)
}

// sameSite reports whether a and b serve a site the same way.
func sameSite(a, b *Site) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.CleanURLs == b.CleanURLs && a.ErrorPage == b.ErrorPage &&
		slices.EqualFunc(a.Routes, b.Routes, func(x, y SiteRoute) bool {
			return x.Path == y.Path && x.File == y.File && slices.Equal(x.Except, y.Except)
		}) &&
		slices.Equal(a.Redirects, b.Redirects) &&
		slices.EqualFunc(a.Headers, b.Headers, func(x, y SiteHeaders) bool {
			if x.Path != y.Path || len(x.Set) != len(y.Set) {
				return false
			}
			for k, v := range x.Set {
				if w, ok := y.Set[k]; !ok || w != v {
					return false
				}
			}
			return true
		})
}
