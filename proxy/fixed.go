package proxy

import (
	"slices"
	"strings"
)

// withFixed returns routes plus the fixed ones (Config.Fixed). A fixed
// route's host is the daemon's own: an app route claiming it loses that
// host (and says so in the log) rather than making every Apply fail.
func (p *Proxy) withFixed(routes []Route) []Route {
	if len(p.cfg.Fixed) == 0 {
		return routes
	}
	taken := map[string]string{}
	for _, f := range p.cfg.Fixed {
		for _, h := range f.Hosts {
			taken[canonicalHost(h)] = f.App
		}
	}
	out := make([]Route, 0, len(routes)+len(p.cfg.Fixed))
	for _, r := range routes {
		if slices.ContainsFunc(r.Hosts, func(h string) bool { return taken[canonicalHost(h)] != "" }) {
			r.Hosts = slices.DeleteFunc(slices.Clone(r.Hosts), func(h string) bool {
				if owner := taken[canonicalHost(h)]; owner != "" {
					p.log.Warn("host is the daemon's own; not routed to the app", "host", h, "app", r.App, "served_by", owner)
					return true
				}
				return false
			})
		}
		out = append(out, r)
	}
	return append(out, p.cfg.Fixed...)
}

func canonicalHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
}
