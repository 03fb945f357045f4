package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Tunables of the generated Caddy configuration.
const (
	// lbTryDuration is how long a request keeps trying other upstreams
	// when dialing one fails (e.g. it raced with a deploy's upstream swap).
	lbTryDuration = "5s"
	// lbTryInterval is the pause between two such attempts.
	lbTryInterval = "250ms"
	// failDuration is how long an upstream that failed a request is
	// skipped (passive health checking).
	failDuration = "2s"
	// dialTimeout bounds connecting to an upstream.
	dialTimeout = "3s"
	// maxIdleConnsPerHost is the keep-alive pool size per upstream.
	maxIdleConnsPerHost = 128
	// idleConnTimeout closes pooled upstream connections idle this long.
	idleConnTimeout = "90s"
	// gracePeriod bounds how long a replaced server waits for in-flight
	// requests when the configuration changes.
	gracePeriod = "10s"
)

// obj is a JSON object; encoding/json sorts map keys, which keeps the
// output deterministic.
type obj = map[string]any

// BuildConfig renders the complete Caddy JSON configuration serving routes
// under cfg. It is pure and deterministic: routes are sorted by app name
// and hosts are lower-cased, de-duplicated and sorted, so equal inputs give
// byte-identical output. Routes without hosts are skipped; an app with
// hosts but no upstreams answers 503. A host claimed by two apps, a
// malformed upstream or an unknown TLS mode is an error.
func BuildConfig(cfg Config, routes []Route) ([]byte, error) {
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

	appRoutes, allHosts, err := buildAppRoutes(routes)
	if err != nil {
		return nil, err
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
	apps := obj{"http": httpApp}
	if mode == TLSOff {
		httpApp["servers"] = obj{
			"http": obj{
				"listen":          []string{cfg.HTTPListen},
				"routes":          append(appRoutes, notFound),
				"automatic_https": obj{"disable": true},
				"protocols":       []string{"h1"},
			},
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
		httpRoutes := []any{}
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
			"listen":          []string{cfg.HTTPSListen},
			"routes":          append(appRoutes, notFound),
			"automatic_https": obj{"disable_redirects": true},
			"protocols":       []string{"h1", "h2"},
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
			"http": obj{
				"listen":          []string{cfg.HTTPListen},
				"routes":          httpRoutes,
				"automatic_https": obj{"disable": true},
				"protocols":       []string{"h1"},
			},
			"https": https,
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
		apps["tls"] = obj{"automation": obj{"policies": []any{
			obj{"issuers": []any{issuer}},
		}}}
		// Never touch the system trust store; clients fetch the root
		// through CACertificate instead.
		apps["pki"] = obj{"certificate_authorities": obj{
			"local": obj{"install_trust": false},
		}}
	}

	root := obj{
		"admin":   obj{"disabled": true, "config": obj{"persist": false}},
		"logging": obj{"logs": obj{"default": obj{"level": "WARN"}}},
		"apps":    apps,
	}
	if cfg.StorageDir != "" {
		root["storage"] = obj{"module": "file_system", "root": cfg.StorageDir}
	}
	return json.Marshal(root)
}

// buildAppRoutes returns one Caddy route per app with hosts, sorted by app,
// and the sorted list of every served host.
func buildAppRoutes(routes []Route) ([]any, []string, error) {
	sorted := slices.Clone(routes)
	slices.SortStableFunc(sorted, func(a, b Route) int { return strings.Compare(a.App, b.App) })

	owner := make(map[string]string)
	var allHosts []string
	out := make([]any, 0, len(sorted)+1)
	for _, r := range sorted {
		hosts, err := normalizeHosts(r.Hosts)
		if err != nil {
			return nil, nil, fmt.Errorf("app %q: %w", r.App, err)
		}
		if len(hosts) == 0 {
			continue
		}
		for _, h := range hosts {
			if other, ok := owner[h]; ok && other != r.App {
				return nil, nil, fmt.Errorf("host %q is claimed by apps %q and %q", h, other, r.App)
			}
			owner[h] = r.App
		}
		allHosts = append(allHosts, hosts...)

		handler, err := appHandler(r)
		if err != nil {
			return nil, nil, fmt.Errorf("app %q: %w", r.App, err)
		}
		out = append(out, obj{
			"match":    []any{obj{"host": hosts}},
			"handle":   []any{handler},
			"terminal": true,
		})
	}
	slices.Sort(allHosts)
	allHosts = slices.Compact(allHosts)
	return out, allHosts, nil
}

// appHandler is the reverse_proxy handler for r, or a 503 when the app has
// no upstreams.
func appHandler(r Route) (obj, error) {
	if len(r.Upstreams) == 0 {
		return obj{
			"handler":     "static_response",
			"status_code": 503,
			"headers":     textHeaders(),
			"body":        "app " + r.App + " is not running\n",
		}, nil
	}
	upstreams := make([]any, 0, len(r.Upstreams))
	for _, u := range r.Upstreams {
		if err := checkUpstream(u); err != nil {
			return nil, err
		}
		upstreams = append(upstreams, obj{"dial": u})
	}
	return obj{
		"handler":   "reverse_proxy",
		"upstreams": upstreams,
		"load_balancing": obj{
			"selection_policy": obj{"policy": "round_robin"},
			"try_duration":     lbTryDuration,
			"try_interval":     lbTryInterval,
		},
		"health_checks": obj{"passive": obj{
			"fail_duration": failDuration,
			"max_fails":     1,
		}},
		"transport": obj{
			"protocol":     "http",
			"dial_timeout": dialTimeout,
			"keep_alive": obj{
				"max_idle_conns_per_host": maxIdleConnsPerHost,
				"idle_timeout":            idleConnTimeout,
			},
		},
	}, nil
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
