package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

// idleRuntime is a container runtime with nothing running: enough for the
// engine's read operations and for config changes of an app with no
// release. Anything else panics on the nil embedded Runtime.
type idleRuntime struct{ daemon.Runtime }

func (idleRuntime) List(context.Context, map[string]string) ([]podman.Container, error) {
	return nil, nil
}

func (idleRuntime) ListExited(context.Context, map[string]string) ([]podman.Container, error) {
	return nil, nil
}

// clock is a settable time for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a dashboard on a real engine and store: apps web (two
// releases, v2 serving) and api (none), and tokens of each scope.
type fixture struct {
	h      *Handler
	eng    *daemon.Daemon
	st     *store.Store
	tokens *access.Tokens
	clock  *clock
	secret map[string]string // token name → secret
}

func newFixture(t *testing.T, secure bool) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.WithApps(t, "web", "api")
	box, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	eng := daemon.New(daemon.Options{Store: st, Runtime: idleRuntime{}, BaseDomain: "xcloud.test", Secrets: box,
		LogsDir: t.TempDir(), LogsMaxBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	for _, img := range []string{"img1", "img2"} {
		rel, err := st.CreateRelease(ctx, store.Release{App: "web", Image: img, CommitSHA: "abcdef1234" + img, Description: "deploy " + img,
			Spec: []byte(`{"processes":{"web":""}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ActivateRelease(ctx, "web", rel.Version, nil); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{eng: eng, st: st, tokens: access.NewTokens(st), clock: &clock{t: time.Now()}, secret: map[string]string{}}
	for _, tk := range []access.NewToken{
		{Name: "reader", Scope: access.Read},
		{Name: "deployer", Scope: access.Deploy},
		{Name: "web-deployer", Scope: access.Deploy, Apps: []string{"web"}},
		{Name: "root", Scope: access.Admin},
	} {
		s, _, err := f.tokens.Create(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		f.secret[tk.Name] = s
	}
	f.h = New(Options{Engine: eng, Tokens: f.tokens, Secure: secure, Logger: slog.New(slog.DiscardHandler), Now: f.clock.now})
	return f
}

// browser is a client of the handler with a cookie jar, sending what a
// browser sends for same-origin requests.
type browser struct {
	t    *testing.T
	h    http.Handler
	host string
	jar  map[string]*http.Cookie
}

func (f *fixture) browser(t *testing.T) *browser {
	return &browser{t: t, h: f.h, host: "xcloud.xcloud.test", jar: map[string]*http.Cookie{}}
}

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	b.t.Helper()
	req.Host = b.host
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html")
	}
	for _, c := range b.jar {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.jar, c.Name)
		} else {
			b.jar[c.Name] = c
		}
	}
	return rec
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	b.t.Helper()
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a same-origin form; hdr overrides headers (a cross-site one).
func (b *browser) post(path string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	b.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "https://"+b.host)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return b.do(req)
}

// signIn signs in with the named token and returns the session's CSRF
// token, read from the page as a browser would.
func (b *browser) signIn(f *fixture, token string) string {
	b.t.Helper()
	rec := b.post("/signin", url.Values{"token": {f.secret[token]}}, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		b.t.Fatalf("sign-in as %s: %d %s", token, rec.Code, rec.Body)
	}
	return b.csrf()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf() string {
	b.t.Helper()
	rec := b.get("/")
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		b.t.Fatalf("apps page: %d, no CSRF field:\n%s", rec.Code, rec.Body)
	}
	return m[1]
}

func TestSignInAndOut(t *testing.T) {
	for _, secure := range []bool{false, true} {
		f := newFixture(t, secure)
		b := f.browser(t)
		if rec := b.get("/"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin" {
			t.Fatalf("signed out, GET /: %d %q", rec.Code, rec.Header().Get("Location"))
		}
		page := b.get("/signin")
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `<label for="token">API token</label>`) {
			t.Fatalf("sign-in page: %d\n%s", page.Code, page.Body)
		}

		for secret, want := range map[string]string{
			"":                               "missing API token",
			"hunter2":                        "malformed API token",
			"xct_" + strings.Repeat("A", 43): "unknown API token",
		} {
			rec := b.post("/signin", url.Values{"token": {secret}}, nil)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "sign-in failed: "+want) || len(rec.Result().Cookies()) != 0 {
				t.Errorf("sign-in with %q: %d, cookies %v, want 401 naming %q\n%s", secret, rec.Code, rec.Result().Cookies(), want, rec.Body)
			}
		}

		rec := b.post("/signin", url.Values{"token": {f.secret["root"]}}, nil)
		cookies := rec.Result().Cookies()
		if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
			t.Fatalf("sign-in: %d, cookies %v", rec.Code, cookies)
		}
		c := cookies[0]
		wantName := "xcloud_session"
		if secure {
			wantName = "__Host-xcloud_session"
		}
		if c.Name != wantName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != secure || c.Domain != "" || len(c.Value) < 43 {
			t.Errorf("session cookie %+v: want %s, HttpOnly, SameSite=Strict, Path=/, Secure=%v, a long random value", c, wantName, secure)
		}
		if strings.Contains(c.Value, f.secret["root"]) {
			t.Errorf("the cookie carries the token")
		}
		// Signing in again replaces the session.
		first := b.jar[wantName].Value
		if rec := b.post("/signin", url.Values{"token": {f.secret["root"]}}, nil); rec.Code != http.StatusSeeOther || b.jar[wantName].Value == first || f.h.sessions.len() != 1 {
			t.Errorf("second sign-in: %d, %d sessions, same id %v", rec.Code, f.h.sessions.len(), b.jar[wantName].Value == first)
		}
		home := b.get("/")
		for _, want := range []string{`<a href="/apps/web">web</a>`, `<a href="/apps/api">api</a>`, "Signed in as <strong>root</strong> (admin)", `<main id="main"`} {
			if !strings.Contains(home.Body.String(), want) {
				t.Errorf("apps page lacks %q:\n%s", want, home.Body)
			}
		}
		csrf := b.csrf()
		old := b.jar[wantName]
		// Sign-out needs the CSRF token like any other change.
		if rec := b.post("/signout", url.Values{}, nil); rec.Code != http.StatusForbidden || f.h.sessions.len() != 1 {
			t.Errorf("sign-out without CSRF token: %d, %d sessions", rec.Code, f.h.sessions.len())
		}
		rec = b.post("/signout", url.Values{"csrf": {csrf}}, nil)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin" || f.h.sessions.len() != 0 {
			t.Fatalf("sign-out: %d %q, %d sessions left", rec.Code, rec.Header().Get("Location"), f.h.sessions.len())
		}
		if _, ok := b.jar[wantName]; ok {
			t.Errorf("sign-out left the cookie")
		}
		// The old cookie is dead server-side too.
		b.jar[wantName] = old
		if rec := b.get("/"); rec.Code != http.StatusSeeOther {
			t.Errorf("GET / with a signed-out session: %d", rec.Code)
		}
	}
}

func TestSessionExpiresAndFollowsItsToken(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(f, "root")
	f.clock.add(defaultIdle + time.Minute)
	if rec := b.get("/"); rec.Code != http.StatusSeeOther {
		t.Errorf("an idle session still served: %d", rec.Code)
	}

	csrf := b.signIn(f, "deployer")
	if err := f.tokens.Revoke(context.Background(), "deployer"); err != nil {
		t.Fatal(err)
	}
	// A change checks the token at once: refused, nothing changed.
	rec := b.post("/apps/api/config", url.Values{"csrf": {csrf}, "name": {"A"}, "value": {"1"}}, nil)
	if rec.Code != http.StatusUnauthorized || f.h.sessions.len() != 0 {
		t.Errorf("change with a revoked token: %d, %d sessions", rec.Code, f.h.sessions.len())
	}
	if vars, _ := f.eng.Config(context.Background(), "api"); len(vars) != 0 {
		t.Errorf("a revoked token changed config: %v", vars)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, true)
	b := f.browser(t)
	csrf := b.signIn(f, "deployer")
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "name": {"GREETING"}, "value": {"hi"}}
	}
	for name, c := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":                        {url.Values{"name": {"GREETING"}, "value": {"hi"}}, nil},
		"wrong token":                     {form(csrf[:len(csrf)-1] + "x"), nil},
		"cross-site with the token":       {form(csrf), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		"other origin, no fetch metadata": {form(csrf), map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
	} {
		rec := b.post("/apps/api/config", c.form, c.hdr)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403\n%s", name, rec.Code, rec.Body)
		}
		if body := rec.Body.String(); !strings.Contains(body, "CSRF") && !strings.Contains(body, "cross-site") {
			t.Errorf("%s: the refusal does not say why:\n%s", name, body)
		}
	}
	if vars, _ := f.eng.Config(context.Background(), "api"); len(vars) != 0 {
		t.Fatalf("a refused POST changed config: %v", vars)
	}
	// A cross-site sign-in (login CSRF) makes no session.
	before := f.h.sessions.len()
	rec := b.post("/signin", url.Values{"token": {f.secret["root"]}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if rec.Code != http.StatusForbidden || f.h.sessions.len() != before {
		t.Errorf("cross-site sign-in: %d, sessions %d → %d", rec.Code, before, f.h.sessions.len())
	}

	// The same form from the page goes through, as the token's name.
	mark, err := f.st.ListEvents(context.Background(), "api", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	rec = b.post("/apps/api/config", form(csrf), nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/apps/api" {
		t.Fatalf("config set: %d %s", rec.Code, rec.Body)
	}
	if vars, _ := f.eng.Config(context.Background(), "api"); vars["GREETING"] != "hi" {
		t.Errorf("config after the set: %v", vars)
	}
	page := b.get("/apps/api").Body.String()
	if !strings.Contains(page, `role="status"`) || !strings.Contains(page, "GREETING") {
		t.Errorf("the app page does not show the outcome:\n%s", page)
	}
	evs, err := f.st.ListEvents(context.Background(), "api", mark[len(mark)-1].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Errorf("the config change recorded no event")
	}
	for _, e := range evs {
		if e.Actor != "deployer" {
			t.Errorf("event %s %q recorded actor %q, want the token's name", e.Type, e.Message, e.Actor)
		}
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if err := f.eng.SetConfig(ctx, daemon.SetConfigRequest{App: "api", Set: map[string]string{"SECRET_KEY": "s3cr3t-value"}}, io.Discard); err != nil {
		t.Fatal(err)
	}
	controls := []string{`action="/apps/web/restart"`, `action="/apps/web/scale"`, `action="/apps/web/rollback"`}

	// read: sees both apps, no buttons, config values masked.
	rb := f.browser(t)
	csrf := rb.signIn(f, "reader")
	page := rb.get("/apps/web").Body.String()
	for _, c := range controls {
		if strings.Contains(page, c) {
			t.Errorf("read scope sees the form %s", c)
		}
	}
	if !strings.Contains(page, "v2") || !strings.Contains(page, "deploy img1") {
		t.Errorf("read scope does not see the releases:\n%s", page)
	}
	api := rb.get("/apps/api").Body.String()
	if strings.Contains(api, "s3cr3t-value") || !strings.Contains(api, "SECRET_KEY") || !strings.Contains(api, masked) {
		t.Errorf("read scope: config value not masked:\n%s", api)
	}
	if strings.Contains(api, `action="/apps/api/config"`) || strings.Contains(api, `action="/apps/api/config/unset"`) {
		t.Errorf("read scope sees the config forms")
	}
	// ... and the server refuses what the page hides: nothing changes.
	for path, form := range map[string]url.Values{
		"/apps/web/restart":      {},
		"/apps/web/rollback":     {"version": {"1"}},
		"/apps/web/scale":        {"scale.web": {"2"}},
		"/apps/api/config":       {"name": {"SECRET_KEY"}, "value": {"changed"}},
		"/apps/api/config/unset": {"name": {"SECRET_KEY"}},
	} {
		form.Set("csrf", csrf)
		rec := rb.post(path, form, nil)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "reader has read access; this needs deploy") {
			t.Errorf("read scope POST %s: %d\n%s", path, rec.Code, rec.Body)
		}
	}
	if vars, _ := f.eng.Config(ctx, "api"); vars["SECRET_KEY"] != "s3cr3t-value" || len(vars) != 1 {
		t.Errorf("config after refused changes: %v", vars)
	}
	if rels, _ := f.st.ListReleases(ctx, "web", 10); len(rels) != 2 || rels[0].Version != 2 || rels[0].Status != store.ReleaseActive {
		t.Errorf("releases after a refused rollback: %+v", rels)
	}
	if form, _ := f.st.Formation(ctx, "web"); len(form) != 0 {
		t.Errorf("formation after a refused scale: %v", form)
	}

	// deploy on web only: api is neither listed nor reachable.
	wb := f.browser(t)
	csrf = wb.signIn(f, "web-deployer")
	home := wb.get("/").Body.String()
	if !strings.Contains(home, `href="/apps/web"`) || strings.Contains(home, `href="/apps/api"`) {
		t.Errorf("web-deployer's app list:\n%s", home)
	}
	if rec := wb.get("/apps/api"); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "web-deployer has no access to app api") {
		t.Errorf("web-deployer GET /apps/api: %d\n%s", rec.Code, rec.Body)
	}
	if rec := wb.post("/apps/api/config", url.Values{"csrf": {csrf}, "name": {"X"}, "value": {"1"}}, nil); rec.Code != http.StatusForbidden {
		t.Errorf("web-deployer POST to api: %d", rec.Code)
	}
	page = wb.get("/apps/web").Body.String()
	for _, c := range controls {
		if !strings.Contains(page, c) {
			t.Errorf("deploy scope lacks the form %s", c)
		}
	}
	// Only v1 (another image, served once) has a rollback button.
	if n := strings.Count(page, `name="version" value=`); n != 1 || !strings.Contains(page, `name="version" value="1"`) {
		t.Errorf("%d rollback buttons, want one for v1", n)
	}

	// deploy and admin read values.
	ab := f.browser(t)
	ab.signIn(f, "deployer")
	if api := ab.get("/apps/api").Body.String(); !strings.Contains(api, "s3cr3t-value") || !strings.Contains(api, `action="/apps/api/config/unset"`) {
		t.Errorf("deploy scope does not see the config value or its unset button")
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	csrf := b.signIn(f, "root")
	for _, path := range []string{"/apps/..%2f..%2fetc%2fpasswd", "/apps/Web", "/apps/nope", "/apps/web/builds/abc", "/apps/web/builds/-1", "/apps/web/builds/99", "/nowhere"} {
		rec := b.get(path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/apps/web/scale", url.Values{"scale.web": {"lots"}}, `scale: "web=lots": want TYPE=N with N from 0 to 32`},
		{"/apps/web/scale", url.Values{"more": {"worker=99"}}, `"worker=99": want TYPE=N`},
		{"/apps/web/scale", url.Values{}, "scale: no process type given"},
		{"/apps/web/rollback", url.Values{"version": {"v0"}}, `rollback: "v0" is not a release version`},
		{"/apps/api/config", url.Values{"name": {"1BAD"}, "value": {"x"}}, `config set: invalid config var name "1BAD"`},
		{"/apps/api/config", url.Values{"name": {"PORT"}, "value": {"1"}}, "PORT is set by xcloud"},
		{"/apps/api/restart", url.Values{}, "restart failed: app has no release yet"},
	} {
		c.form.Set("csrf", csrf)
		rec := b.post(c.path, c.form, nil)
		app := strings.Split(c.path, "/")[2]
		if rec.Code != http.StatusSeeOther {
			t.Errorf("POST %s %v: %d", c.path, c.form, rec.Code)
			continue
		}
		page := b.get("/apps/" + app).Body.String()
		if !strings.Contains(page, `role="alert"`) || !strings.Contains(page, htmlEscaped(c.want)) {
			t.Errorf("POST %s %v: the page does not say %q", c.path, c.form, c.want)
		}
	}
	if vars, _ := f.eng.Config(context.Background(), "api"); len(vars) != 0 {
		t.Errorf("bad input changed config: %v", vars)
	}
	// An oversized form is refused whole.
	big := url.Values{"csrf": {csrf}, "name": {"BIG"}, "value": {strings.Repeat("x", maxForm)}}
	if rec := b.post("/apps/api/config", big, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("oversized form: %d", rec.Code)
	}
}

// htmlEscaped is how html/template writes s in text.
func htmlEscaped(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func TestPagesAndHeaders(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	b.signIn(f, "root")
	rec := b.get("/apps/web")
	h := rec.Header()
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", h)
	}
	body := rec.Body.String()
	for _, want := range []string{`<html lang="en">`, `name="viewport"`, `<a class="skip" href="#main">`, `aria-labelledby="rel-h"`,
		"http://web.xcloud.test", "v2", `data-src="/apps/web/deploy/stream"`, "Metrics are off"} {
		if !strings.Contains(body, want) {
			t.Errorf("app page lacks %q", want)
		}
	}
	for _, asset := range []string{"/static/app.css", "/static/app.js"} {
		if rec := b.get(asset); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d", asset, rec.Code)
		}
	}
	if rec := b.get("/static/"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /static/ lists the directory: %d", rec.Code)
	}
}

func TestSignInFailuresWait(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser(t)
	bad := url.Values{"token": {"xct_" + strings.Repeat("B", 43)}}
	for range signInFailures {
		if rec := b.post("/signin", bad, nil); rec.Code != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", rec.Code)
		}
	}
	// Banned now, a good token too; nothing is opened.
	rec := b.post("/signin", url.Values{"token": {f.secret["root"]}}, nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "too many failed sign-ins") || f.h.sessions.len() != 0 {
		t.Fatalf("after %d failures: %d %q, %d sessions", signInFailures, rec.Code, rec.Header().Get("Retry-After"), f.h.sessions.len())
	}
	f.clock.add(signInBan + time.Second)
	b.signIn(f, "root")
}

func TestBuildPage(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	b1, err := f.st.CreateBuild(ctx, "web", "refs/heads/main", "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishBuild(ctx, b1.ID, store.BuildFailed, "", "exit status 1", []byte("STEP 1/2: FROM scratch\n<script>alert(1)</script>\n")); err != nil {
		t.Fatal(err)
	}
	other, err := f.st.CreateBuild(ctx, "api", "refs/heads/main", "fedcba9876543210")
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(f, "reader")
	page := b.get("/apps/web/builds/" + strconv.FormatInt(b1.ID, 10)).Body.String()
	for _, want := range []string{"STEP 1/2: FROM scratch", "&lt;script&gt;alert(1)&lt;/script&gt;", "exit status 1", "<code>0123456</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("build page lacks %q:\n%s", want, page)
		}
	}
	if !strings.Contains(b.get("/apps/web").Body.String(), `href="/apps/web/builds/`+strconv.FormatInt(b1.ID, 10)+`"`) {
		t.Errorf("the app page does not link the build")
	}
	// Another app's build is not reachable through this app.
	if rec := b.get("/apps/web/builds/" + strconv.FormatInt(other.ID, 10)); rec.Code != http.StatusNotFound {
		t.Errorf("api's build through web: %d", rec.Code)
	}
}
