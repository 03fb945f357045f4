package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

// fakeEngine answers every operation with canned results and records the
// state-changing calls, so a test can check that a refused request changed
// nothing.
type fakeEngine struct {
	apps []string

	mu      sync.Mutex
	changes []string
	events  chan store.Event // Events with Follow: further events, until ctx ends
	// emitted counts what Events handed out, failed what fn refused.
	emitted, refused int
}

func (f *fakeEngine) change(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, s)
}

func (f *fakeEngine) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeEngine) App(_ context.Context, name string) (store.App, error) {
	if slices.Contains(f.apps, name) {
		return store.App{Name: name}, nil
	}
	return store.App{}, fmt.Errorf("app %q: %w", name, store.ErrNotFound)
}
func (f *fakeEngine) Apps(context.Context) ([]daemon.AppInfo, error) {
	var out []daemon.AppInfo
	for _, a := range f.apps {
		out = append(out, daemon.AppInfo{Name: a, URL: "https://" + a + ".example.com"})
	}
	return out, nil
}
func (f *fakeEngine) AppInfo(_ context.Context, app string) (daemon.AppInfo, error) {
	return daemon.AppInfo{Name: app, URL: "https://" + app + ".example.com"}, nil
}
func (f *fakeEngine) Releases(_ context.Context, app string, n int) ([]store.Release, error) {
	return []store.Release{{ID: 2, App: app, Version: 2, Status: "active", CreatedAt: t0}, {ID: 1, App: app, Version: 1, Status: "superseded", CreatedAt: t0}}, nil
}
func (f *fakeEngine) Builds(_ context.Context, app string, n int) ([]store.Build, error) {
	return []store.Build{{ID: 1, App: app, Status: "succeeded", StartedAt: t0, FinishedAt: t0}}, nil
}
func (f *fakeEngine) BuildLog(_ context.Context, app string, id int64) ([]byte, error) {
	if id > 1 {
		return nil, fmt.Errorf("build %d of %s: %w", id, app, store.ErrNotFound)
	}
	return []byte("STEP 1/2\nok\n"), nil
}
func (f *fakeEngine) Processes(_ context.Context, app string) ([]daemon.Process, error) {
	return []daemon.Process{{Name: app + "-web-1", Type: "web", State: "running", StartedAt: &t0}}, nil
}
func (f *fakeEngine) Scale(_ context.Context, req daemon.ScaleRequest, out io.Writer) error {
	if _, ok := req.Scale["nope"]; ok {
		return &daemon.Error{Msg: "app " + req.App + " has no process type nope (it has: web)", Err: daemon.ErrNoProcessType}
	}
	f.change(fmt.Sprintf("scale %s %v actor=%s", req.App, req.Scale, store.ActorFrom(context.Background())))
	fmt.Fprintln(out, "Scaled web to 2")
	return nil
}
func (f *fakeEngine) Restart(ctx context.Context, app string, out io.Writer) error {
	f.change("restart " + app + " actor=" + store.ActorFrom(ctx))
	fmt.Fprintln(out, "Restarted")
	return nil
}
func (f *fakeEngine) Stop(_ context.Context, app string, out io.Writer) error {
	f.change("stop " + app)
	return nil
}
func (f *fakeEngine) Start(_ context.Context, app string, out io.Writer) error {
	f.change("start " + app)
	return nil
}
func (f *fakeEngine) Rollback(ctx context.Context, req daemon.RollbackRequest, out io.Writer) error {
	if req.Version == 2 {
		return &daemon.Error{Msg: "v2 is already serving", Err: daemon.ErrAlreadyServing}
	}
	f.change(fmt.Sprintf("rollback %s v%d actor=%s", req.App, req.Version, store.ActorFrom(ctx)))
	fmt.Fprintln(out, "Rolled back to v1")
	return nil
}
func (f *fakeEngine) Rebuild(_ context.Context, app string, by gitreceive.Identity, out io.Writer) error {
	f.change("rebuild " + app + " by " + by.Name)
	return nil
}
func (f *fakeEngine) Config(context.Context, string) (map[string]string, error) {
	return map[string]string{"SECRET": "hunter2", "PORT_X": "1"}, nil
}
func (f *fakeEngine) SetConfig(_ context.Context, req daemon.SetConfigRequest, out io.Writer) error {
	f.change(fmt.Sprintf("config %s set=%v unset=%v", req.App, req.Set, req.Unset))
	return nil
}
func (f *fakeEngine) Domains(_ context.Context, app string) (daemon.DomainsInfo, error) {
	return daemon.DomainsInfo{App: app, DefaultHost: app + ".example.com", Domains: []string{}}, nil
}
func (f *fakeEngine) AddDomain(_ context.Context, req daemon.AddDomainRequest) (daemon.AddedDomain, error) {
	f.change("add domain " + req.App + " " + req.Host)
	return daemon.AddedDomain{Host: req.Host, URL: "https://" + req.Host}, nil
}
func (f *fakeEngine) RemoveDomain(_ context.Context, app, host string) (string, error) {
	f.change("remove domain " + app + " " + host)
	return host, nil
}
func (f *fakeEngine) Events(ctx context.Context, req daemon.EventsRequest, fn func(store.Event) error) error {
	send := func(e store.Event) error {
		err := fn(e)
		f.mu.Lock()
		if err != nil {
			f.refused++
		} else {
			f.emitted++
		}
		f.mu.Unlock()
		return err
	}
	if err := send(store.Event{ID: 1, Type: store.EventAppCreated, App: "web", Message: "created", Actor: "root", CreatedAt: t0}); err != nil {
		return nil
	}
	if !req.Follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-f.events:
			if send(e) != nil {
				return nil
			}
		}
	}
}
func (f *fakeEngine) Logs(ctx context.Context, req daemon.LogsRequest, w io.Writer) error {
	fmt.Fprintf(w, "2026-01-02T03:04:05Z web[web-1]: hello\n")
	if req.Follow {
		fmt.Fprintf(w, "2026-01-02T03:04:06Z web[web-1]: again\n")
		<-ctx.Done()
	}
	return nil
}
func (f *fakeEngine) CronJobs(context.Context, string) ([]daemon.CronJob, error) {
	return []daemon.CronJob{{ID: "nightly", Schedule: "@daily", Command: "true", Next: t0}}, nil
}
func (f *fakeEngine) Storage(_ context.Context, app string) ([]daemon.MountInfo, error) {
	return []daemon.MountInfo{{Mount: store.Mount{App: app, Volume: "data", Path: "/app/data", CreatedAt: t0}, Size: 4096}}, nil
}
func (f *fakeEngine) CronRuns(_ context.Context, app, job string, n int) ([]store.CronRun, error) {
	return []store.CronRun{{ID: 1, App: app, Job: "nightly", Status: "succeeded", StartedAt: t0, FinishedAt: t0}}, nil
}
func (f *fakeEngine) FollowDeploy(_ context.Context, app string, fn func(string) error) (daemon.DeployEnd, error) {
	for _, l := range []string{"-----> Building " + app, "-----> Deployed"} {
		if err := fn(l); err != nil {
			return daemon.DeployEnd{}, err
		}
	}
	return daemon.DeployEnd{}, nil
}

type fixture struct {
	api    *API
	eng    *fakeEngine
	st     *store.Store
	tokens *access.Tokens
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	st := storetest.WithApps(t, "web", "api")
	eng := &fakeEngine{apps: []string{"web", "api"}, events: make(chan store.Event)}
	tokens := access.NewTokens(st)
	opts.Engine, opts.Tokens, opts.Audit = eng, tokens, st
	opts.Logger = slog.New(slog.DiscardHandler)
	if opts.IPRate == 0 {
		opts.IPRate, opts.TokenRate = 1e6, 1e6 // out of the way unless a test is about them
	}
	return &fixture{api: New(opts), eng: eng, st: st, tokens: tokens}
}

func (fx *fixture) token(t *testing.T, name string, scope access.Scope, apps ...string) string {
	t.Helper()
	secret, _, err := fx.tokens.Create(context.Background(), access.NewToken{Name: name, Scope: scope, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// do sends a request to the API as if through the loopback proxy.
func (fx *fixture) do(method, target, token, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-For", "192.0.2.10")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	fx.api.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || strings.Contains(e.Error.Message, "\n") {
		t.Fatalf("not a one-line JSON error (%d): %q", w.Code, w.Body.String())
	}
	return e.Error
}

// sample is a valid request to each route for app: its path and body.
func sample(rt route, app string) (string, string) {
	p := strings.NewReplacer("{app}", app, "{id}", "1", "{host}", "www.example.com").Replace(Prefix + rt.path)
	body := map[string]string{
		"scale": `{"scale": {"web": 2}}`, "rollback": `{"version": 1}`,
		"change config": `{"set": {"A": "1"}}`, "add domain": `{"host": "new.example.com"}`,
	}[rt.op]
	return p, body
}

// need is the scope each operation needs: written out here, not taken
// from the route table, so the table is what is being checked.
var need = map[string]string{
	"openapi": "public", "list apps": "any",
	"show app": "read", "list releases": "read", "list builds": "read", "show build log": "read",
	"follow deploy": "read", "list processes": "read", "show config": "read", "list domains": "read",
	"list app events": "read", "list events": "read (every app)", "show logs": "read", "list cron jobs": "read", "list cron runs": "read", "list storage": "read",
	"scale": "deploy", "restart": "deploy", "stop": "deploy", "start": "deploy", "rollback": "deploy", "rebuild": "deploy",
	"change config": "deploy", "add domain": "deploy", "remove domain": "deploy",
}

// TestScopes: every endpoint × every kind of token: 200 when the scope
// and apps allow it, else 403 with nothing changed and an access:denied
// event.
func TestScopes(t *testing.T) {
	fx := newFixture(t, Options{})
	type tok struct {
		name  string
		scope access.Scope
		apps  []string
	}
	toks := []tok{
		{"reader", access.Read, nil}, {"deployer", access.Deploy, nil}, {"root", access.Admin, nil},
		{"web-reader", access.Read, []string{"web"}}, {"web-deployer", access.Deploy, []string{"web"}},
	}
	secrets := map[string]string{}
	for _, k := range toks {
		secrets[k.name] = fx.token(t, k.name, k.scope, k.apps...)
	}
	rank := map[access.Scope]int{access.Read: 1, access.Deploy: 2, access.Admin: 3}
	for _, rt := range fx.api.routes {
		n, ok := need[rt.op]
		if !ok {
			t.Errorf("route %s %s (%s) is missing from the test's table", rt.method, rt.path, rt.op)
			continue
		}
		for _, k := range toks {
			for _, app := range []string{"web", "api"} {
				if !rt.appScoped() && app == "api" {
					continue
				}
				allowed := true
				switch n {
				case "read", "deploy":
					allowed = rank[k.scope] >= rank[access.Scope(n)] && (len(k.apps) == 0 || k.scope == access.Admin || slices.Contains(k.apps, app))
				case "read (every app)":
					allowed = len(k.apps) == 0
				}
				path, body := sample(rt, app)
				before := len(fx.eng.calls())
				deniedBefore := countEvents(t, fx.st, store.EventAccessDenied)
				w := fx.do(rt.method, path, secrets[k.name], body)
				switch {
				case allowed && w.Code != http.StatusOK:
					t.Errorf("%s %s with %s: %d %s, want 200", rt.method, path, k.name, w.Code, w.Body)
				case !allowed && w.Code != http.StatusForbidden:
					t.Errorf("%s %s with %s: %d %s, want 403", rt.method, path, k.name, w.Code, w.Body)
				case !allowed:
					if e := errorOf(t, w); e.Code != CodeForbidden || !strings.HasPrefix(e.Message, "token "+k.name+" may not "+rt.op) {
						t.Errorf("%s %s with %s: error %+v", rt.method, path, k.name, e)
					}
					if len(fx.eng.calls()) != before {
						t.Errorf("%s %s with %s: refused but changed %v", rt.method, path, k.name, fx.eng.calls()[before:])
					}
					if countEvents(t, fx.st, store.EventAccessDenied) != deniedBefore+1 {
						t.Errorf("%s %s with %s: no access:denied event", rt.method, path, k.name)
					}
				}
			}
		}
	}
}

func countEvents(t *testing.T, st *store.Store, typ string) int {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), "", 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestResults(t *testing.T) {
	fx := newFixture(t, Options{})
	reader := fx.token(t, "reader", access.Read)
	webReader := fx.token(t, "web-reader", access.Read, "web")
	deployer := fx.token(t, "ci", access.Deploy, "web")

	// A token limited to apps lists only those.
	var apps []daemon.AppInfo
	w := fx.do("GET", "/api/v1/apps", webReader, "")
	if err := json.Unmarshal(w.Body.Bytes(), &apps); err != nil || len(apps) != 1 || apps[0].Name != "web" {
		t.Errorf("apps for web-reader: %d %s", w.Code, w.Body)
	}
	// Config values only for deploy scopes.
	var cv ConfigVars
	json.Unmarshal(fx.do("GET", "/api/v1/apps/web/config", reader, "").Body.Bytes(), &cv)
	if !cv.Masked || cv.Vars["SECRET"] != mask || len(cv.Vars) != 2 {
		t.Errorf("config for a reader: %+v", cv)
	}
	json.Unmarshal(fx.do("GET", "/api/v1/apps/web/config", deployer, "").Body.Bytes(), &cv)
	if cv.Masked || cv.Vars["SECRET"] != "hunter2" {
		t.Errorf("config for a deployer: %+v", cv)
	}
	// State changes carry the token's name as the actor; their output
	// comes back.
	var out Output
	w = fx.do("POST", "/api/v1/apps/web/rollback", deployer, "")
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 || !slices.Equal(out.Output, []string{"Rolled back to v1"}) {
		t.Errorf("rollback: %d %s", w.Code, w.Body)
	}
	if c := fx.eng.calls(); len(c) != 1 || c[0] != "rollback web v0 actor=ci" {
		t.Errorf("engine calls %v", c)
	}
	// The engine's refusals keep their words and become 4xx.
	w = fx.do("POST", "/api/v1/apps/web/rollback", deployer, `{"version": 2}`)
	if e := errorOf(t, w); w.Code != http.StatusConflict || e.Message != "v2 is already serving" {
		t.Errorf("rollback to the serving release: %d %+v", w.Code, e)
	}
	w = fx.do("POST", "/api/v1/apps/web/scale", deployer, `{"scale": {"nope": 1}}`)
	if e := errorOf(t, w); w.Code != http.StatusBadRequest || !strings.Contains(e.Message, "no process type nope") {
		t.Errorf("scale an unknown type: %d %+v", w.Code, e)
	}
	w = fx.do("GET", "/api/v1/apps/web/builds/7/log", reader, "")
	if e := errorOf(t, w); w.Code != http.StatusNotFound || e.Code != CodeNotFound {
		t.Errorf("unknown build: %d %+v", w.Code, e)
	}
	// Events and logs as JSON.
	var evs []store.Event
	if err := json.Unmarshal(fx.do("GET", "/api/v1/events", reader, "").Body.Bytes(), &evs); err != nil || len(evs) != 1 || evs[0].Type != store.EventAppCreated {
		t.Errorf("events: %v %+v", err, evs)
	}
	var ll LogLines
	if err := json.Unmarshal(fx.do("GET", "/api/v1/apps/web/logs", reader, "").Body.Bytes(), &ll); err != nil || len(ll.Lines) != 1 || !strings.HasSuffix(ll.Lines[0], "hello") {
		t.Errorf("logs: %v %+v", err, ll)
	}
}

// TestBadInput: each mistake is one clear 4xx line, and nothing changes.
func TestBadInput(t *testing.T) {
	fx := newFixture(t, Options{MaxAuthFailures: -1})
	root := fx.token(t, "root", access.Admin)
	expired, _, err := fx.tokens.Create(context.Background(), access.NewToken{Name: "old", Scope: access.Admin, TTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	revoked := fx.token(t, "gone", access.Admin)
	if err := fx.tokens.Revoke(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	big := `{"set": {"A": "` + strings.Repeat("x", 70<<10) + `"}}`
	for _, tc := range []struct {
		desc, method, path, token, body string
		hdr                             []string
		status                          int
		code, msg                       string
	}{
		{"no token", "GET", "/api/v1/apps", "", "", nil, 401, CodeUnauthorized, "missing API token"},
		{"not bearer", "GET", "/api/v1/apps", "", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, CodeUnauthorized, "malformed API token"},
		{"malformed", "GET", "/api/v1/apps", "xct_nope", "", nil, 401, CodeUnauthorized, "malformed API token"},
		{"unknown", "GET", "/api/v1/apps", "xct_" + strings.Repeat("A", 43), "", nil, 401, CodeUnauthorized, "unknown API token"},
		{"expired", "GET", "/api/v1/apps", expired, "", nil, 401, CodeUnauthorized, "API token has expired"},
		{"revoked", "GET", "/api/v1/apps", revoked, "", nil, 401, CodeUnauthorized, "API token was revoked"},
		{"revoked on a change", "POST", "/api/v1/apps/web/restart", revoked, "", nil, 401, CodeUnauthorized, "API token was revoked"},
		{"bad app name", "GET", "/api/v1/apps/Web", root, "", nil, 400, CodeBadRequest, "invalid app name"},
		{"encoded traversal", "GET", "/api/v1/apps/..%2F..%2Fetc/releases", root, "", nil, 400, CodeBadRequest, "invalid app name"},
		{"dots", "POST", "/api/v1/apps/%2E%2E/restart", root, "", nil, 400, CodeBadRequest, "invalid app name"},
		{"unknown app", "POST", "/api/v1/apps/nope/restart", root, "", nil, 404, CodeNotFound, `app "nope" does not exist`},
		{"unknown route", "GET", "/api/v1/apps/web/secrets", root, "", nil, 404, CodeNotFound, "no API route"},
		{"wrong method", "DELETE", "/api/v1/apps/web/releases", root, "", nil, 405, CodeMethod, "method DELETE not allowed"},
		{"not JSON", "PATCH", "/api/v1/apps/web/config", root, "A=1", nil, 400, CodeBadRequest, "invalid JSON"},
		{"not JSON type", "PATCH", "/api/v1/apps/web/config", root, `{"set": {}}`, []string{"Content-Type", "text/plain"}, 415, CodeUnsupportedMedia, "must be application/json"},
		{"unknown field", "PATCH", "/api/v1/apps/web/config", root, `{"set": {"A": "1"}, "restart": false}`, nil, 400, CodeBadRequest, `unknown field "restart"`},
		{"wrong type", "POST", "/api/v1/apps/web/scale", root, `{"scale": {"web": "two"}}`, nil, 400, CodeBadRequest, "must be int"},
		{"two values", "POST", "/api/v1/apps/web/scale", root, `{"scale": {"web": 1}} {}`, nil, 400, CodeBadRequest, "more than one JSON value"},
		{"empty body", "POST", "/api/v1/apps/web/scale", root, "", nil, 400, CodeBadRequest, "request body is empty"},
		{"too large", "PATCH", "/api/v1/apps/web/config", root, big, nil, 413, CodeTooLarge, "larger than 64 KiB"},
		{"empty patch", "PATCH", "/api/v1/apps/web/config", root, `{}`, nil, 400, CodeBadRequest, `give "set" or "unset"`},
		{"negative scale", "POST", "/api/v1/apps/web/scale", root, `{"scale": {"web": -1}}`, nil, 400, CodeBadRequest, "want a count from 0 to 32"},
		{"body on restart", "POST", "/api/v1/apps/web/restart", root, `{"force": true}`, nil, 400, CodeBadRequest, `unknown field "force"`},
		{"bad n", "GET", "/api/v1/apps/web/releases?n=0", root, "", nil, 400, CodeBadRequest, "query parameter n=0"},
		{"bad build id", "GET", "/api/v1/apps/web/builds/x/log", root, "", nil, 400, CodeBadRequest, `build id "x"`},
	} {
		w := fx.do(tc.method, tc.path, tc.token, tc.body, tc.hdr...)
		if w.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.desc, w.Code, w.Body, tc.status)
			continue
		}
		if e := errorOf(t, w); e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: error %+v, want %s containing %q", tc.desc, e, tc.code, tc.msg)
		}
		if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.desc)
		}
	}
	if c := fx.eng.calls(); len(c) != 0 {
		t.Errorf("bad requests changed things: %v", c)
	}
}

// TestRateLimits: per IP and per token, 429 with Retry-After; failed
// sign-ins ban the IP like failed SSH logins, and are recorded.
func TestRateLimits(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	fx := newFixture(t, Options{IPRate: 1, IPBurst: 3, TokenRate: 1e6, TokenBurst: 1e6, MaxAuthFailures: 3, AuthFailureWindow: time.Minute, AuthFailureBan: 2 * time.Minute, now: clock})
	root := fx.token(t, "root", access.Admin)
	for i := range 3 {
		if w := fx.do("GET", "/api/v1/apps", root, ""); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := fx.do("GET", "/api/v1/apps", root, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("4th request in a second: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	errorOf(t, w)
	// Another client is not limited by the first one's requests.
	if w := fx.do("GET", "/api/v1/apps", root, "", "X-Forwarded-For", "198.51.100.7"); w.Code != 200 {
		t.Errorf("another IP: %d", w.Code)
	}
	advance(3 * time.Second)

	// Three bad tokens from one IP ban it, for a valid token too.
	denied := countEvents(t, fx.st, store.EventAccessDenied)
	for range 3 {
		if w := fx.do("GET", "/api/v1/apps", "xct_"+strings.Repeat("B", 43), ""); w.Code != 401 {
			t.Fatalf("bad token: %d", w.Code)
		}
		advance(time.Second)
	}
	if n := countEvents(t, fx.st, store.EventAccessDenied); n != denied+3 {
		t.Errorf("%d access:denied events for 3 failed sign-ins", n-denied)
	}
	w = fx.do("GET", "/api/v1/apps", root, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d %s", w.Code, w.Body)
	}
	if e := errorOf(t, w); !strings.Contains(e.Message, "too many failed sign-ins from 192.0.2.10") {
		t.Errorf("ban message %q", e.Message)
	}
	advance(2 * time.Minute)
	if w := fx.do("GET", "/api/v1/apps", root, ""); w.Code != 200 {
		t.Errorf("after the ban: %d", w.Code)
	}

	// Per token.
	fx2 := newFixture(t, Options{IPRate: 1e6, IPBurst: 1e6, TokenRate: 1, TokenBurst: 2, now: clock})
	tok := fx2.token(t, "busy", access.Read)
	fx2.do("GET", "/api/v1/apps", tok, "")
	fx2.do("GET", "/api/v1/apps", tok, "", "X-Forwarded-For", "198.51.100.8")
	if w := fx2.do("GET", "/api/v1/apps", tok, "", "X-Forwarded-For", "198.51.100.9"); w.Code != http.StatusTooManyRequests {
		t.Errorf("3rd request of a token with burst 2 from a 3rd IP: %d", w.Code)
	}
}

// TestClientIP: X-Forwarded-For counts only from the loopback proxy.
func TestClientIP(t *testing.T) {
	for _, tc := range []struct{ remote, xff, want string }{
		{"127.0.0.1:5000", "192.0.2.1", "192.0.2.1"},
		{"127.0.0.1:5000", "10.0.0.1, 192.0.2.1", "192.0.2.1"},
		{"[::1]:5000", "2001:db8::1", "2001:db8::1"},
		{"127.0.0.1:5000", "", "127.0.0.1"},
		{"127.0.0.1:5000", "junk", "127.0.0.1"},
		{"203.0.113.5:5000", "192.0.2.1", "203.0.113.5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientIP(r); got != tc.want {
			t.Errorf("ClientIP(%s, XFF %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// TestStreams: events and logs follow as Server-Sent Events, and a client
// that never reads is dropped without the daemon holding on to its events.
func TestStreams(t *testing.T) {
	fx := newFixture(t, Options{StreamWriteTimeout: 200 * time.Millisecond, StreamsPerToken: 2})
	srv := httptest.NewServer(fx.api)
	defer srv.Close()
	reader := fx.token(t, "reader", access.Read)
	get := func(ctx context.Context, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	resp := get(ctx, "/api/v1/apps/web/events?follow=1")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	readEvent := func() (name, data string) {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			case line == "" && name != "":
				return name, data
			}
		}
	}
	if name, data := readEvent(); name != "event" || !strings.Contains(data, `"type":"app:created"`) {
		t.Errorf("first event %s %s", name, data)
	}
	fx.eng.events <- store.Event{ID: 2, Type: store.EventDeploySucceeded, App: "web", CreatedAt: t0}
	if name, data := readEvent(); name != "event" || !strings.Contains(data, `"type":"deploy:succeeded"`) {
		t.Errorf("followed event %s %s", name, data)
	}

	// A third stream of the same token is refused while two are open.
	resp2 := get(ctx, "/api/v1/apps/web/logs?follow=1")
	if name, data := func() (string, string) { rd = bufio.NewReader(resp2.Body); return readEvent() }(); name != "log" || !strings.HasSuffix(data, "hello") {
		t.Errorf("log stream: %s %s", name, data)
	}
	if r3 := get(ctx, "/api/v1/apps/web/logs?follow=1"); r3.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream: %d", r3.StatusCode)
		r3.Body.Close()
	}
	resp2.Body.Close()
	resp.Body.Close()

	// The deploy stream ends with the deploy. The two streams just closed
	// free their slots when their handlers see the client gone, not at
	// once (under -race it took long enough to refuse this one): wait.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp = get(ctx, "/api/v1/apps/web/deploys/live")
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "event: line\ndata: -----> Building web\n") || !strings.Contains(string(b), "event: end\ndata: {\"failed\":false}\n") {
		t.Errorf("deploy stream:\n%s", b)
	}

}

// TestStreamClientNeverReads: a client that never reads is dropped: the
// stream's writes time out, the engine's callback is refused and the
// follower ends, so nothing piles up for it.
func TestStreamClientNeverReads(t *testing.T) {
	fx := newFixture(t, Options{StreamWriteTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(fx.api)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+fx.token(t, "reader", access.Read))
	req.Header.Set("Accept", "text/event-stream")
	stalled, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close()
	big := strings.Repeat("x", 32<<10)
	deadline := time.Now().Add(15 * time.Second)
	sent := 0
	for {
		fx.eng.mu.Lock()
		refused := fx.eng.refused
		fx.eng.mu.Unlock()
		if refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client that never reads was not dropped after %d events", sent)
		}
		select {
		case fx.eng.events <- store.Event{ID: int64(100 + sent), Type: store.EventProcessCrashed, App: "web", Message: big}:
			sent++
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("a client that never reads was dropped after %d events of %d KiB", sent, len(big)>>10)
	// The follower is gone: nobody takes further events.
	select {
	case fx.eng.events <- store.Event{ID: 1 << 40}:
		t.Error("an event was taken after the stream was dropped")
	case <-time.After(300 * time.Millisecond):
	}
}
