package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// siteFiles writes files (path → content) under a new root.
func siteFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type answer struct {
	status int
	body   string
	header http.Header
}

// fetch GETs url with extra request headers (name, value, …), decoding no
// Content-Encoding, and follows no redirect.
func fetch(t *testing.T, c *http.Client, url string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b), resp.Header}
}

func TestStaticSite(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t, TLSOff)
	big := "<!doctype html><title>app</title>" + strings.Repeat("<p>spa shell</p>\n", 100)
	root := siteFiles(t, map[string]string{
		"index.html":          big,
		"about.html":          "about page",
		"docs/index.html":     "docs index",
		"app.js":              "plain js " + strings.Repeat("x", 1000),
		"app.js.gz":           "pretend gzip",
		"app.js.br":           "pretend brotli",
		"assets/logo.svg":     "<svg/>",
		"spa/assets/real.css": "body{}",
		"404.html":            "custom not found",
	})
	plain := siteFiles(t, map[string]string{"index.html": "plain"})
	site := &Site{
		CleanURLs: true,
		Routes: []SiteRoute{
			{Path: "/spa/**", Except: []string{"/spa/assets/"}, File: "/index.html"},
			{Path: "/app/**", File: "/index.html"},
		},
		Redirects: []SiteRedirect{
			{Path: "/old", URL: "/about", Status: 301},
			{Path: "/gone/*", URL: "https://example.com/{env.HOME}", Status: 308},
		},
		Headers: []SiteHeaders{
			{Path: "/assets/**", Set: map[string]string{"Cache-Control": "public, max-age=60"}},
			{Path: "/", Set: map[string]string{"X-Frame-Options": "DENY", "X-Secret": "{env.HOME}"}},
		},
	}
	routes := []Route{
		{App: "site", Hosts: []string{"site.test"}, Root: root, Site: site},
		{App: "plain", Hosts: []string{"plain.test"}, Root: plain},
	}
	if err := p.Apply(ctx, routes); err != nil {
		t.Fatal(err)
	}
	c := client(cfg.HTTPListen, nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	t.Run("gzip when asked", func(t *testing.T) {
		a := fetch(t, c, "http://site.test/", "Accept-Encoding", "gzip")
		if a.status != 200 || a.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%d %v", a.status, a.header)
		}
		zr, err := gzip.NewReader(strings.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(zr); string(b) != big {
			t.Errorf("gunzipped body %q", b)
		}
		if a := fetch(t, c, "http://site.test/", "Accept-Encoding", "identity"); a.header.Get("Content-Encoding") != "" || a.body != big {
			t.Errorf("identity: %v %q", a.header, a.body)
		}
	})
	t.Run("zstd when asked", func(t *testing.T) {
		a := fetch(t, c, "http://site.test/", "Accept-Encoding", "zstd")
		if a.header.Get("Content-Encoding") != "zstd" {
			t.Fatalf("%d %v", a.status, a.header)
		}
		zr, err := zstd.NewReader(strings.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		if b, _ := io.ReadAll(zr); string(b) != big {
			t.Errorf("body %q", b)
		}
	})
	t.Run("precompressed", func(t *testing.T) {
		a := fetch(t, c, "http://site.test/app.js", "Accept-Encoding", "gzip, br")
		if a.body != "pretend brotli" || a.header.Get("Content-Encoding") != "br" {
			t.Errorf("br: %q %v", a.body, a.header)
		}
		a = fetch(t, c, "http://site.test/app.js", "Accept-Encoding", "gzip")
		if a.body != "pretend gzip" || a.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("gzip: %q %v", a.body, a.header)
		}
	})
	for _, tt := range []struct {
		name, path string
		status     int
		body       string
		hdr        map[string]string
	}{
		{"spa deep link", "/spa/users/42", 200, big, nil},
		{"spa second route", "/app/x", 200, big, nil},
		{"spa real asset", "/spa/assets/real.css", 200, "body{}", nil},
		{"spa except", "/spa/assets/missing.css", 404, "custom not found", nil},
		{"clean url", "/about", 200, "about page", nil},
		{"clean url keeps folders", "/docs/", 200, "docs index", nil},
		{"file as named", "/about.html", 200, "about page", nil},
		{"custom 404", "/nope", 404, "custom not found", nil},
		{"redirect", "/old", 301, "", map[string]string{"Location": "/about"}},
		{"redirect pattern, no placeholders", "/gone/x", 308, "", map[string]string{"Location": "https://example.com/{env.HOME}"}},
		{"pattern is one segment", "/gone/x/y", 404, "custom not found", nil},
		{"headers replace cache", "/assets/logo.svg", 200, "<svg/>", map[string]string{"Cache-Control": "public, max-age=60"}},
		{"headers exact path", "/", 200, big, map[string]string{"X-Frame-Options": "DENY", "X-Secret": "{env.HOME}", "Cache-Control": "no-cache"}},
		{"headers not elsewhere", "/about", 200, "about page", map[string]string{"X-Frame-Options": ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := fetch(t, c, "http://site.test"+tt.path)
			if a.status != tt.status || (tt.body != "" && a.body != tt.body) {
				t.Errorf("%s: %d %.40q, want %d %.40q", tt.path, a.status, a.body, tt.status, tt.body)
			}
			for k, v := range tt.hdr {
				if got := a.header.Get(k); got != v {
					t.Errorf("%s: %s %q, want %q", tt.path, k, got, v)
				}
			}
		})
	}
	t.Run("plain site", func(t *testing.T) {
		if a := fetch(t, c, "http://plain.test/nope"); a.status != 404 || a.body != "" {
			t.Errorf("no 404.html: %d %q", a.status, a.body)
		}
		if a := fetch(t, c, "http://plain.test/deep/link"); a.status != 404 {
			t.Errorf("no routes, no fallback: %d %q", a.status, a.body)
		}
		os.WriteFile(filepath.Join(plain, "404.html"), []byte("shipped later"), 0o644)
		if a := fetch(t, c, "http://plain.test/nope"); a.status != 404 || a.body != "shipped later" {
			t.Errorf("404.html: %d %q", a.status, a.body)
		}
		if a := fetch(t, c, "http://plain.test/404.html"); a.status != 200 {
			t.Errorf("404.html itself: %d", a.status)
		}
	})
	t.Run("error page", func(t *testing.T) {
		s2 := *site
		s2.ErrorPage = "/errors/oops.html"
		os.MkdirAll(filepath.Join(root, "errors"), 0o755)
		os.WriteFile(filepath.Join(root, "errors", "oops.html"), []byte("oops"), 0o644)
		routes[0].Site = &s2
		if err := p.Apply(ctx, routes); err != nil {
			t.Fatal(err)
		}
		if a := fetch(t, c, "http://site.test/nope"); a.status != 404 || a.body != "oops" {
			t.Errorf("error_page: %d %q", a.status, a.body)
		}
	})
}

// TestStaticConfigGolden pins the Caddy JSON of a static site with every
// static.json setting, and of one without.
func TestStaticConfigGolden(t *testing.T) {
	routes := []Route{
		{App: "plain", Hosts: []string{"plain.xcloud.localhost"}, Root: "/srv/static/plain/current"},
		{App: "spa", Hosts: []string{"spa.xcloud.localhost"}, Root: "/srv/static/spa/current", Site: &Site{
			CleanURLs: true,
			Routes:    []SiteRoute{{Path: "/**", Except: []string{"/api/", "/*.txt"}, File: "/index.html"}},
			Redirects: []SiteRedirect{{Path: "/old/*", URL: "/new/{x}", Status: 302}},
			Headers:   []SiteHeaders{{Path: "/assets/**", Set: map[string]string{"Cache-Control": "public, max-age=60", "X-A": "b"}}},
			ErrorPage: "/errors/error.html",
		}},
	}
	got, err := BuildConfig(Config{HTTPListen: ":80"}, "golden", routes)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "static.json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("BuildConfig differs from %s (run go test -update):\n%s", path, pretty.Bytes())
	}
}

func TestPatternRegexp(t *testing.T) {
	for in, want := range map[string]string{
		"/":           `^/$`,
		"/**":         `^/.*$`,
		"/*.html":     `^/[^/]*\.html$`,
		"/a/**/b.css": `^/a/.*/b\.css$`,
		"/x+y":        `^/x\+y$`,
	} {
		if got := patternRegexp(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestSiteChangeReloads(t *testing.T) {
	a := []appPlan{{App: "s", Root: "/r", Site: &Site{Routes: []SiteRoute{{Path: "/**", File: "/index.html"}}}}}
	b := []appPlan{{App: "s", Root: "/r", Site: &Site{Routes: []SiteRoute{{Path: "/**", File: "/index.html"}}}}}
	if !sameStructure(a, b) {
		t.Error("equal sites differ")
	}
	b[0].Site.Routes[0].File = "/200.html"
	if sameStructure(a, b) {
		t.Error("a changed route is the same structure: no reload")
	}
	if sameStructure(a, []appPlan{{App: "s", Root: "/r"}}) {
		t.Error("dropping static.json is the same structure")
	}
}

// BenchmarkStaticEncode measures what compressing costs per response (a
// 4 KB page from a static site, through real Caddy on loopback): the reason
// proxied apps' responses are left alone.
func BenchmarkStaticEncode(b *testing.B) {
	p, cfg := startProxy(b, TLSOff)
	root := b.TempDir()
	// Words in a pseudo-random order compress about as well as real HTML.
	words := strings.Fields("the a site page of and to in app user settings account home about blog post list item title link button form")
	var sb strings.Builder
	for i, x := 0, uint32(1); sb.Len() < 4096; i++ {
		x = x*1664525 + 1013904223
		sb.WriteString(words[x>>24%uint32(len(words))])
		sb.WriteString([]string{" ", " ", " ", "\n<p>"}[i%4])
	}
	page := sb.String()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(page), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := p.Apply(context.Background(), []Route{{App: "site", Hosts: []string{"site.test"}, Root: root}}); err != nil {
		b.Fatal(err)
	}
	c := client(cfg.HTTPListen, nil)
	for _, enc := range []string{"identity", "gzip", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://site.test/", nil)
			req.Header.Set("Accept-Encoding", enc)
			var n int64
			for b.Loop() {
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				m, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n = m
			}
			b.ReportMetric(float64(n), "bytes/resp")
		})
	}
}
