package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// fetchRaw GETs path of host through the proxy with Accept-Encoding set as
// given (so the client decodes nothing) and follows no redirect.
func (h *harness) fetchRaw(host, path, acceptEncoding string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", h.httpPort, path), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Host = host
	req.Header.Set("Accept-Encoding", acceptEncoding)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestStaticSiteSettings pushes a plain static site (no build) with a
// static.json and a 404.html, as Heroku's static buildpack takes it: a deep
// link under an SPA route answers index.html, responses are gzipped when
// asked, a missing file elsewhere gets the custom 404 page with status 404,
// and a malformed static.json refuses the push naming the key and line.
func TestStaticSiteSettings(t *testing.T) {
	h := newHarness(t)
	host := "spa." + baseDomain
	index, err := os.ReadFile("testdata/static-spa/index.html")
	if err != nil {
		t.Fatal(err)
	}

	r := newRepo(t, h, h.key)
	r.copyRealApp("static-spa")
	r.commit("spa")
	out, err := r.push(h.remote("spa"), "main")
	if err != nil || !strings.Contains(out, "static HTML") || !strings.Contains(out, "static.json https_only is not supported") {
		t.Fatalf("push: %v\n%s", err, out)
	}
	h.realAppServes(host, "/", "spa shell", 10*time.Second)

	check := func(path, accept string, status int, want func(*http.Response, []byte) string) {
		t.Helper()
		resp, body, err := h.fetchRaw(host, path, accept)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d; body %.80q", path, resp.StatusCode, status, body)
		}
		if msg := want(resp, body); msg != "" {
			t.Errorf("%s: %s", path, msg)
		}
	}
	is := func(want string) func(*http.Response, []byte) string {
		return func(_ *http.Response, b []byte) string {
			if string(b) != want {
				return fmt.Sprintf("body %.80q, want %.80q", b, want)
			}
			return ""
		}
	}

	check("/app/users/42", "identity", 200, is(string(index)))
	check("/", "gzip", 200, func(resp *http.Response, b []byte) string {
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			return "Content-Encoding " + ce + ", want gzip"
		}
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			return err.Error()
		}
		if plain, _ := io.ReadAll(zr); string(plain) != string(index) {
			return fmt.Sprintf("gunzipped %.80q", plain)
		}
		return ""
	})
	check("/assets/missing.js", "identity", 404, is("<!doctype html><title>not found</title><p>custom not found page</p>\n"))
	check("/about", "identity", 200, is("<!doctype html><title>about</title><p>about page</p>\n"))
	check("/old", "identity", 301, func(resp *http.Response, _ []byte) string {
		if loc := resp.Header.Get("Location"); loc != "/about" {
			return "Location " + loc
		}
		return ""
	})
	check("/assets/app.css", "identity", 200, func(resp *http.Response, _ []byte) string {
		if v := resp.Header.Get("X-Static-Test"); v != "yes" {
			return "X-Static-Test " + v
		}
		return ""
	})

	r.write("static.json", "{\n  \"routes\": {\n    \"/app/**\": 42\n  }\n}\n")
	r.commit("broken static.json")
	out, err = r.push(h.remote("spa"), "main")
	if err == nil || !strings.Contains(out, "static.json routes./app/**: want a string, got 42 (line 3)") {
		t.Fatalf("a malformed static.json was not refused naming key and line: %v\n%s", err, out)
	}
	check("/app/still", "identity", 200, is(string(index)))
}

// TestStaticViteSPA pushes a Vite single-page app with a static.json: the
// site Node.js builds is served with the same settings, so a deep link
// answers the built index.html, gzipped when asked.
func TestStaticViteSPA(t *testing.T) {
	requireStack(t)
	h := newHarness(t)
	host := "vitespa." + baseDomain
	r := newRepo(t, h, h.key)
	r.write("package.json", `{"name": "vitespa", "private": true, "scripts": {"build": "vite build"}, "devDependencies": {"vite": "^5.4.0"}}`)
	r.write("index.html", "<!doctype html><title>vite spa</title><script type=\"module\" src=\"/main.js\"></script>\n<div id=\"app\">vite spa shell</div>\n"+
		strings.Repeat("<p>Text that makes the page long enough to be worth compressing.</p>\n", 10))
	r.write("main.js", "document.getElementById('app').dataset.path = location.pathname\n")
	r.write("static.json", `{"root": "dist/", "routes": {"/**": "index.html"}}`)
	r.commit("vite spa")
	out, err := r.push(h.remote("vitespa"), "main")
	if err != nil || !strings.Contains(out, "Vite static export") {
		t.Fatalf("push: %v\n%s", err, out)
	}
	h.realAppServes(host, "/", "vite spa shell", 10*time.Second)
	_, index, err := h.fetchRaw(host, "/", "identity")
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := h.fetchRaw(host, "/users/42/settings", "gzip")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("deep link: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); string(plain) != string(index) {
		t.Errorf("deep link answered %.100q, want the built index.html %.100q", plain, index)
	}
}
