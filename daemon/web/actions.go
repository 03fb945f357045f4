package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// maxScale bounds a scale per process type, as the engine does.
const maxScale = daemon.MaxScale

// maxOutput caps the progress an action keeps for its result.
const maxOutput = 64 << 10

// act runs an engine operation for a form and shows its outcome on the app
// page (post, redirect, get). The operation runs as the principal, so its
// events name them, and is not cut short if the browser goes away: a
// rollback half done helps no one.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, req request, what string, op func(context.Context, *daemon.Capped) error) {
	ctx := store.WithActor(context.WithoutCancel(r.Context()), req.p.Name)
	out := &daemon.Capped{Max: maxOutput}
	err := op(ctx, out)
	f := flash{Output: strings.TrimRight(out.String(), "\n")}
	switch {
	case err == nil:
		f.Line = lastLine(f.Output)
		if f.Line == "" {
			f.Line = what + ": done"
		}
		h.log.Info("dashboard action", "action", what, "app", req.app, "principal", req.p.Name)
	default:
		f.Failed = true
		msg, ok := forPeople(err)
		if !ok {
			h.log.Error("dashboard action failed", "action", what, "app", req.app, "principal", req.p.Name, "err", err)
			msg = err.Error()
		}
		f.Line = what + " failed: " + msg
	}
	h.sessions.setFlash(req.sess, f)
	http.Redirect(w, r, "/apps/"+req.app, http.StatusSeeOther)
}

// refuseInput reports a bad form on the app page; nothing was changed.
func (h *Handler) refuseInput(w http.ResponseWriter, r *http.Request, req request, what, msg string) {
	h.sessions.setFlash(req.sess, flash{Failed: true, Line: what + ": " + msg})
	http.Redirect(w, r, "/apps/"+req.app, http.StatusSeeOther)
}

func (h *Handler) restart(w http.ResponseWriter, r *http.Request, req request) {
	h.act(w, r, req, "restart", func(ctx context.Context, out *daemon.Capped) error {
		return h.eng.Restart(ctx, req.app, out)
	})
}

// scale reads one number field per process type ("scale.web") and an
// optional free field of TYPE=N pairs for types not running yet.
func (h *Handler) scale(w http.ResponseWriter, r *http.Request, req request) {
	scale := map[string]int{}
	var bad []string
	set := func(typ, n string) {
		q, err := strconv.Atoi(strings.TrimSpace(n))
		if typ == "" || err != nil || q < 0 || q > maxScale {
			bad = append(bad, fmt.Sprintf("%q", typ+"="+n))
			return
		}
		scale[typ] = q
	}
	for k, vs := range r.PostForm {
		if typ, ok := strings.CutPrefix(k, "scale."); ok && len(vs) == 1 {
			set(typ, vs[0])
		}
	}
	for _, pair := range strings.Fields(r.PostForm.Get("more")) {
		typ, n, _ := strings.Cut(pair, "=")
		set(typ, n)
	}
	switch {
	case len(bad) > 0:
		sort.Strings(bad)
		h.refuseInput(w, r, req, "scale", strings.Join(bad, ", ")+": want TYPE=N with N from 0 to "+strconv.Itoa(maxScale))
		return
	case len(scale) == 0:
		h.refuseInput(w, r, req, "scale", "no process type given")
		return
	}
	h.act(w, r, req, "scale", func(ctx context.Context, out *daemon.Capped) error {
		return h.eng.Scale(ctx, daemon.ScaleRequest{App: req.app, Scale: scale}, out)
	})
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request, req request) {
	v := 0
	if s := r.PostForm.Get("version"); s != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
		if err != nil || n <= 0 {
			h.refuseInput(w, r, req, "rollback", fmt.Sprintf("%q is not a release version (want a number such as 3)", s))
			return
		}
		v = n
	}
	h.act(w, r, req, "rollback", func(ctx context.Context, out *daemon.Capped) error {
		return h.eng.Rollback(ctx, daemon.RollbackRequest{App: req.app, Version: v}, out)
	})
}

func (h *Handler) setConfig(w http.ResponseWriter, r *http.Request, req request) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := daemon.CheckVarName(name); err != nil {
		h.refuseInput(w, r, req, "config set", err.Error())
		return
	}
	value := r.PostForm.Get("value")
	h.act(w, r, req, "config set", func(ctx context.Context, out *daemon.Capped) error {
		return h.eng.SetConfig(ctx, daemon.SetConfigRequest{App: req.app, Set: map[string]string{name: value}}, out)
	})
}

func (h *Handler) unsetConfig(w http.ResponseWriter, r *http.Request, req request) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := daemon.CheckVarName(name); err != nil {
		h.refuseInput(w, r, req, "config unset", err.Error())
		return
	}
	h.act(w, r, req, "config unset", func(ctx context.Context, out *daemon.Capped) error {
		return h.eng.SetConfig(ctx, daemon.SetConfigRequest{App: req.app, Unset: []string{name}}, out)
	})
}

// lastLine is the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return strings.TrimLeft(l, "-=> ")
		}
	}
	return ""
}
