package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// route is one endpoint: how it is served, who may call it, and what the
// OpenAPI document says of it. Registering and documenting from this one
// table keeps the two from drifting.
type route struct {
	method string
	path   string // under Prefix, with {app}, {id}, {host}
	op     string // names it in messages and the document's operationId
	// scope needed on the path's app ("" for the whole box: calls
	// Principal.Allows with app ""); listApps filters instead.
	scope   access.Scope
	public  bool // no token needed
	summary string
	query   []param
	body    any // the request body's type (a zero value); nil: none
	// optionalBody: the body may be left out.
	optionalBody bool
	resp         any  // the 200 response's type (a zero value)
	stream       bool // answers text/event-stream (always, or when asked)
	handle       func(a *API, w http.ResponseWriter, r *http.Request, req *request) error
}

// param is a query parameter.
type param struct {
	name, kind, desc string // kind: "integer", "boolean" or "string"
}

func (rt *route) appScoped() bool { return strings.Contains(rt.path, "{app}") }

var (
	nParam      = param{"n", "integer", "how many, newest first (default 50)"}
	followParam = param{"follow", "boolean", "stream as Server-Sent Events (also with Accept: text/event-stream)"}
)

func routes() []route {
	const app = "/apps/{app}"
	return []route{
		{method: "GET", path: "/openapi.json", op: "openapi", public: true, summary: "this document", resp: map[string]any{}, handle: (*API).getOpenAPI},
		{method: "GET", path: "/apps", op: "list apps", scope: "", summary: "the apps the token reaches", resp: []daemon.AppInfo{}, handle: (*API).listApps},
		{method: "GET", path: app, op: "show app", scope: access.Read, summary: "an app's URL, release, commit and domains", resp: daemon.AppInfo{}, handle: (*API).getApp},
		{method: "GET", path: app + "/releases", op: "list releases", scope: access.Read, summary: "the app's releases, newest first", query: []param{nParam}, resp: []store.Release{}, handle: (*API).listReleases},
		{method: "GET", path: app + "/builds", op: "list builds", scope: access.Read, summary: "the app's builds, newest first", query: []param{nParam}, resp: []store.Build{}, handle: (*API).listBuilds},
		{method: "GET", path: app + "/builds/{id}/log", op: "show build log", scope: access.Read, summary: "a finished build's output; id \"latest\" for the newest build", resp: BuildLog{}, handle: (*API).getBuildLog},
		{method: "GET", path: app + "/deploys/live", op: "follow deploy", scope: access.Read, summary: "the running deploy's output (build included) as it happens, or the next deploy's: events \"line\", then \"end\"", stream: true, resp: DeployEnd{}, handle: (*API).followDeploy},
		{method: "GET", path: app + "/processes", op: "list processes", scope: access.Read, summary: "the app's containers with state and restarts", resp: []daemon.Process{}, handle: (*API).listProcesses},
		{method: "POST", path: app + "/scale", op: "scale", scope: access.Deploy, summary: "run N containers of each process type", body: ScaleBody{}, resp: Output{}, handle: (*API).scale},
		{method: "POST", path: app + "/restart", op: "restart", scope: access.Deploy, summary: "replace every container, health-checked, without downtime", resp: Output{}, handle: (*API).restart},
		{method: "POST", path: app + "/stop", op: "stop", scope: access.Deploy, summary: "stop the app's containers", resp: Output{}, handle: (*API).stop},
		{method: "POST", path: app + "/start", op: "start", scope: access.Deploy, summary: "start a stopped app at its scale", resp: Output{}, handle: (*API).start},
		{method: "POST", path: app + "/rollback", op: "rollback", scope: access.Deploy, summary: "deploy an earlier release again (default: the previous one)", body: RollbackBody{}, optionalBody: true, resp: Output{}, handle: (*API).rollback},
		{method: "POST", path: app + "/rebuild", op: "rebuild", scope: access.Deploy, summary: "build the deploy branch's commit again and deploy it", resp: Output{}, handle: (*API).rebuild},
		{method: "GET", path: app + "/config", op: "show config", scope: access.Read, summary: "the app's config vars; values only for deploy and admin scopes", resp: ConfigVars{}, handle: (*API).getConfig},
		{method: "PATCH", path: app + "/config", op: "change config", scope: access.Deploy, summary: "set and unset config vars; restarts without downtime unless no_restart", body: ConfigPatch{}, resp: Output{}, handle: (*API).patchConfig},
		{method: "GET", path: app + "/domains", op: "list domains", scope: access.Read, summary: "the app's default host and custom domains", resp: daemon.DomainsInfo{}, handle: (*API).listDomains},
		{method: "POST", path: app + "/domains", op: "add domain", scope: access.Deploy, summary: "serve the app at a host too", body: DomainBody{}, resp: daemon.AddedDomain{}, handle: (*API).addDomain},
		{method: "DELETE", path: app + "/domains/{host}", op: "remove domain", scope: access.Deploy, summary: "stop serving the app at a host", resp: RemovedDomain{}, handle: (*API).removeDomain},
		{method: "GET", path: app + "/events", op: "list app events", scope: access.Read, summary: "the app's events, oldest first; follow streams new ones", query: []param{nParam, followParam}, stream: true, resp: []store.Event{}, handle: (*API).listEvents},
		{method: "GET", path: "/events", op: "list events", scope: access.Read, summary: "every app's events, oldest first (tokens not limited to apps)", query: []param{nParam, followParam}, stream: true, resp: []store.Event{}, handle: (*API).listEvents},
		{method: "GET", path: app + "/logs", op: "show logs", scope: access.Read, summary: "the app's output, a line each with process and time; follow streams new lines", query: []param{nParam, {"type", "string", "only this process type"}, followParam}, stream: true, resp: LogLines{}, handle: (*API).getLogs},
		{method: "GET", path: app + "/cron", op: "list cron jobs", scope: access.Read, summary: "the app's cron jobs with their next and last runs", resp: []daemon.CronJob{}, handle: (*API).listCron},
		{method: "GET", path: app + "/storage", op: "list storage", scope: access.Read, summary: "the app's mounts (volumes and host directories) with each volume's size", resp: []daemon.MountInfo{}, handle: (*API).listStorage},
		{method: "GET", path: app + "/cron/runs", op: "list cron runs", scope: access.Read, summary: "stored cron runs, newest first", query: []param{nParam, {"job", "string", "only this job's runs"}}, resp: []store.CronRun{}, handle: (*API).listCronRuns},
	}
}

// Request and response bodies the engine's own types do not cover. Their
// JSON names are snake_case, as the engine's are.
type (
	// ScaleBody is POST scale's body: process type → count.
	ScaleBody struct {
		Scale map[string]int `json:"scale"`
	}
	// RollbackBody is POST rollback's optional body: the release to go
	// back to (0 or none: the previous release that served).
	RollbackBody struct {
		Version int `json:"version,omitempty"`
	}
	// ConfigPatch is PATCH config's body.
	ConfigPatch struct {
		Set       map[string]string `json:"set,omitempty"`
		Unset     []string          `json:"unset,omitempty"`
		NoRestart bool              `json:"no_restart,omitempty"`
	}
	// DomainBody is POST domains' body.
	DomainBody struct {
		Host string `json:"host"`
	}
	// Output is what an operation printed as it went (the lines an SSH
	// user sees), when it succeeded.
	Output struct {
		App    string   `json:"app"`
		Output []string `json:"output"`
	}
	// ConfigVars are an app's config vars. Masked: the token's scope does
	// not show values, and every value is "********".
	ConfigVars struct {
		App    string            `json:"app"`
		Vars   map[string]string `json:"vars"`
		Masked bool              `json:"masked"`
	}
	// BuildLog is a build's output.
	BuildLog struct {
		App   string `json:"app"`
		Build string `json:"build"` // the id asked for, or "latest"
		Log   string `json:"log"`
	}
	// RemovedDomain is what DELETE domains removed.
	RemovedDomain struct {
		App  string `json:"app"`
		Host string `json:"host"`
	}
	// LogLines is the app's recent output.
	LogLines struct {
		App   string   `json:"app"`
		Lines []string `json:"lines"`
	}
	// DeployEnd is the "end" event of a followed deploy.
	DeployEnd struct {
		Failed bool   `json:"failed"`
		Error  string `json:"error,omitempty"`
	}
)

const mask = "********"

// maxOutput bounds the progress an operation's answer carries.
const maxOutput = 64 << 10

func (a *API) listApps(w http.ResponseWriter, r *http.Request, req *request) error {
	apps, err := a.eng.Apps(r.Context())
	if err != nil {
		return err
	}
	out := []daemon.AppInfo{}
	for _, info := range apps {
		if req.p.Allows(access.Read, info.Name) {
			out = append(out, info)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request, req *request) error {
	info, err := a.eng.AppInfo(r.Context(), req.app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) listReleases(w http.ResponseWriter, r *http.Request, req *request) error {
	n, err := queryInt(r, "n", 50, 1, 1000)
	if err != nil {
		return err
	}
	rels, err := a.eng.Releases(r.Context(), req.app, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(rels))
	return nil
}

func (a *API) listBuilds(w http.ResponseWriter, r *http.Request, req *request) error {
	n, err := queryInt(r, "n", 50, 1, 1000)
	if err != nil {
		return err
	}
	bs, err := a.eng.Builds(r.Context(), req.app, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(bs))
	return nil
}

func (a *API) getBuildLog(w http.ResponseWriter, r *http.Request, req *request) error {
	raw := r.PathValue("id")
	var id int64
	if raw != "latest" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 {
			return badRequest("build id %q: want a number or \"latest\"", raw)
		}
		id = n
	}
	log, err := a.eng.BuildLog(r.Context(), req.app, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, BuildLog{App: req.app, Build: raw, Log: string(log)})
	return nil
}

func (a *API) listProcesses(w http.ResponseWriter, r *http.Request, req *request) error {
	ps, err := a.eng.Processes(r.Context(), req.app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ps))
	return nil
}

// operate runs a state change and answers with its output. It runs on a
// context the client cannot cancel: hanging up must not stop a deploy
// half way; the actor stays.
func (a *API) operate(w http.ResponseWriter, r *http.Request, req *request, fn func(ctx context.Context, out io.Writer) error) error {
	buf := &daemon.Capped{Max: maxOutput}
	if err := fn(context.WithoutCancel(r.Context()), buf); err != nil {
		return err
	}
	lines := []string{}
	for l := range strings.Lines(buf.String()) {
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	writeJSON(w, http.StatusOK, Output{App: req.app, Output: lines})
	return nil
}

func (a *API) scale(w http.ResponseWriter, r *http.Request, req *request) error {
	var body ScaleBody
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if len(body.Scale) == 0 {
		return badRequest("scale: give at least one process type and count, like {\"scale\": {\"web\": 2}}")
	}
	for typ, n := range body.Scale {
		if n < 0 || n > daemon.MaxScale {
			return badRequest("scale: %s=%d: want a count from 0 to %d", typ, n, daemon.MaxScale)
		}
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error {
		return a.eng.Scale(ctx, daemon.ScaleRequest{App: req.app, Scale: body.Scale}, out)
	})
}

func (a *API) restart(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error { return a.eng.Restart(ctx, req.app, out) })
}

func (a *API) stop(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error { return a.eng.Stop(ctx, req.app, out) })
}

func (a *API) start(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error { return a.eng.Start(ctx, req.app, out) })
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, req *request) error {
	var body RollbackBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	if body.Version < 0 {
		return badRequest("rollback: version %d: want a release number like 3", body.Version)
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error {
		return a.eng.Rollback(ctx, daemon.RollbackRequest{App: req.app, Version: body.Version}, out)
	})
}

func (a *API) rebuild(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	by := gitreceive.Identity{Name: req.p.Name, Admin: req.p.Scope == access.Admin, Apps: req.p.Apps}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error { return a.eng.Rebuild(ctx, req.app, by, out) })
}

func (a *API) getConfig(w http.ResponseWriter, r *http.Request, req *request) error {
	vars, err := a.eng.Config(r.Context(), req.app)
	if err != nil {
		return err
	}
	out := ConfigVars{App: req.app, Vars: map[string]string{}}
	out.Masked = !req.p.Allows(access.Deploy, req.app)
	for k, v := range vars {
		if out.Masked {
			v = mask
		}
		out.Vars[k] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) patchConfig(w http.ResponseWriter, r *http.Request, req *request) error {
	var body ConfigPatch
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if len(body.Set) == 0 && len(body.Unset) == 0 {
		return badRequest("config: give \"set\" or \"unset\", like {\"set\": {\"KEY\": \"value\"}}")
	}
	for _, k := range body.Unset {
		if _, ok := body.Set[k]; ok {
			return badRequest("config: %s is both set and unset", k)
		}
	}
	return a.operate(w, r, req, func(ctx context.Context, out io.Writer) error {
		return a.eng.SetConfig(ctx, daemon.SetConfigRequest{App: req.app, Set: body.Set, Unset: body.Unset, NoRestart: body.NoRestart}, out)
	})
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request, req *request) error {
	d, err := a.eng.Domains(r.Context(), req.app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request, req *request) error {
	var body DomainBody
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Host == "" {
		return badRequest("domains: give \"host\", like {\"host\": \"www.example.com\"}")
	}
	added, err := a.eng.AddDomain(context.WithoutCancel(r.Context()), daemon.AddDomainRequest{App: req.app, Host: body.Host, Admin: req.p.Scope == access.Admin})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, added)
	return nil
}

func (a *API) removeDomain(w http.ResponseWriter, r *http.Request, req *request) error {
	host, err := a.eng.RemoveDomain(context.WithoutCancel(r.Context()), req.app, r.PathValue("host"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RemovedDomain{App: req.app, Host: host})
	return nil
}

func (a *API) listCron(w http.ResponseWriter, r *http.Request, req *request) error {
	jobs, err := a.eng.CronJobs(r.Context(), req.app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(jobs))
	return nil
}

func (a *API) listStorage(w http.ResponseWriter, r *http.Request, req *request) error {
	ms, err := a.eng.Storage(r.Context(), req.app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ms))
	return nil
}

func (a *API) listCronRuns(w http.ResponseWriter, r *http.Request, req *request) error {
	n, err := queryInt(r, "n", 50, 1, 1000)
	if err != nil {
		return err
	}
	runs, err := a.eng.CronRuns(r.Context(), req.app, r.URL.Query().Get("job"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(runs))
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
