package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings of the reverse_proxy shared by every app (proxyRouteName), as
// Caddy JSON. Settings equal to Caddy's defaults are left out: retry
// interval 250ms (lb_try_interval), one failure marks an upstream down
// (max_fails).
const (
	// Round robin; a request that fails to dial an upstream (e.g. it raced
	// with a deploy swapping upstreams) is retried every 250ms for 5s, on
	// the app's upstreams of the moment (see upstreams.go). Nothing was
	// sent on a failed dial, so requests of any method are retried; after
	// a connection error only GETs are.
	loadBalancingJSON = `{"selection_policy":{"policy":"round_robin"},"try_duration":"5s"}`
	// Passive health checking: an upstream that failed is skipped for 2s,
	// so the retry goes to another upstream of the app, if it has one.
	healthChecksJSON = `{"passive":{"fail_duration":"2s"}}`
	// maxIdlePerUpstream bounds the idle connections kept per upstream.
	maxIdlePerUpstream = 128
	// dialTimeout bounds a connect to an upstream. Upstreams are on
	// loopback, where a connect takes microseconds unless the listener's
	// queue is full (the app is stuck or the machine overloaded): waiting
	// Caddy's default 3s there would leave little of try_duration to retry
	// on another upstream.
	dialTimeout = "1s"
	// gracePeriod bounds how long a replaced server waits for in-flight
	// requests when the configuration changes.
	gracePeriod = "10s"
)

// upstreamIdleTimeout closes upstream connections idle this long (Caddy's
// default is 2m). Apps close theirs sooner (Node after 5s), and
// connections to a container that is gone only hold file descriptors.
// A variable for tests.
var upstreamIdleTimeout = 30 * time.Second

// transportConfig is the "xcloud" transport (see transport.go): plain
// HTTP/1.1 to the upstreams, Caddy's standard HTTP transport for requests
// with a body and upgrades.
type transportConfig struct {
	Protocol            string        `json:"protocol"`
	Table               string        `json:"table"`
	MaxIdleConnsPerHost int           `json:"max_idle_conns_per_host"`
	IdleTimeout         string        `json:"idle_timeout"`
	HTTP                httpTransport `json:"http"`
}

// httpTransport is the configuration of Caddy's standard HTTP transport.
type httpTransport struct {
	DialTimeout string    `json:"dial_timeout"`
	KeepAlive   keepAlive `json:"keep_alive"`
}

type keepAlive struct {
	MaxIdleConnsPerHost int    `json:"max_idle_conns_per_host"`
	IdleTimeout         string `json:"idle_timeout"`
}

// appRoute is the Caddy route of one app. Routes are structs, not maps,
// because they are encoded hundreds of times per configuration.
type appRoute struct {
	Match    []hostMatch `json:"match"`
	Handle   []any       `json:"handle"`
	Terminal bool        `json:"terminal"`
}

// hostMatch is a Caddy "host" matcher.
type hostMatch struct {
	Host []string `json:"host"`
}

// notRunning is an "xcloud_not_running" handler (see upstreams.go).
type notRunning struct {
	Handler string `json:"handler"`
	tableApp
}

// tableApp names an app in an upstream table.
type tableApp struct {
	Table string `json:"table"`
	App   string `json:"app"`
}

// proxyHandler is a Caddy "reverse_proxy" handler whose upstreams come
// from the "xcloud" dynamic upstream source.
type proxyHandler struct {
	Handler          string          `json:"handler"`
	DynamicUpstreams dynamicSource   `json:"dynamic_upstreams"`
	LoadBalancing    json.RawMessage `json:"load_balancing"`
	HealthChecks     json.RawMessage `json:"health_checks"`
	Transport        transportConfig `json:"transport"`
}

// dynamicSource selects the "xcloud" upstream source (see upstreams.go);
// its app is the one the request's route names (App is empty).
type dynamicSource struct {
	Source string `json:"source"`
	Table  string `json:"table"`
}

// invoke is a Caddy "invoke" handler: it runs a named route of the server.
type invoke struct {
	Handler string `json:"handler"`
	Name    string `json:"name"`
}

// proxyRouteName names the one reverse_proxy every app's route invokes.
// Sharing it means Caddy provisions a single reverse_proxy handler (and one
// upstream connection pool) however many apps there are, which keeps a
// reload with hundreds of apps cheap; each app's route only matches its
// hosts and tells the shared handler its app (see notRunningHandler).
const proxyRouteName = "xcloud_proxy"

// proxyRoute is the named route proxying to the upstreams of the
// request's app in table.
func proxyRoute(table string) obj {
	return obj{"handle": []any{proxyHandler{
		Handler:          "reverse_proxy",
		DynamicUpstreams: dynamicSource{Source: "xcloud", Table: table},
		LoadBalancing:    json.RawMessage(loadBalancingJSON),
		HealthChecks:     json.RawMessage(healthChecksJSON),
		Transport: transportConfig{
			Protocol:            "xcloud",
			Table:               table,
			MaxIdleConnsPerHost: maxIdlePerUpstream,
			IdleTimeout:         upstreamIdleTimeout.String(),
			HTTP: httpTransport{
				DialTimeout: dialTimeout,
				KeepAlive:   keepAlive{MaxIdleConnsPerHost: maxIdlePerUpstream, IdleTimeout: upstreamIdleTimeout.String()},
			},
		},
	}}}
}

// fqdnRoute runs first on every server: it serves a host written as a
// fully qualified name, "app.example.com.", as "app.example.com"
// (see fqdnHandler).
var fqdnRoute = obj{"handle": []any{obj{"handler": "xcloud_fqdn"}}}

// obj is a JSON object; encoding/json sorts map keys, which keeps the
// output deterministic.
type obj = map[string]any

// BuildConfig renders the complete Caddy JSON configuration serving routes
// under cfg, with the upstreams of every app read at request time from the
// upstream table named table (see upstreams.go): the output depends on the
// apps and their hosts, never on their upstreams. It is pure and
// deterministic: routes are sorted by app name and hosts are lower-cased,
// de-duplicated and sorted, so equal inputs give byte-identical output.
// Routes without hosts are skipped; an app with hosts answers 503 while it
// has no upstreams. A host claimed by two apps, an app listed twice, a
// malformed upstream or an unknown TLS mode is an error.
func BuildConfig(cfg Config, table string, routes []Route) ([]byte, error) {
	apps, allHosts, _, err := plan(routes)
	if err != nil {
		return nil, err
	}
	return render(cfg, configuredAddrs(cfg), table, apps, allHosts)
}

// render is BuildConfig for validated routes, listening on addrs.
func render(cfg Config, addrs listenAddrs, table string, apps []appPlan, allHosts []string) ([]byte, error) {
	mode := cfg.TLS
	if mode == "" {
		mode = TLSOff
	}
	switch mode {
	case TLSOff, TLSInternal, TLSACME:
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", cfg.TLS)
	}
	httpPort, err := listenPort(cfg.HTTPListen)
	if err != nil {
		return nil, err
	}

	appRoutes := make([]any, 0, len(apps)+1)
	for _, a := range apps {
		r := appRouteOf(table, a)
		if cfg.Metrics != nil {
			r = withMetrics(table, a, r)
		}
		appRoutes = append(appRoutes, r)
	}
	notFound := obj{
		"handle": []any{obj{
			"handler":     "static_response",
			"status_code": 404,
			"headers":     textHeaders(),
			"body":        "no app is served at {http.request.host}\n",
		}},
		"terminal": true,
	}

	httpApp := obj{"grace_period": gracePeriod}
	// wrap adds the handoff of socket to a server, when the Proxy
	// accepts for it (see listen.go).
	wrap := func(server obj, socket string) obj {
		if addrs.Handoff != "" {
			server["listener_wrappers"] = handoffConfig(addrs.Handoff, socket)
		}
		return server
	}
	caddyApps := obj{"http": httpApp}
	if mode == TLSOff {
		httpApp["servers"] = obj{
			"http": wrap(obj{
				"listen":          []string{addrs.HTTP},
				"routes":          append(append([]any{fqdnRoute}, appRoutes...), notFound),
				"named_routes":    obj{proxyRouteName: proxyRoute(table)},
				"automatic_https": obj{"disable": true},
				"protocols":       []string{"h1"},
			}, socketHTTP),
		}
	} else {
		if cfg.HTTPSListen == "" {
			return nil, fmt.Errorf("HTTPS listen address is empty")
		}
		httpsPort, err := listenPort(cfg.HTTPSListen)
		if err != nil {
			return nil, err
		}
		httpApp["http_port"] = httpPort
		httpApp["https_port"] = httpsPort

		// The plain-HTTP server is explicit (rather than Caddy's implicit
		// redirect server) so it binds exactly HTTPListen from the first
		// Apply on, and unknown hosts get the 404 instead of a redirect.
		// Caddy answers ACME HTTP-01 challenges on every server.
		httpRoutes := []any{fqdnRoute}
		if len(allHosts) > 0 {
			httpRoutes = append(httpRoutes, obj{
				"match": []any{obj{"host": allHosts}},
				"handle": []any{obj{
					"handler":     "static_response",
					"status_code": 308,
					"headers": obj{"Location": []string{
						"https://{http.request.host}" + portSuffix(httpsPort) + "{http.request.uri}",
					}},
				}},
				"terminal": true,
			})
		}
		httpRoutes = append(httpRoutes, notFound)

		https := obj{
			"listen":          []string{addrs.HTTPS},
			"routes":          append(append([]any{fqdnRoute}, appRoutes...), notFound),
			"named_routes":    obj{proxyRouteName: proxyRoute(table)},
			"automatic_https": obj{"disable_redirects": true},
			// HTTP/3 is QUIC on the same port over UDP, advertised in
			// Alt-Svc; clients that cannot reach it stay on TCP.
			"protocols": []string{"h1", "h2", "h3"},
		}
		if addrs.Handoff != "" {
			// A placeholder (listen.go) has no UDP twin for HTTP/3:
			// that listener is named on its own, first: Caddy starts
			// the listeners in order, and its TCP servers read the
			// HTTP/3 server (for Alt-Svc) that the UDP one sets.
			https["listen"] = []string{addrs.H3, addrs.HTTPS}
			https["listen_protocols"] = [][]string{{"h3"}, {"h1", "h2"}}
			if len(allHosts) == 0 {
				// TLS even with no host yet: Caddy infers it from a
				// listener on https_port, which a placeholder is not.
				https["tls_connection_policies"] = []any{obj{}}
			}
		}
		if mode == TLSInternal && len(allHosts) > 0 {
			// Clients without SNI (an IP) or with an unknown name get
			// the certificate of a served host instead of a handshake
			// failure, so they reach the catch-all 404.
			https["tls_connection_policies"] = []any{obj{
				"default_sni":  allHosts[0],
				"fallback_sni": allHosts[0],
			}}
		}
		httpApp["servers"] = obj{
			"http": wrap(obj{
				"listen":          []string{addrs.HTTP},
				"routes":          httpRoutes,
				"automatic_https": obj{"disable": true},
				"protocols":       []string{"h1"},
			}, socketHTTP),
			"https": wrap(https, socketHTTPS),
		}

		issuer := obj{"module": "internal"}
		if mode == TLSACME {
			issuer = obj{"module": "acme"}
			if cfg.Email != "" {
				issuer["email"] = cfg.Email
			}
			if cfg.ACMECA != "" {
				issuer["ca"] = cfg.ACMECA
			}
		}
		// One catch-all policy covers every host the HTTPS server
		// matches (Caddy still uses its internal CA for names such as
		// *.localhost in ACME mode).
		caddyApps["tls"] = obj{"automation": obj{"policies": []any{
			obj{"issuers": []any{issuer}},
		}}}
		// Never touch the system trust store; clients fetch the root
		// through CACertificate instead.
		caddyApps["pki"] = obj{"certificate_authorities": obj{
			"local": obj{"install_trust": false},
		}}
	}

	root := obj{
		"admin": obj{"disabled": true, "config": obj{"persist": false}},
		// Quiet Caddy down; "admin" warns on every load that the
		// (deliberately) disabled admin endpoint is disabled. reverse_proxy
		// builds a logger with the request's fields on every request
		// whenever any log takes its messages (4% of the proxy's CPU), for
		// one warning of its own (a response cut off mid-stream); failed
		// requests are still logged by the server (http.log.error).
		"logging": obj{"logs": obj{"default": obj{"level": "WARN", "exclude": []string{"admin", "http.handlers.reverse_proxy"}}}},
		"apps":    caddyApps,
	}
	if cfg.StorageDir != "" {
		root["storage"] = obj{"module": "file_system", "root": cfg.StorageDir}
	}
	return json.Marshal(root)
}

// appPlan is the validated routing of one app that has hosts.
type appPlan struct {
	App       string
	Hosts     []string // normalised, sorted, not empty
	Upstreams []string // validated dial addresses
	Root      string   // static files directory; empty for proxied apps
	Site      *Site    // how a static site is served; nil for plain files
}

// plan validates routes. It returns the apps with hosts sorted by name, the
// sorted list of every served host and the upstreams of every app with
// hosts and upstreams.
func plan(routes []Route) ([]appPlan, []string, map[string][]string, error) {
	sorted := routes
	byApp := func(a, b Route) int { return strings.Compare(a.App, b.App) }
	if !slices.IsSortedFunc(sorted, byApp) {
		sorted = slices.Clone(routes)
		slices.SortStableFunc(sorted, byApp)
	}

	owner := make(map[string]string)
	upstreams := make(map[string][]string, len(sorted))
	var allHosts []string
	apps := make([]appPlan, 0, len(sorted))
	for _, r := range sorted {
		hosts, err := normalizeHosts(r.Hosts)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("app %q: %w", r.App, err)
		}
		if len(hosts) == 0 {
			continue
		}
		if n := len(apps); n > 0 && apps[n-1].App == r.App {
			return nil, nil, nil, fmt.Errorf("app %q is listed twice", r.App)
		}
		for _, h := range hosts {
			if other, ok := owner[h]; ok && other != r.App {
				return nil, nil, nil, fmt.Errorf("host %q is claimed by apps %q and %q", h, other, r.App)
			}
			owner[h] = r.App
		}
		allHosts = append(allHosts, hosts...)
		for _, u := range r.Upstreams {
			if err := checkUpstream(u); err != nil {
				return nil, nil, nil, fmt.Errorf("app %q: %w", r.App, err)
			}
		}
		ups := slices.Clone(r.Upstreams)
		if len(ups) > 0 {
			upstreams[r.App] = ups
		}
		if r.Root != "" && !strings.HasPrefix(r.Root, "/") {
			return nil, nil, nil, fmt.Errorf("app %q: static root %q is not an absolute path", r.App, r.Root)
		}
		if err := r.Site.check(); err != nil {
			return nil, nil, nil, fmt.Errorf("app %q: %w", r.App, err)
		}
		site := r.Site
		if r.Root == "" {
			site = nil // only a static site has settings; a stale one changes nothing
		}
		apps = append(apps, appPlan{App: r.App, Hosts: hosts, Upstreams: ups, Root: r.Root, Site: site})
	}
	slices.Sort(allHosts)
	allHosts = slices.Compact(allHosts)
	return apps, allHosts, upstreams, nil
}

// sameStructure reports whether a and b route the same hosts to the same
// apps, which makes their configurations equal.
func sameStructure(a, b []appPlan) bool {
	return slices.EqualFunc(a, b, func(x, y appPlan) bool {
		return x.App == y.App && x.Root == y.Root && slices.Equal(x.Hosts, y.Hosts) && sameSite(x.Site, y.Site)
	})
}

// appRouteOf is the route of app a: 503 while the app has no upstreams in
// table, else the shared reverse_proxy (proxyRouteName) to them.
func appRouteOf(table string, a appPlan) appRoute {
	if a.Root != "" {
		return staticRouteOf(a)
	}
	ref := tableApp{Table: table, App: a.App}
	return appRoute{
		Match: []hostMatch{{Host: a.Hosts}},
		Handle: []any{
			notRunning{Handler: "xcloud_not_running", tableApp: ref},
			invoke{Handler: "invoke", Name: proxyRouteName},
		},
		Terminal: true,
	}
}

// normalizeHosts lower-cases, validates, de-duplicates and sorts hosts.
func normalizeHosts(hosts []string) ([]string, error) {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, " \t\r\n/\\{}\"") {
			return nil, fmt.Errorf("invalid host %q", h)
		}
		out = append(out, h)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkUpstream accepts "host:port" (with a numeric port) or a Unix socket
// written as "unix//path".
func checkUpstream(u string) error {
	if strings.HasPrefix(u, "unix//") {
		return nil
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil {
		return fmt.Errorf("invalid upstream %q: %w", u, err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid upstream %q: want host:port", u)
	}
	return nil
}

// listenPort returns the port of a listen address such as ":443".
func listenPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("listen address %q: invalid port", addr)
	}
	return n, nil
}

// portSuffix is ":port" for a non-default HTTPS port, else "".
func portSuffix(httpsPort int) string {
	if httpsPort == 443 {
		return ""
	}
	return ":" + strconv.Itoa(httpsPort)
}

// textHeaders are the headers of the proxy's own plain-text answers.
func textHeaders() obj {
	return obj{
		"Content-Type":           []string{"text/plain; charset=utf-8"},
		"X-Content-Type-Options": []string{"nosniff"},
	}
}
