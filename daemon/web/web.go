// Package web is the dashboard: server-rendered pages on the daemon's own
// host, with a little JavaScript for live logs. People sign in with an API
// token; a session cookie carries them from then on. Every page and action
// calls the engine's named operations (the same ones the SSH and HTTP API
// doors call) and asks the principal's access.Scope first, whatever the
// page showed.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/daemon/metrics"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

//go:embed templates static
var assets embed.FS

// Engine is what the dashboard asks of the engine. *daemon.Daemon
// implements it.
type Engine interface {
	Apps(ctx context.Context) ([]daemon.AppInfo, error)
	App(ctx context.Context, name string) (store.App, error)
	Releases(ctx context.Context, app string, n int) ([]store.Release, error)
	Builds(ctx context.Context, app string, n int) ([]store.Build, error)
	BuildLog(ctx context.Context, app string, id int64) ([]byte, error)
	Processes(ctx context.Context, app string) ([]daemon.Process, error)
	Domains(ctx context.Context, app string) (daemon.DomainsInfo, error)
	Config(ctx context.Context, app string) (map[string]string, error)
	Events(ctx context.Context, req daemon.EventsRequest, fn func(store.Event) error) error
	Logs(ctx context.Context, req daemon.LogsRequest, w io.Writer) error
	FollowDeploy(ctx context.Context, app string, fn func(line string) error) (daemon.DeployEnd, error)
	Restart(ctx context.Context, app string, out io.Writer) error
	Scale(ctx context.Context, req daemon.ScaleRequest, out io.Writer) error
	Rollback(ctx context.Context, req daemon.RollbackRequest, out io.Writer) error
	SetConfig(ctx context.Context, req daemon.SetConfigRequest, out io.Writer) error
}

var _ Engine = (*daemon.Daemon)(nil)

// TokenAuth turns an API token's secret into the principal it stands for.
// *access.Tokens implements it; its errors are for the caller to read.
type TokenAuth interface {
	Authenticate(ctx context.Context, secret string) (access.Principal, error)
}

var _ TokenAuth = (*access.Tokens)(nil)

// TrafficReader reads an app's request totals. *metrics.Metrics
// implements it.
type TrafficReader interface {
	Traffic(app string) metrics.Traffic
}

var _ TrafficReader = (*metrics.Metrics)(nil)

// Options are the dashboard's dependencies and settings.
type Options struct {
	Engine Engine
	Tokens TokenAuth
	// Traffic is nil when metrics are off; the app page then says so.
	Traffic TrafficReader
	// Secure is set when the dashboard is served over HTTPS (tls.mode is
	// not "off"): cookies are Secure and __Host- prefixed.
	Secure bool
	Logger *slog.Logger
	// Idle and MaxAge bound a session (2h without a request, 24h in all
	// by default).
	Idle, MaxAge time.Duration
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
	// ClientIP names the client of a request, for counting failed
	// sign-ins (behind the proxy, the address it forwards); the peer's
	// address by default.
	ClientIP func(*http.Request) string
}

// Handler serves the dashboard at "/".
type Handler struct {
	eng      Engine
	tokens   TokenAuth
	traffic  TrafficReader
	secure   bool
	log      *slog.Logger
	sessions *sessions
	rates    *rates
	failures *gitreceive.AuthLimiter
	now      func() time.Time
	clientIP func(*http.Request) string
	recheck  time.Duration // how often a session's token is checked again
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// guard refuses cross-origin state changes by Sec-Fetch-Site and
	// Origin; the per-session CSRF token is checked as well.
	guard *http.CrossOriginProtection
}

// New returns the dashboard; it starts nothing (sessions expire lazily).
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("system", "web")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClientIP == nil {
		opts.ClientIP = peerIP
	}
	if opts.Idle <= 0 {
		opts.Idle = defaultIdle
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = defaultMaxAge
	}
	h := &Handler{
		eng:      opts.Engine,
		tokens:   opts.Tokens,
		traffic:  opts.Traffic,
		secure:   opts.Secure,
		log:      opts.Logger,
		sessions: newSessions(opts.Idle, opts.MaxAge, opts.Now),
		rates:    newRates(opts.Now),
		failures: gitreceive.NewAuthLimiter(signInFailures, signInWindow, signInBan, opts.Now),
		now:      opts.Now,
		recheck:  defaultRecheck,
		clientIP: opts.ClientIP,
		pages:    parsePages(),
		guard:    http.NewCrossOriginProtection(),
	}
	h.guard.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, r, http.StatusForbidden, "cross-site request refused: use the dashboard's own forms")
	}))
	h.routes()
	return h
}

func (h *Handler) routes() {
	mux := http.NewServeMux()
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	mux.HandleFunc("GET /signin", h.signinPage)
	mux.HandleFunc("POST /signin", h.signin)
	mux.HandleFunc("POST /signout", h.authed(h.signout))
	mux.HandleFunc("GET /{$}", h.authed(h.appsPage))
	mux.HandleFunc("GET /apps/{app}", h.authed(h.app(access.Read, h.appPage)))
	mux.HandleFunc("GET /apps/{app}/builds/{id}", h.authed(h.app(access.Read, h.buildPage)))
	mux.HandleFunc("GET /apps/{app}/traffic", h.authed(h.app(access.Read, h.trafficJSON)))
	mux.HandleFunc("GET /apps/{app}/deploy/stream", h.authed(h.app(access.Read, h.deployStream)))
	mux.HandleFunc("GET /apps/{app}/logs/stream", h.authed(h.app(access.Read, h.logsStream)))
	mux.HandleFunc("POST /apps/{app}/restart", h.authed(h.app(access.Deploy, h.restart)))
	mux.HandleFunc("POST /apps/{app}/scale", h.authed(h.app(access.Deploy, h.scale)))
	mux.HandleFunc("POST /apps/{app}/rollback", h.authed(h.app(access.Deploy, h.rollback)))
	mux.HandleFunc("POST /apps/{app}/config", h.authed(h.app(access.Deploy, h.setConfig)))
	mux.HandleFunc("POST /apps/{app}/config/unset", h.authed(h.app(access.Deploy, h.unsetConfig)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	h.mux = mux
}

// ServeHTTP serves the dashboard with its security headers; state changes
// from other sites are refused before any handler runs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.guard.Handler(h.mux).ServeHTTP(w, r)
}

// request is a signed-in request's context: the session and, for app
// pages, the app.
type request struct {
	sess *session
	p    access.Principal
	app  string
}

// authed requires a live session; a page without one goes to sign-in,
// anything else gets 401. State-changing requests must carry the
// session's CSRF token.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *session
		if c, err := r.Cookie(cookieName(h.secure)); err == nil {
			sess = h.sessions.get(c.Value)
		}
		if sess != nil {
			// A revoked or expired token ends its sessions: checked before
			// every change, and at least once a minute otherwise.
			changing := r.Method != http.MethodGet && r.Method != http.MethodHead
			if changing || h.sessions.due(sess, h.recheck) {
				if _, err := h.tokens.Authenticate(r.Context(), sess.secret); err != nil {
					c, _ := r.Cookie(cookieName(h.secure))
					h.sessions.delete(c.Value)
					h.log.Info("session ended: its token no longer authenticates", "principal", sess.principal.Name, "err", err)
					sess = nil
				}
			}
		}
		if sess == nil {
			if r.Method == http.MethodGet && !isStream(r) {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			h.refuse(w, r, http.StatusUnauthorized, "not signed in (or the session expired): sign in again")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				h.refuse(w, r, http.StatusBadRequest, "form could not be read: "+err.Error())
				return
			}
			if !validCSRF(sess, r.PostForm.Get("csrf")) {
				h.refuse(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
				return
			}
		}
		next(w, r, request{sess: sess, p: sess.principal})
	}
}

// maxForm caps a form body: config values are the largest thing sent.
const maxForm = 64 << 10

// app checks the app name in the path and that the principal may do
// what needs scope need on it.
func (h *Handler) app(need access.Scope, next func(http.ResponseWriter, *http.Request, request)) func(http.ResponseWriter, *http.Request, request) {
	return func(w http.ResponseWriter, r *http.Request, req request) {
		app := r.PathValue("app")
		if err := store.ValidateAppName(app); err != nil {
			h.refuse(w, r, http.StatusNotFound, err.Error())
			return
		}
		if !req.p.Allows(need, app) {
			h.refuse(w, r, http.StatusForbidden, forbidden(req.p, need, app))
			return
		}
		if _, err := h.eng.App(r.Context(), app); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				h.refuse(w, r, http.StatusNotFound, "no app named "+app)
				return
			}
			h.fail(w, r, err)
			return
		}
		req.app = app
		next(w, r, req)
	}
}

// forbidden words a refusal: what the principal may not do, and on what.
func forbidden(p access.Principal, need access.Scope, app string) string {
	if !p.Reaches(app) {
		return p.Name + " has no access to app " + app
	}
	return p.Name + " has " + string(p.Scope) + " access; this needs " + string(need)
}

func isStream(r *http.Request) bool { return r.Header.Get("Accept") == "text/event-stream" }
