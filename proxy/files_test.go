package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestFilesHandler covers what static sites need of xcloud_files beyond
// TestStaticSite: canonical slashes, validators, sidecars' types and
// tags, methods, and staying inside the root.
func TestFilesHandler(t *testing.T) {
	p, cfg := startProxy(t, TLSOff)
	root := siteFiles(t, map[string]string{
		"index.html":      "home",
		"docs/index.html": "docs",
		"style.css":       "body{}",
		"style.css.zst":   "pretend zstd",
		"data.bin":        "0123456789",
		"noext":           "plain bytes",
	})
	if err := p.Apply(context.Background(), []Route{{App: "s", Hosts: []string{"s.test"}, Root: root}}); err != nil {
		t.Fatal(err)
	}
	c := client(cfg.HTTPListen, nil)
	get := func(path string, hdr ...string) answer { t.Helper(); return fetch(t, c, "http://s.test"+path, hdr...) }

	for _, tt := range []struct{ path, location string }{
		{"/docs", "/docs/"},
		{"/docs?x=1", "/docs/?x=1"},
		{"/style.css/", "/style.css"},
	} {
		if a := get(tt.path); a.status != http.StatusPermanentRedirect || a.header.Get("Location") != tt.location {
			t.Errorf("%s: %d to %q, want 308 to %q", tt.path, a.status, a.header.Get("Location"), tt.location)
		}
	}
	if a := get("/docs/"); a.status != 200 || a.body != "docs" {
		t.Errorf("folder index: %d %q", a.status, a.body)
	}

	plain := get("/style.css")
	if plain.status != 200 || plain.body != "body{}" || !strings.HasPrefix(plain.header.Get("Content-Type"), "text/css") ||
		plain.header.Get("Etag") == "" || plain.header.Get("Last-Modified") == "" || !strings.Contains(plain.header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("plain file: %d %q %v", plain.status, plain.body, plain.header)
	}
	if a := get("/style.css", "If-None-Match", plain.header.Get("Etag")); a.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", a.status)
	}
	z := get("/style.css", "Accept-Encoding", "zstd")
	if z.body != "pretend zstd" || z.header.Get("Content-Encoding") != "zstd" || !strings.HasPrefix(z.header.Get("Content-Type"), "text/css") ||
		z.header.Get("Content-Length") != "12" || z.header.Get("Etag") == plain.header.Get("Etag") {
		t.Errorf("sidecar: %q %v (plain tag %q)", z.body, z.header, plain.header.Get("Etag"))
	}
	if a := get("/data.bin", "Range", "bytes=2-4"); a.status != http.StatusPartialContent || a.body != "234" {
		t.Errorf("range: %d %q", a.status, a.body)
	}
	if a := get("/noext"); a.header.Get("Content-Type") != "" {
		t.Errorf("no extension: Content-Type %q, want none (no sniffing)", a.header.Get("Content-Type"))
	}
	if a := get("/../../../../etc/hostname"); a.status != http.StatusNotFound {
		t.Errorf("outside the root: %d", a.status)
	}
	if a := get("/style.css/deeper"); a.status != http.StatusNotFound {
		t.Errorf("below a file: %d", a.status)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://s.test/style.css", strings.NewReader("x"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ = http.NewRequest(http.MethodHead, "http://s.test/style.css", nil)
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len("body{}")) {
		t.Errorf("HEAD: %d length %d", resp.StatusCode, resp.ContentLength)
	}
}

// TestNoTemplatesModule keeps Caddy's fileserver package out of the
// binary: it brings the templates module, and chroma and goldmark with it
// (about 5 MB of binary and of heap at start; see files.go).
func TestNoTemplatesModule(t *testing.T) {
	for _, id := range []string{"http.handlers.templates", "http.handlers.file_server"} {
		if _, err := caddy.GetModule(id); err == nil {
			t.Errorf("Caddy module %s is linked in", id)
		}
	}
}
