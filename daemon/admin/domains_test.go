package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

type fakeRouter struct {
	fail   error
	routes []proxy.Route
}

func (f *fakeRouter) Apply(_ context.Context, routes []proxy.Route) error {
	if f.fail != nil {
		return f.fail
	}
	f.routes = routes
	return nil
}

func (f *fakeRouter) hosts(app string) []string {
	for _, r := range f.routes {
		if r.App == app {
			return r.Hosts
		}
	}
	return nil
}

func newDomainsDaemon(t *testing.T, mode string) (*door, *store.Store, *fakeRouter) {
	return newDomainsDaemonPort(t, mode, "")
}

func newDomainsDaemonPort(t *testing.T, mode, urlPort string) (*door, *store.Store, *fakeRouter) {
	t.Helper()
	st := newAppsStore(t, "web", "other")
	r := &fakeRouter{}
	scheme := "https"
	if mode == "off" {
		scheme = "http"
	}
	d := newDoor(daemon.Options{Store: st, Router: r, BaseDomain: "xcloud.test", Scheme: scheme, TLSMode: mode, URLPort: urlPort,
		CACertificate: func() ([]byte, error) { return []byte("-----BEGIN CERTIFICATE-----\n"), nil }}, "")
	// Route web: it has a release.
	ctx := context.Background()
	rel, err := st.CreateRelease(ctx, store.Release{App: "web", Image: "img", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateRelease(ctx, "web", rel.Version, nil); err != nil {
		t.Fatal(err)
	}
	return d, st, r
}

func runDomainCmd(d *door, id gitreceive.Identity, args ...string) (int, string, string) {
	return runKeysCmd(d, id, "", args...)
}

var domainAdmin = gitreceive.Identity{Name: "admin", Admin: true}

func TestDomainCommands(t *testing.T) {
	ctx := context.Background()
	d, st, r := newDomainsDaemon(t, "acme")

	code, out, errs := runDomainCmd(d, domainAdmin, "domains:add", "web", "Shop.Example.com.")
	if code != 0 || !strings.Contains(out, "https://shop.example.com") || !strings.Contains(out, "ports 80 and 443") {
		t.Fatalf("domains:add: %d %q %q", code, out, errs)
	}
	if got := r.hosts("web"); !slices.Equal(got, []string{"web.xcloud.test", "shop.example.com"}) {
		t.Errorf("routed hosts %v", got)
	}

	// An app key of web may manage web's domains, not other's.
	appKey := gitreceive.Identity{Name: "dev", Apps: []string{"web"}}
	if code, out, errs := runDomainCmd(d, appKey, "domains", "web", "--json"); code != 0 || !strings.Contains(out, `"shop.example.com"`) {
		t.Errorf("domains --json by an app key: %d %q %q", code, out, errs)
	}
	if code, out, errs := runDomainCmd(d, appKey, "domains:add", "web", "dev.example.com"); code != 0 || !strings.Contains(out, "dev.example.com") {
		t.Errorf("domains:add by an app key of the app: %d %q %q", code, out, errs)
	}
	if code, _, errs := runDomainCmd(d, appKey, "domains:remove", "web", "dev.example.com"); code != 0 {
		t.Errorf("domains:remove by an app key of the app: %d %q", code, errs)
	}
	if code, _, errs := runDomainCmd(d, appKey, "domains:add", "other", "x.example.com"); code == 0 || !strings.Contains(errs, "may not") {
		t.Errorf("domains:add on another app by an app key: %d %q", code, errs)
	}
	if code, _, errs := runDomainCmd(d, appKey, "tls:ca"); code == 0 || !strings.Contains(errs, "admin") {
		t.Errorf("tls:ca by an app key: %d %q", code, errs)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"domains:add", "web", "*.example.com"}, "wildcard domains are not supported"},
		{[]string{"domains:add", "web", "10.0.0.1"}, "IP address"},
		{[]string{"domains:add", "web", "bad_host.example.com"}, "not a valid host name"},
		{[]string{"domains:add", "other", "shop.example.com"}, `already mapped to app "web"`},
		{[]string{"domains:add", "web", "shop.example.com"}, `already mapped to app "web"`},
		{[]string{"domains:add", "web", "other.xcloud.test"}, `default host of app "other"`},
		{[]string{"domains:add", "web", "web.xcloud.test"}, `already the default host of app "web"`},
		{[]string{"domains:add", "web", "future.xcloud.test"}, "reserved"},
		{[]string{"domains:add", "nope", "a.example.com"}, `app "nope" does not exist`},
		{[]string{"domains:add", "web"}, "usage"},
		{[]string{"domains:remove", "other", "shop.example.com"}, `mapped to app "web", not "other"`},
		{[]string{"domains:remove", "web", "nothere.example.com"}, "not a domain of app"},
		{[]string{"tls:ca"}, "public ACME CA"},
	}
	for _, b := range bad {
		code, out, errs := runDomainCmd(d, domainAdmin, b.args...)
		if code == 0 || !strings.Contains(errs, b.want) || strings.Count(errs, "\n") != 1 || out != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want one-line error containing %q", b.args, code, out, errs, b.want)
		}
	}
	if doms, _ := st.Domains(ctx, "web"); !slices.Equal(doms, []string{"shop.example.com"}) {
		t.Errorf("web's domains after bad inputs: %v", doms)
	}
	if doms, _ := st.Domains(ctx, "other"); len(doms) != 0 {
		t.Errorf("other's domains after bad inputs: %v", doms)
	}
	// Names under an app's own default host are its to map.
	if code, _, errs := runDomainCmd(d, domainAdmin, "domains:add", "other", "a.b.other.xcloud.test"); code != 0 {
		t.Errorf("domains:add other a.b.other.xcloud.test: %q", errs)
	}

	// A proxy failure undoes the mapping.
	r.fail = errors.New("caddy says no")
	code, _, errs = runDomainCmd(d, domainAdmin, "domains:add", "web", "new.example.com")
	if code == 0 || !strings.Contains(errs, "nothing changed") || !strings.Contains(errs, "caddy says no") {
		t.Errorf("domains:add with a failing proxy: %d %q", code, errs)
	}
	if doms, _ := st.Domains(ctx, "web"); !slices.Equal(doms, []string{"shop.example.com"}) {
		t.Errorf("web's domains after a failed add: %v", doms)
	}
	code, _, errs = runDomainCmd(d, domainAdmin, "domains:remove", "web", "shop.example.com")
	if code == 0 || !strings.Contains(errs, "nothing changed") {
		t.Errorf("domains:remove with a failing proxy: %d %q", code, errs)
	}
	if doms, _ := st.Domains(ctx, "web"); !slices.Equal(doms, []string{"shop.example.com"}) {
		t.Errorf("web's domains after a failed remove: %v", doms)
	}
	r.fail = nil

	if code, out, errs := runDomainCmd(d, domainAdmin, "domains:remove", "web", "SHOP.example.com"); code != 0 || !strings.Contains(out, "Removed shop.example.com") {
		t.Fatalf("domains:remove: %d %q %q", code, out, errs)
	}
	if got := r.hosts("web"); !slices.Equal(got, []string{"web.xcloud.test"}) {
		t.Errorf("routed hosts after remove %v", got)
	}
	evs, err := st.ListEvents(ctx, "web", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Contains(types, store.EventDomainMapped) || !slices.Contains(types, store.EventDomainUnmapped) {
		t.Errorf("events %v lack domain:mapped/unmapped", types)
	}
}

func TestTLSCA(t *testing.T) {
	d, _, _ := newDomainsDaemon(t, "internal")
	if code, out, errs := runDomainCmd(d, domainAdmin, "tls:ca"); code != 0 || !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("tls:ca in internal mode: %d %q %q", code, out, errs)
	}
	if code, out, errs := runDomainCmd(d, domainAdmin, "domains:add", "web", "shop.example.com"); code != 0 || !strings.Contains(out, "tls:ca") {
		t.Errorf("domains:add in internal mode: %d %q %q", code, out, errs)
	}
	d, _, _ = newDomainsDaemon(t, "off")
	if code, _, errs := runDomainCmd(d, domainAdmin, "tls:ca"); code == 0 || !strings.Contains(errs, "TLS is off") {
		t.Errorf("tls:ca with TLS off: %d %q", code, errs)
	}
	if code, out, errs := runDomainCmd(d, domainAdmin, "domains:add", "web", "shop.example.com"); code != 0 || !strings.Contains(out, "http://shop.example.com") {
		t.Errorf("domains:add with TLS off: %d %q %q", code, out, errs)
	}
}

// TestDomainsNoImpersonation: no app may map a name that looks like another
// app's (x.OTHER.<base_domain>, or one an app yet to be created would own),
// and only admins may map the base domain itself.
func TestDomainsNoImpersonation(t *testing.T) {
	ctx := context.Background()
	d, st, _ := newDomainsDaemon(t, "acme")
	webKey := gitreceive.Identity{Name: "dev", Apps: []string{"web"}}
	for _, tc := range []struct {
		id   gitreceive.Identity
		host string
		want string
	}{
		{webKey, "x.other.xcloud.test", `x.other.xcloud.test is under other.xcloud.test, the default host of app "other": only other may map names under it`},
		{domainAdmin, "a.b.other.xcloud.test", `under other.xcloud.test, the default host of app "other"`},
		{webKey, "X.Other.xcloud.test.", `under other.xcloud.test`},
		{webKey, "x.future.xcloud.test", `x.future.xcloud.test is reserved: it is under future.xcloud.test, the default host an app "future" would have`},
		{webKey, "xcloud.test", "xcloud.test is the base domain, the parent of every app's host; only an admin key may map it"},
	} {
		code, out, errs := runDomainCmd(d, tc.id, "domains:add", "web", tc.host)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 || out != "" {
			t.Errorf("domains:add web %s by %s: code %d, stdout %q, stderr %q; want one line containing %q", tc.host, tc.id.Name, code, out, errs, tc.want)
		}
	}
	if doms, _ := st.Domains(ctx, "web"); len(doms) != 0 {
		t.Fatalf("web's domains after refused names: %v", doms)
	}
	for _, tc := range []struct {
		id   gitreceive.Identity
		host string
	}{
		{webKey, "api.web.xcloud.test"}, // under web's own host
		{webKey, "1x.xcloud.test"},      // no app can be called 1x
		{domainAdmin, "xcloud.test"},    // admins may serve the apex
		{webKey, "other.xcloud.test.example.com"},
	} {
		if code, _, errs := runDomainCmd(d, tc.id, "domains:add", "web", tc.host); code != 0 {
			t.Errorf("domains:add web %s by %s: %d %q", tc.host, tc.id.Name, code, errs)
		}
	}
}

// TestURLsNamePort: with the proxy off its scheme's default port, printed
// URLs carry the port, so they work as printed.
func TestURLsNamePort(t *testing.T) {
	d, _, _ := newDomainsDaemon(t, "internal")
	if got := d.eng.AppURL("web"); got != "https://web.xcloud.test" {
		t.Errorf("AppURL without URLPort = %q", got)
	}
	d, _, _ = newDomainsDaemonPort(t, "internal", "8443")
	if got := d.eng.AppURL("web"); got != "https://web.xcloud.test:8443" {
		t.Errorf("AppURL with URLPort 8443 = %q", got)
	}
	if code, out, errs := runDomainCmd(d, domainAdmin, "domains:add", "web", "shop.example.com"); code != 0 || !strings.Contains(out, "https://shop.example.com:8443\n") {
		t.Errorf("domains:add: %d %q %q", code, out, errs)
	}
	code, out, errs := runDomainCmd(d, domainAdmin, "domains", "web")
	if code != 0 || !strings.Contains(out, "https://web.xcloud.test:8443\n") || !strings.Contains(out, "https://shop.example.com:8443\n") {
		t.Errorf("domains: %d %q %q", code, out, errs)
	}
}
