package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/store"
)

// page is what every template gets.
type page struct {
	Title string
	P     *access.Principal // nil on the sign-in and error pages of signed-out visitors
	CSRF  string
	Flash *flash
	Data  any
}

var funcs = template.FuncMap{
	"ago":     ago,
	"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short":   func(s string) string { return s[:min(len(s), 7)] },
	"hasText": func(s string) bool { return strings.TrimSpace(s) != "" },
}

// parsePages parses each page with the layout. The templates are embedded,
// so a parse error is a build mistake caught by every test.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
	}
	return pages
}

// render writes a page; pages are never cached, they show live state.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// refuse answers a request the dashboard will not serve: one line, as a
// page for people, as plain text for scripts and event streams.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isStream(r) || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, msg, status)
		return
	}
	p := page{Title: http.StatusText(status), Data: msg}
	if c, err := r.Cookie(cookieName(h.secure)); err == nil {
		if sess := h.sessions.get(c.Value); sess != nil {
			p.P, p.CSRF = &sess.principal, sess.csrf
		}
	}
	h.render(w, status, "error", p)
}

// fail answers an engine failure: messages meant for people are shown,
// anything else is logged and summarised.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if msg, ok := forPeople(err); ok {
		status := http.StatusBadRequest
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		}
		h.refuse(w, r, status, msg)
		return
	}
	h.log.Error("dashboard request failed", "path", r.URL.Path, "err", err)
	h.refuse(w, r, http.StatusInternalServerError, "the daemon could not do that; its log says why")
}

// forPeople returns err's message when the engine meant it for people: its
// refusals and sentinels, which name what was wrong.
func forPeople(err error) (string, bool) {
	var de *daemon.Error
	var ie daemon.InputError
	switch {
	case errors.As(err, &de), errors.As(err, &ie):
		return err.Error(), true
	case errors.Is(err, daemon.ErrStaticSite), errors.Is(err, daemon.ErrNoRelease),
		errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalidName):
		return err.Error(), true
	}
	return "", false
}

// ago says how long ago t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// staticFiles serves the embedded CSS and JavaScript. They change only
// with the binary, so a short cache is safe.
func staticFiles(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	})
}
