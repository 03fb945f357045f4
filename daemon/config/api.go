package config

import "strings"

// API configures the HTTP JSON API (and the dashboard) that the embedded
// proxy serves on the daemon's own host.
type API struct {
	// Host is the name the API answers at, over HTTPS whenever TLS is on.
	// Default: xcloud.<base_domain>. "off" serves no API.
	Host string `toml:"host"`
}

// APIOff is the [api] host that turns the API off.
const APIOff = "off"

// validateAPI fills in the default host and checks it: a DNS name, not an
// app's wildcard parent (base_domain itself).
func (c *Config) validateAPI(bad func(key, format string, args ...any) error) error {
	if c.API.Host == "" {
		c.API.Host = "xcloud." + c.BaseDomain
	}
	if c.API.Host == APIOff {
		return nil
	}
	c.API.Host = strings.TrimSuffix(c.API.Host, ".")
	if !dnsName(c.API.Host) {
		return bad("api.host", "must be a lowercase DNS name like \"xcloud.example.com\" or \"off\", got %q", c.API.Host)
	}
	if c.API.Host == c.BaseDomain {
		return bad("api.host", "must not be base_domain itself (%q): use a name such as xcloud.%s", c.BaseDomain, c.BaseDomain)
	}
	return nil
}
