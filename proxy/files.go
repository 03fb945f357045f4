package proxy

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
)

// Static sites are served by these two modules instead of Caddy's
// file_server and file matcher: Caddy's fileserver package imports its
// templates module for the `caddy file-server` command, and with it chroma's
// lexers and styles, goldmark and their init code, about 5 MB of binary
// and 5 MB of heap in every daemon whether it serves a static site or not.
// What static sites use of them is small: files under a root, index.html,
// precompressed sidecars, canonical trailing slashes, error pages.

func init() {
	caddy.RegisterModule(filesHandler{})
	caddy.RegisterModule(fileMatcher{})
}

// indexNames are served for a folder, first found wins (Caddy's defaults).
var indexNames = []string{"index.html", "index.txt"}

// sidecars are the precompressed variants looked for beside a file, by
// the encoding the client must accept, in the order preferred.
var sidecars = map[string]string{"br": ".br", "zstd": ".zst", "gzip": ".gz"}

var sidecarOrder = []string{"br", "zstd", "gzip"}

// filesHandler is the Caddy HTTP handler http.handlers.xcloud_files: it
// serves the file the request's path names under Root (GET and HEAD),
// with a folder's index.html, a precompressed sidecar (foo.js.br,
// foo.js.zst, foo.js.gz) when the client accepts its encoding, ETag and
// Last-Modified, and ranges. A missing file is a 404 error for the
// route's error handlers; inside them, the file is sent with the error's
// status.
type filesHandler struct {
	Root string `json:"root"`
}

// CaddyModule returns the Caddy module information.
func (filesHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xcloud_files",
		New: func() caddy.Module { return new(filesHandler) },
	}
}

func (h filesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	name := strings.TrimSuffix(caddyhttp.SanitizedPathJoin(h.Root, r.URL.Path), "/")
	info, err := os.Stat(name)
	if err != nil {
		return statusOf(err)
	}
	index := false
	if info.IsDir() {
		for _, n := range indexNames {
			if fi, err := os.Stat(filepath.Join(name, n)); err == nil && !fi.IsDir() {
				name, info, index = filepath.Join(name, n), fi, true
				break
			}
		}
		if !index {
			return caddyhttp.Error(http.StatusNotFound, errors.New("folder without index file"))
		}
	}
	// Relative links in a page resolve against its URL: a folder's index
	// is at "dir/", a file never ends in "/". A rewritten request (a
	// site's route to /index.html) keeps its URL.
	orig, _ := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if orig.URL != nil && path.Base(orig.URL.Path) == path.Base(r.URL.Path) {
		switch slash := strings.HasSuffix(orig.URL.Path, "/"); {
		case index && !slash:
			return redirectTo(w, r, orig.URL.Path+"/")
		case !index && slash:
			return redirectTo(w, r, strings.TrimSuffix(orig.URL.Path, "/"))
		}
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept-Encoding")
	var f *os.File
	for _, enc := range encode.AcceptedEncodings(r, sidecarOrder) {
		side, ok := sidecars[enc]
		if !ok {
			continue
		}
		fi, err := os.Stat(name + side)
		if err != nil || fi.IsDir() {
			continue
		}
		if f, err = os.Open(name + side); err != nil {
			continue
		}
		hdr.Set("Content-Encoding", enc)
		if r.Header.Get("Range") == "" {
			// net/http sets no length when the response has an encoding.
			hdr.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		}
		// The sidecar's own tag: a cache must not mix the two bodies up.
		hdr.Set("Etag", etagOf(fi))
		break
	}
	if f == nil {
		if f, err = os.Open(name); err != nil {
			return statusOf(err)
		}
		hdr.Set("Etag", etagOf(info))
	}
	defer f.Close()

	errCtx, inError := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	if !inError && r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Add("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	}
	if hdr.Get("Content-Type") == "" {
		if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
			hdr.Set("Content-Type", t)
		} else {
			hdr["Content-Type"] = nil // no sniffing of the site's bytes
		}
	}
	if inError {
		// An error page goes out with the error's status.
		code := http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(errCtx, &he) && he.StatusCode > 0 {
			code = he.StatusCode
		}
		w = errorStatusWriter{ResponseWriter: w, code: code}
	}
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
	return nil
}

// statusOf turns an error opening a site's file into the request's.
func statusOf(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return caddyhttp.Error(http.StatusNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	return caddyhttp.Error(http.StatusInternalServerError, err)
}

func redirectTo(w http.ResponseWriter, r *http.Request, to string) error {
	// "//host" would leave the site.
	to = "/" + strings.TrimLeft(to, "/")
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusPermanentRedirect)
	return nil
}

// etagOf is a strong validator from the file's modification time and size.
func etagOf(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().UnixNano(), 36) + strconv.FormatInt(fi.Size(), 36) + `"`
}

// errorStatusWriter replaces the status of a successful answer with code.
type errorStatusWriter struct {
	http.ResponseWriter
	code int
}

func (w errorStatusWriter) WriteHeader(code int) {
	if code >= 200 && code < 300 {
		code = w.code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w errorStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fileMatcher is the Caddy request matcher http.matchers.xcloud_file: it
// matches when one of TryFiles (placeholders replaced) exists under Root,
// a folder for a name ending in "/", a file otherwise.
type fileMatcher struct {
	Root     string   `json:"root"`
	TryFiles []string `json:"try_files"`
}

// CaddyModule returns the Caddy module information.
func (fileMatcher) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.xcloud_file",
		New: func() caddy.Module { return new(fileMatcher) },
	}
}

func (m fileMatcher) MatchWithError(r *http.Request) (bool, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	for _, try := range m.TryFiles {
		if repl != nil {
			try = repl.ReplaceAll(try, "")
		}
		fi, err := os.Stat(caddyhttp.SanitizedPathJoin(m.Root, try))
		if err == nil && fi.IsDir() == strings.HasSuffix(try, "/") {
			return true, nil
		}
	}
	return false, nil
}

var (
	_ caddyhttp.MiddlewareHandler       = filesHandler{}
	_ caddyhttp.RequestMatcherWithError = fileMatcher{}
)
