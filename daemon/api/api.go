// Package api is the HTTP JSON API door (/api/v1/): token authentication,
// the same permission model as the SSH keys (daemon/access), the engine's
// named operations on *daemon.Daemon, JSON and event streams, and an
// OpenAPI document generated from the types the handlers encode.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// maxBody caps a request body; a larger one is refused with 413.
const maxBody = 64 << 10

// Engine is what the API calls: the engine's named operations.
// *daemon.Daemon implements it.
type Engine interface {
	App(ctx context.Context, name string) (store.App, error)
	Apps(ctx context.Context) ([]daemon.AppInfo, error)
	AppInfo(ctx context.Context, app string) (daemon.AppInfo, error)
	Releases(ctx context.Context, app string, n int) ([]store.Release, error)
	Builds(ctx context.Context, app string, n int) ([]store.Build, error)
	BuildLog(ctx context.Context, app string, id int64) ([]byte, error)
	Processes(ctx context.Context, app string) ([]daemon.Process, error)
	Scale(ctx context.Context, req daemon.ScaleRequest, out io.Writer) error
	Restart(ctx context.Context, app string, out io.Writer) error
	Stop(ctx context.Context, app string, out io.Writer) error
	Start(ctx context.Context, app string, out io.Writer) error
	Rollback(ctx context.Context, req daemon.RollbackRequest, out io.Writer) error
	Rebuild(ctx context.Context, app string, by gitreceive.Identity, out io.Writer) error
	Config(ctx context.Context, app string) (map[string]string, error)
	SetConfig(ctx context.Context, req daemon.SetConfigRequest, out io.Writer) error
	Domains(ctx context.Context, app string) (daemon.DomainsInfo, error)
	AddDomain(ctx context.Context, req daemon.AddDomainRequest) (daemon.AddedDomain, error)
	RemoveDomain(ctx context.Context, app, host string) (string, error)
	Events(ctx context.Context, req daemon.EventsRequest, fn func(store.Event) error) error
	Logs(ctx context.Context, req daemon.LogsRequest, w io.Writer) error
	CronJobs(ctx context.Context, app string) ([]daemon.CronJob, error)
	CronRuns(ctx context.Context, app, job string, n int) ([]store.CronRun, error)
	Storage(ctx context.Context, app string) ([]daemon.MountInfo, error)
	FollowDeploy(ctx context.Context, app string, fn func(line string) error) (daemon.DeployEnd, error)
}

var _ Engine = (*daemon.Daemon)(nil)

// Authenticator turns a bearer token into who is asking. *access.Tokens
// implements it.
type Authenticator interface {
	// Authenticate returns access.ErrNoToken, ErrMalformedToken,
	// ErrUnknownToken, ErrExpiredToken or ErrRevokedToken for a token
	// that may not act.
	Authenticate(ctx context.Context, secret string) (access.Principal, error)
}

// Auditor records refused requests (access:denied events).
// *store.Store implements it.
type Auditor interface {
	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
}

// Options configures the API. Zero limits take the defaults.
type Options struct {
	Engine Engine
	Tokens Authenticator
	Audit  Auditor
	Logger *slog.Logger

	// Requests per second and burst, per token and per client IP.
	TokenRate, IPRate   float64
	TokenBurst, IPBurst int
	// Failed sign-ins (bad tokens) from one IP: MaxAuthFailures within
	// AuthFailureWindow ban the IP for AuthFailureBan, as for SSH logins.
	// MaxAuthFailures < 0: no limit.
	MaxAuthFailures   int
	AuthFailureWindow time.Duration
	AuthFailureBan    time.Duration
	// Open event streams per token and in all.
	StreamsPerToken, MaxStreams int
	// StreamWriteTimeout drops a stream whose client has not taken an
	// event within it (a client that never reads).
	StreamWriteTimeout time.Duration
	// Heartbeat is how often an idle stream sends a comment line.
	Heartbeat time.Duration

	now func() time.Time // for tests
}

// API serves /api/v1/. It is an http.Handler.
type API struct {
	eng    Engine
	tokens Authenticator
	audit  Auditor
	log    *slog.Logger
	opts   Options

	mux      *http.ServeMux
	routes   []route
	tokenRL  *buckets
	ipRL     *buckets
	fails    *gitreceive.AuthLimiter // bad tokens per IP, counted as the SSH door counts failed logins
	streams  *streams
	patterns []string // what was registered on mux, for the OpenAPI test
	doc      func() map[string]any
}

// New returns the API on opts' engine and tokens.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("system", "api")
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.TokenRate, 10)
	def(&opts.IPRate, 20)
	defInt(&opts.TokenBurst, 40)
	defInt(&opts.IPBurst, 80)
	defInt(&opts.MaxAuthFailures, 10)
	defInt(&opts.StreamsPerToken, 8)
	defInt(&opts.MaxStreams, 256)
	if opts.AuthFailureWindow <= 0 {
		opts.AuthFailureWindow = time.Minute
	}
	if opts.AuthFailureBan <= 0 {
		opts.AuthFailureBan = time.Minute
	}
	if opts.StreamWriteTimeout <= 0 {
		opts.StreamWriteTimeout = 10 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	a := &API{
		eng: opts.Engine, tokens: opts.Tokens, audit: opts.Audit, log: opts.Logger, opts: opts,
		mux:     http.NewServeMux(),
		tokenRL: newBuckets(opts.TokenRate, opts.TokenBurst, opts.now),
		ipRL:    newBuckets(opts.IPRate, opts.IPBurst, opts.now),
		fails:   gitreceive.NewAuthLimiter(opts.MaxAuthFailures, opts.AuthFailureWindow, opts.AuthFailureBan, opts.now),
		streams: newStreams(opts.StreamsPerToken, opts.MaxStreams),
	}
	a.routes = routes()
	// Built on the first request for it: the document is about 0.3 MB of
	// heap a daemon would otherwise hold from its start.
	a.doc = sync.OnceValue(a.Document)
	for i := range a.routes {
		rt := &a.routes[i]
		pattern := rt.method + " " + Prefix + rt.path
		a.mux.Handle(pattern, a.wrap(rt))
		a.patterns = append(a.patterns, pattern)
	}
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	ip := ClientIP(r)
	if banned, until := a.fails.Blocked(ip); banned {
		d := until.Sub(a.opts.now())
		tooMany(w, d, "too many failed sign-ins from %s; try again in %ds", ip, ceilSeconds(d))
		return
	}
	if ok, d := a.ipRL.take(ip); !ok {
		tooMany(w, d, "too many requests from %s; slow down", ip)
		return
	}
	// The mux answers a path or method it has no pattern for in plain
	// text; give the JSON error instead.
	a.mux.ServeHTTP(&muxJSON{ResponseWriter: w, r: r}, r)
}

// muxJSON rewrites the mux's own 404 and 405 into JSON errors. Handlers
// set a JSON content type before their status, so theirs pass.
type muxJSON struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (m *muxJSON) WriteHeader(code int) {
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound) && m.Header().Get("Content-Type") == "text/plain; charset=utf-8" {
		m.swallow = true
		e := ErrorDetail{Code: CodeNotFound, Message: fmt.Sprintf("no API route %s %s", m.r.Method, m.r.URL.Path)}
		if code == http.StatusMethodNotAllowed {
			e = ErrorDetail{Code: CodeMethod, Message: fmt.Sprintf("method %s not allowed on %s; allowed: %s", m.r.Method, m.r.URL.Path, m.Header().Get("Allow"))}
		}
		m.Header().Set("Content-Type", "application/json")
		m.Header().Set("X-Content-Type-Options", "nosniff")
		m.ResponseWriter.WriteHeader(code)
		b, _ := json.Marshal(ErrorBody{e})
		m.ResponseWriter.Write(append(b, '\n'))
		return
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *muxJSON) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// write deadlines of event streams).
func (m *muxJSON) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// ClientIP is the address a request came from: the proxy's
// X-Forwarded-For when it came through the loopback proxy (the proxy sets
// the header itself, so a client cannot choose it), else the peer.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(last) != nil {
				return last
			}
		}
	}
	return host
}

// request is one authenticated call to a route.
type request struct {
	p   access.Principal
	app string // the {app} of the path, validated; "" for none
	ip  string
}

// wrap authenticates, rate-limits and checks the permission of a call
// to rt, then runs it.
func (a *API) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if rt.public {
			if err := rt.handle(a, w, r, &request{ip: ClientIP(r)}); err != nil {
				writeError(w, classify(err, rt.op, ""))
			}
			return
		}
		req := &request{ip: ClientIP(r), app: r.PathValue("app")}
		p, err := a.authenticate(r, req.ip)
		if err != nil {
			he := classify(err, "authentication", "")
			if he.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="xcloud"`)
			}
			writeError(w, he)
			return
		}
		req.p = p
		if ok, d := a.tokenRL.take(p.Name); !ok {
			tooMany(w, d, "too many requests with token %s; slow down", p.Name)
			return
		}
		ctx := store.WithActor(r.Context(), p.Name)
		r = r.WithContext(ctx)
		if rt.appScoped() {
			if err := store.ValidateAppName(req.app); err != nil {
				writeError(w, badRequest("%v", err))
				return
			}
		}
		if rt.scope != "" && !p.Allows(rt.scope, req.app) {
			a.denied(ctx, w, req, rt)
			return
		}
		if rt.appScoped() {
			if _, err := a.eng.App(ctx, req.app); errors.Is(err, store.ErrNotFound) {
				writeError(w, errorf(http.StatusNotFound, CodeNotFound, "app %q does not exist", req.app))
				return
			} else if err != nil {
				a.log.Error("look up app", "app", req.app, "err", err)
				writeError(w, classify(err, rt.op, req.app))
				return
			}
		}
		start := time.Now()
		err = rt.handle(a, w, r, req)
		lvl := slog.LevelDebug
		if rt.method != http.MethodGet {
			lvl = slog.LevelInfo
		}
		if err != nil {
			he := classify(err, rt.op, req.app)
			if he.status >= 500 {
				a.log.Error("api request failed", "op", rt.op, "app", req.app, "token", p.Name, "err", err)
			}
			writeError(w, he)
			lvl = slog.LevelInfo
		}
		a.log.Log(ctx, lvl, "api request", "op", rt.op, "app", req.app, "token", p.Name, "ip", req.ip,
			"duration", time.Since(start).Round(time.Millisecond), "err", err)
	})
}

// authenticate reads the bearer token. A bad token counts as a failed
// sign-in of the IP (a missing one does not: browsers and probes send
// none) and is recorded as an access:denied event.
func (a *API) authenticate(r *http.Request, ip string) (access.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return access.Principal{}, access.ErrNoToken
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return access.Principal{}, access.ErrMalformedToken
	}
	p, err := a.tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err == nil {
		return p, nil
	}
	if classify(err, "", "").status != http.StatusUnauthorized {
		return access.Principal{}, err // the store failed: not the caller's fault
	}
	if a.fails.Failed(ip) {
		a.log.Warn("too many failed API sign-ins; refusing this address", "ip", ip,
			"failures", a.opts.MaxAuthFailures, "window", a.opts.AuthFailureWindow, "ban", a.opts.AuthFailureBan)
	}
	a.record(r.Context(), store.Event{Type: store.EventAccessDenied,
		Message: fmt.Sprintf("API request from %s refused: %v", ip, err),
		Data:    map[string]any{"ip": ip, "path": r.URL.Path, "door": "api"}})
	return access.Principal{}, err
}

// denied answers 403 with the SSH door's wording and records it.
func (a *API) denied(ctx context.Context, w http.ResponseWriter, req *request, rt *route) {
	msg := fmt.Sprintf("token %s may not %s", req.p.Name, rt.op)
	if req.app != "" {
		msg += " on app " + req.app
	}
	switch {
	case !req.p.Scope.Includes(rt.scope):
		msg += fmt.Sprintf(": it needs the %s scope (the token has %s)", rt.scope, req.p.Scope)
	case req.app == "":
		msg += ": the token is limited to apps " + strings.Join(req.p.Apps, ", ")
	default:
		msg += ": the token may not access that app"
	}
	a.log.Warn("access denied", "token", req.p.Name, "op", rt.op, "app", req.app, "ip", req.ip)
	a.record(ctx, store.Event{Type: store.EventAccessDenied, App: req.app, Message: msg,
		Data: map[string]any{"token": req.p.Name, "command": rt.op, "ip": req.ip, "door": "api"}})
	writeError(w, errorf(http.StatusForbidden, CodeForbidden, "%s", msg))
}

// record stores an event even if the client has gone.
func (a *API) record(ctx context.Context, e store.Event) {
	if a.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := a.audit.AddEvent(ctx, e); err != nil {
		a.log.Error("record event", "type", e.Type, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

func writeError(w http.ResponseWriter, e *httpError) {
	writeJSON(w, e.status, ErrorBody{ErrorDetail{Code: e.code, Message: e.msg}})
}

func tooMany(w http.ResponseWriter, d time.Duration, format string, a ...any) {
	w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(d)))
	writeError(w, errorf(http.StatusTooManyRequests, CodeRateLimited, format, a...))
}

func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// decodeBody reads a JSON body into v: at most maxBody bytes, of type
// application/json, one object, no unknown fields. An empty body leaves v
// as it is when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "request body must be application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is larger than %d KiB", maxBody>>10)
	}
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return badRequest("request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body is not the expected JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("request body has more than one JSON value")
	}
	return nil
}

// jsonProblem words a decoding error in one line.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("query parameter %s=%s: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}
