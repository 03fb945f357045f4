package daemon

// Custom domains (domains, domains:add, domains:remove) and the local CA
// (tls:ca).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"

	"github.com/xcloud-dev/xcloud/store"
)

func invalidHost(format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...), Err: ErrInvalidDomain}
}

// idnaProfile converts internationalised names to their ASCII (punycode)
// form and enforces the letters-digits-hyphen rules of host names.
var idnaProfile = idna.Lookup

// normalizeDomain validates a custom domain as typed by a user and returns
// its canonical form: lower-case, ASCII (an internationalised name becomes
// punycode), without a trailing dot. Wildcards, IP addresses, ports, paths,
// URLs and single-label names are rejected with a message saying why.
func normalizeDomain(raw string) (string, error) {
	h := strings.TrimSpace(raw)
	if h == "" {
		return "", invalidHost("empty host name")
	}
	if strings.Contains(h, "://") {
		return "", invalidHost("%q is a URL; give only the host name, e.g. www.example.com", raw)
	}
	if strings.Contains(h, "*") {
		return "", invalidHost("%q: wildcard domains are not supported (they would need on-demand TLS); add each host name", raw)
	}
	if strings.ContainsAny(h, "/?#") {
		return "", invalidHost("%q: give only the host name, without a path", raw)
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return "", invalidHost("%q is an IP address; map a DNS name that points at this host", raw)
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if net.ParseIP(strings.Trim(host, "[]")) != nil {
			return "", invalidHost("%q is an IP address; map a DNS name that points at this host", raw)
		}
		return "", invalidHost("%q: give the host name without a port (%s); the proxy serves ports 80 and 443", raw, port)
	}
	if strings.Contains(h, ":") {
		return "", invalidHost("%q: ':' is not allowed in a host name", raw)
	}
	if strings.HasSuffix(h, "..") {
		return "", invalidHost("%q: empty label in host name", raw)
	}
	h = strings.TrimSuffix(h, ".")
	ascii, err := idnaProfile.ToASCII(h)
	if err != nil {
		return "", invalidHost("%q is not a valid host name (%s)", raw, strings.TrimPrefix(err.Error(), "idna: "))
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", invalidHost("%q is longer than 253 characters", raw)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", invalidHost("%q is not a fully qualified domain name; want e.g. www.example.com", raw)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", invalidHost("%q is not a valid host name: %v", raw, err)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", invalidHost("%q is not a valid host name: top-level label %q is numeric", raw, tld)
	}
	return ascii, nil
}

// checkLabel enforces the LDH rule on one ASCII label.
func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is longer than 63 characters", l)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q is not allowed (letters, digits and hyphens only)", c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	return nil
}

// checkDomainOwner rejects hosts that are, or look like, another app's:
// NAME.<base_domain> is the default host of the app NAME (two apps claiming
// one host would make the whole routing table invalid), and names under it
// (x.NAME.<base_domain>) would let one app pass for another, so only NAME
// may map them. The base domain itself is for admins to map: under it,
// every app has its host.
func (d *Daemon) checkDomainOwner(ctx context.Context, app, host string, admin bool) error {
	base := strings.ToLower(strings.TrimSuffix(d.opts.BaseDomain, "."))
	if base == "" {
		return nil
	}
	if host == base {
		if admin {
			return nil
		}
		return invalidHost("%s is the base domain, the parent of every app's host; only an admin key may map it", host)
	}
	rest, ok := strings.CutSuffix(host, "."+base)
	if !ok {
		return nil
	}
	// The label next to the base domain names the app whose host this is.
	label := rest[strings.LastIndex(rest, ".")+1:]
	if store.ValidateAppName(label) != nil {
		return nil // no app can be called that
	}
	under := label != rest
	owner := label + "." + base
	if label == app {
		if under {
			return nil // the app's own subdomains
		}
		return &Error{Msg: fmt.Sprintf("%s is already the default host of app %q", host, app), Err: ErrDomainTaken}
	}
	if _, err := d.store.GetApp(ctx, label); err == nil {
		if under {
			return &Error{Msg: fmt.Sprintf("%s is under %s, the default host of app %q: only %s may map names under it", host, owner, label, label), Err: ErrDomainTaken}
		}
		return &Error{Msg: fmt.Sprintf("%s is the default host of app %q", host, label), Err: ErrDomainTaken}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if under {
		return invalidHost("%s is reserved: it is under %s, the default host an app %q would have", host, owner, label)
	}
	return invalidHost("%s is reserved: NAME.%s is the default host of the app NAME", host, base)
}

// HostURL is the URL the proxy serves host at, with the port when its
// listener is not on the scheme's default one, so it works as printed.
func (d *Daemon) HostURL(host string) string {
	if d.opts.URLPort != "" {
		host = net.JoinHostPort(host, d.opts.URLPort)
	}
	return d.opts.Scheme + "://" + host
}

// domainOwner returns the app host is mapped to, or "".
func (d *Daemon) domainOwner(ctx context.Context, host string) (string, error) {
	apps, err := d.store.ListApps(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range apps {
		hosts, err := d.store.Domains(ctx, a.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return "", err
		}
		for _, h := range hosts {
			if h == host {
				return a.Name, nil
			}
		}
	}
	return "", nil
}

func (d *Daemon) domainTaken(ctx context.Context, app, host string) error {
	if err := d.hostReserved(host, ""); err != nil {
		return err
	}
	owner, err := d.domainOwner(ctx, host)
	if err != nil {
		return err
	}
	switch owner {
	case "":
		return nil
	case app:
		return &Error{Msg: fmt.Sprintf("%s is already mapped to app %q", host, app), Err: ErrDomainTaken}
	default:
		return &Error{Msg: fmt.Sprintf("%s is already mapped to app %q; remove it there first", host, owner), Err: ErrDomainTaken}
	}
}

// AddDomainRequest maps a custom host name to an app.
type AddDomainRequest struct {
	App  string
	Host string // as typed: normalised (lower case, punycode) before use
	// Admin allows the base domain itself, which is the parent of every
	// app's host.
	Admin bool
}

// AddedDomain is what AddDomain mapped.
type AddedDomain struct {
	Host    string `json:"host"`              // canonical form
	Unicode string `json:"unicode,omitempty"` // the internationalised form, when it differs from Host
	URL     string `json:"url"`
	// Released is false when the app has no release yet: the domain is
	// served once it is deployed.
	Released bool   `json:"released"`
	TLSMode  string `json:"tls_mode"` // tls.mode: how the host gets its certificate
}

// AddDomain maps a host to an app and routes it. Rejected hosts are an
// *Error matching ErrInvalidDomain or ErrDomainTaken.
func (d *Daemon) AddDomain(ctx context.Context, req AddDomainRequest) (AddedDomain, error) {
	app := req.App
	if d.isPreview(ctx, app) {
		return AddedDomain{}, InputError{Msg: fmt.Sprintf("%s is a preview: it is served at its own host only", app)}
	}
	host, err := normalizeDomain(req.Host)
	if err != nil {
		return AddedDomain{}, err
	}
	if err := d.addDomain(ctx, app, host, req.Admin); err != nil {
		return AddedDomain{}, err
	}
	added := AddedDomain{Host: host, URL: d.HostURL(host), Released: true, TLSMode: d.opts.TLSMode}
	if u, err := idnaProfile.ToUnicode(host); err == nil && u != host {
		added.Unicode = u
	}
	if a, err := d.store.GetApp(ctx, app); err == nil && a.CurrentRelease == 0 {
		added.Released = false
	}
	return added, nil
}

func (d *Daemon) addDomain(ctx context.Context, app, host string, admin bool) error {
	if err := d.checkDomainOwner(ctx, app, host, admin); err != nil {
		return err
	}
	if err := d.domainTaken(ctx, app, host); err != nil {
		return err
	}
	if err := d.store.AddDomain(ctx, app, host); err != nil {
		if errors.Is(err, store.ErrExists) {
			// Lost a race with another domains:add: name the winner.
			if taken := d.domainTaken(ctx, app, host); taken != nil {
				return taken
			}
		}
		return err
	}
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("routes not applied; unmapping the new domain", "app", app, "host", host, "err", err)
		if uerr := d.store.RemoveDomain(context.WithoutCancel(ctx), app, host); uerr != nil {
			d.log.Error("undo domain mapping", "app", app, "host", host, "err", uerr)
			return fmt.Errorf("%s could not be served (%v) and undoing the mapping failed too (%v); run domains:remove %s %s", host, err, uerr, app, host)
		}
		// The previous routes are still installed; re-applying them is
		// best effort.
		if rerr := d.applyRoutes(context.WithoutCancel(ctx)); rerr != nil {
			d.log.Error("re-apply routes", "err", rerr)
		}
		return fmt.Errorf("%s could not be served, nothing changed: %v", host, err)
	}
	return nil
}

// RemoveDomain unmaps a host from an app and returns the host's canonical
// form. A host the app does not have is an *Error matching
// ErrDomainNotMapped.
func (d *Daemon) RemoveDomain(ctx context.Context, app, raw string) (string, error) {
	host, err := normalizeDomain(raw)
	if err != nil {
		// Let a host that was stored before validation existed be removed.
		host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(raw)), ".")
	}
	return host, d.removeDomain(ctx, app, host)
}

func (d *Daemon) removeDomain(ctx context.Context, app, host string) error {
	hosts, err := d.store.Domains(ctx, app)
	if err != nil {
		return err
	}
	found := false
	for _, h := range hosts {
		found = found || h == host
	}
	if !found {
		owner, err := d.domainOwner(ctx, host)
		if err != nil {
			return err
		}
		if owner != "" {
			return &Error{Msg: fmt.Sprintf("%s is mapped to app %q, not %q", host, owner, app), Err: ErrDomainNotMapped}
		}
		return &Error{Msg: fmt.Sprintf("%s is not a domain of app %q", host, app), Err: ErrDomainNotMapped}
	}
	if err := d.store.RemoveDomain(ctx, app, host); err != nil {
		return err
	}
	if err := d.applyRoutes(ctx); err != nil {
		d.log.Error("routes not applied; mapping the domain again", "app", app, "host", host, "err", err)
		if uerr := d.store.AddDomain(context.WithoutCancel(ctx), app, host); uerr != nil {
			d.log.Error("undo domain removal", "app", app, "host", host, "err", uerr)
			return fmt.Errorf("%s could not be unrouted (%v) and restoring the mapping failed too (%v)", host, err, uerr)
		}
		return fmt.Errorf("%s could not be unrouted, nothing changed: %v", host, err)
	}
	return nil
}

// DomainsInfo is where an app is served: its default host and its custom
// domains.
type DomainsInfo struct {
	App         string   `json:"app"`
	DefaultHost string   `json:"default_host"`
	URL         string   `json:"url"`
	Domains     []string `json:"domains"`
}

// Domains returns the app's default host and custom domains.
func (d *Daemon) Domains(ctx context.Context, app string) (DomainsInfo, error) {
	hosts, err := d.store.Domains(ctx, app)
	if err != nil {
		return DomainsInfo{}, err
	}
	return DomainsInfo{App: app, DefaultHost: d.appHost(app), URL: d.AppURL(app), Domains: append([]string{}, hosts...)}, nil
}

// LocalCA returns the PEM root certificate of the local CA that signs the
// certificates of tls.mode = "internal". Other modes are an *Error
// matching ErrNoLocalCA.
func (d *Daemon) LocalCA() ([]byte, error) {
	switch d.opts.TLSMode {
	case "internal":
	case "off", "":
		return nil, &Error{Msg: "TLS is off (tls.mode = \"off\"): there is no CA to trust", Err: ErrNoLocalCA}
	default:
		return nil, &Error{Msg: fmt.Sprintf("tls.mode is %q: certificates come from a public ACME CA that clients already trust; tls:ca is for tls.mode = \"internal\"", d.opts.TLSMode), Err: ErrNoLocalCA}
	}
	if d.opts.CACertificate == nil {
		return nil, errors.New("the proxy does not expose its CA")
	}
	return d.opts.CACertificate()
}
