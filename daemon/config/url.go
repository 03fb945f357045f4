package config

import "net"

// URLScheme is how app URLs start: https unless TLS is off.
func (c *Config) URLScheme() string {
	if c.TLS.Mode == "off" {
		return "http"
	}
	return "https"
}

// URLPort is the port app URLs must name to be reachable as printed: that
// of the listener serving their scheme (https_listen with TLS on, else
// listen), or "" when it is the scheme's default (443, 80).
func (c *Config) URLPort() string {
	listen, def := c.HTTP.HTTPSListen, "443"
	if c.URLScheme() == "http" {
		listen, def = c.HTTP.Listen, "80"
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == def {
		return ""
	}
	return port
}
