package daemon

import (
	"context"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// serveStatic routes app to its current static files, served the way the
// release's static.json (site, nil without one) asks.
func (d *Daemon) serveStatic(app string, site *buildpacks.StaticConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.roots[app] = d.staticCurrent(app)
	d.sites[app] = proxySite(site)
}

// releaseSite is rel's static.json, nil when it has none.
func releaseSite(rel store.Release) *buildpacks.StaticConfig {
	// Every caller has parsed rel's spec already: an error cannot happen.
	spec, _ := parseSpec(rel.Spec)
	return spec.Site
}

// currentSite is the static.json of app's current release, nil when it
// has none or it cannot be read (the files are then served plainly).
func (d *Daemon) currentSite(ctx context.Context, app string) *buildpacks.StaticConfig {
	rel, err := d.store.CurrentRelease(ctx, app)
	if err != nil {
		d.log.Warn("static site settings", "app", app, "err", err)
		return nil
	}
	return releaseSite(rel)
}

// proxySite converts static.json's settings to the proxy's.
func proxySite(c *buildpacks.StaticConfig) *proxy.Site {
	if c == nil {
		return nil
	}
	s := &proxy.Site{CleanURLs: c.CleanURLs, ErrorPage: c.ErrorPage}
	for _, r := range c.Routes {
		s.Routes = append(s.Routes, proxy.SiteRoute{Path: r.Path, Except: r.Except, File: r.File})
	}
	for _, r := range c.Redirects {
		s.Redirects = append(s.Redirects, proxy.SiteRedirect{Path: r.Path, URL: r.URL, Status: r.Status})
	}
	for _, h := range c.Headers {
		s.Headers = append(s.Headers, proxy.SiteHeaders{Path: h.Path, Set: h.Set})
	}
	return s
}
