package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/store"
)

// How much history the app page shows.
const (
	pageReleases = 10
	pageBuilds   = 5
	pageLogLines = 100
	pageEvents   = 20
)

// maxToken caps the sign-in form's token field, well above a real token.
const maxToken = 256

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName(h.secure)); err == nil && h.sessions.get(c.Value) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "signin", page{Title: "Sign in"})
}

// signin exchanges an API token for a session. The cross-origin guard has
// already refused forms posted from other sites (login CSRF).
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.render(w, http.StatusBadRequest, "signin", page{Title: "Sign in", Data: "the form could not be read: " + err.Error()})
		return
	}
	ip := h.clientIP(r)
	if banned, until := h.failures.Blocked(ip); banned {
		wait := until.Sub(h.now())
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		h.render(w, http.StatusTooManyRequests, "signin", page{Title: "Sign in",
			Data: fmt.Sprintf("too many failed sign-ins from %s; try again in %d seconds", ip, int(wait.Seconds())+1)})
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if len(secret) > maxToken {
		secret = secret[:maxToken] // reported as malformed, not echoed
	}
	p, err := h.tokens.Authenticate(r.Context(), secret)
	if err != nil && !badToken(err) {
		h.log.Error("dashboard sign-in: check token", "err", err)
		h.render(w, http.StatusInternalServerError, "signin", page{Title: "Sign in", Data: "sign-in failed: the daemon could not check the token; its log says why"})
		return
	}
	if err != nil {
		h.failures.Failed(ip)
		h.log.Info("dashboard sign-in refused", "client", ip, "err", err)
		h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Data: "sign-in failed: " + err.Error()})
		return
	}
	// A new session id at every sign-in; an earlier session of this
	// browser ends.
	if c, err := r.Cookie(cookieName(h.secure)); err == nil {
		h.sessions.delete(c.Value)
	}
	id, _ := h.sessions.create(p, secret)
	http.SetCookie(w, sessionCookie(h.secure, id, 0))
	h.log.Info("dashboard sign-in", "principal", p.Name, "scope", string(p.Scope))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// badToken reports the caller's mistakes among Authenticate's errors.
func badToken(err error) bool {
	for _, e := range []error{access.ErrNoToken, access.ErrMalformedToken, access.ErrUnknownToken, access.ErrExpiredToken, access.ErrRevokedToken} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, req request) {
	if c, err := r.Cookie(cookieName(h.secure)); err == nil {
		h.sessions.delete(c.Value)
	}
	http.SetCookie(w, sessionCookie(h.secure, "", -1))
	h.log.Info("dashboard sign-out", "principal", req.p.Name)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (h *Handler) appsPage(w http.ResponseWriter, r *http.Request, req request) {
	apps, err := h.eng.Apps(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows := []daemon.AppInfo{}
	for _, a := range apps {
		if req.p.Allows(access.Read, a.Name) {
			rows = append(rows, a)
		}
	}
	h.render(w, http.StatusOK, "apps", h.page(req, "Apps", rows))
}

// summarise words an app's processes in a few words.
func summarise(procs []daemon.Process) string {
	if len(procs) == 0 {
		return "no processes running"
	}
	running := 0
	for _, p := range procs {
		if p.State == "running" {
			running++
		}
	}
	if running == len(procs) {
		return strconv.Itoa(running) + " running"
	}
	return strconv.Itoa(running) + " of " + strconv.Itoa(len(procs)) + " running"
}

func (h *Handler) page(req request, title string, data any) page {
	return page{Title: title, P: &req.p, CSRF: req.sess.csrf, Flash: h.sessions.takeFlash(req.sess), Data: data}
}

// appView is the app page.
type appView struct {
	Name      string
	URL       string
	Release   int
	Status    string
	Stopped   bool
	CanDeploy bool // the principal may restart, scale, roll back, change config
	Processes []daemon.Process
	Types     []typeCount
	Releases  []releaseRow
	Builds    []store.Build
	Domains   daemon.DomainsInfo
	Config    []configVar
	Logs      []string
	Events    []store.Event
	Traffic   trafficView
}

type typeCount struct {
	Type  string
	Count int
}

type releaseRow struct {
	store.Release
	Current     bool
	CanRollBack bool // it served once and runs another image than the current one
}

type configVar struct {
	Name  string
	Value string // "" when masked
}

// masked stands for a value the principal may not read; its length says
// nothing about the value's.
const masked = "••••••••"

func (h *Handler) appPage(w http.ResponseWriter, r *http.Request, req request) {
	v, err := h.appView(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "app", h.page(req, v.Name, v))
}

func (h *Handler) appView(ctx context.Context, req request) (appView, error) {
	app := req.app
	v := appView{Name: app, CanDeploy: req.p.Allows(access.Deploy, app)}
	a, err := h.eng.App(ctx, app)
	if err != nil {
		return v, err
	}
	v.Release, v.Stopped = a.CurrentRelease, a.Stopped
	if v.Domains, err = h.eng.Domains(ctx, app); err != nil {
		return v, err
	}
	v.URL = v.Domains.URL
	if v.Processes, err = h.eng.Processes(ctx, app); err != nil {
		return v, err
	}
	v.Status = summarise(v.Processes)
	switch {
	case a.Stopped:
		v.Status = daemon.StatusStopped
	case a.CurrentRelease == 0:
		v.Status = daemon.StatusNoRelease
	}
	counts := map[string]int{}
	for _, p := range v.Processes {
		counts[p.Type]++
	}
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		v.Types = append(v.Types, typeCount{Type: t, Count: counts[t]})
	}
	rels, err := h.eng.Releases(ctx, app, pageReleases)
	if err != nil {
		return v, err
	}
	if len(rels) > 0 && rels[0].Status == store.ReleaseFailed {
		v.Status = "last deploy failed; " + v.Status
	}
	var cur store.Release
	for _, rel := range rels {
		if rel.Version == a.CurrentRelease {
			cur = rel
		}
	}
	for _, rel := range rels {
		v.Releases = append(v.Releases, releaseRow{Release: rel, Current: rel.Version == a.CurrentRelease,
			CanRollBack: rel.Version != a.CurrentRelease && rel.Status == store.ReleaseSuperseded && rel.Image != cur.Image})
	}
	if v.Builds, err = h.eng.Builds(ctx, app, pageBuilds); err != nil {
		return v, err
	}
	vars, err := h.eng.Config(ctx, app)
	if err != nil {
		return v, err
	}
	see := req.p.Allows(access.Deploy, app)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		cv := configVar{Name: k, Value: masked}
		if see {
			cv.Value = vars[k]
		}
		v.Config = append(v.Config, cv)
	}
	var logs bytes.Buffer
	if err := h.eng.Logs(ctx, daemon.LogsRequest{App: app, Lines: pageLogLines}, &logs); err != nil {
		return v, err
	}
	v.Logs = strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(v.Logs) == 1 && v.Logs[0] == "" {
		v.Logs = nil
	}
	err = h.eng.Events(ctx, daemon.EventsRequest{App: app, Lines: pageEvents}, func(e store.Event) error {
		v.Events = append(v.Events, e)
		return nil
	})
	if err != nil {
		return v, err
	}
	slices.Reverse(v.Events) // newest first
	v.Traffic = h.trafficView(app)
	return v, nil
}

// buildView is one build's log.
type buildView struct {
	App   string
	Build store.Build
	Log   string
}

func (h *Handler) buildPage(w http.ResponseWriter, r *http.Request, req request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.refuse(w, r, http.StatusNotFound, "no build "+r.PathValue("id")+": build ids are positive numbers")
		return
	}
	builds, err := h.eng.Builds(r.Context(), req.app, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The engine checks that the build is the app's; the list gives the
	// details of the newest 100.
	log, err := h.eng.BuildLog(r.Context(), req.app, id)
	if errors.Is(err, store.ErrNotFound) {
		h.refuse(w, r, http.StatusNotFound, "app "+req.app+" has no build "+strconv.FormatInt(id, 10))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b := store.Build{ID: id, App: req.app}
	if i := slices.IndexFunc(builds, func(b store.Build) bool { return b.ID == id }); i >= 0 {
		b = builds[i]
	}
	h.render(w, http.StatusOK, "build", h.page(req, req.app+" build "+strconv.FormatInt(id, 10), buildView{App: req.app, Build: b, Log: string(log)}))
}
