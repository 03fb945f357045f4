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

// SSHAddr is where users reach the SSH door, for the git remotes and ssh
// examples the daemon prints: base_domain (an app's host resolves to the
// box through the wildcard record, the base domain itself when mapped)
// and the port of ssh.listen.
func (c *Config) SSHAddr() string {
	_, port, err := net.SplitHostPort(c.SSH.Listen)
	if err != nil || port == "" {
		return ""
	}
	return net.JoinHostPort(c.BaseDomain, port)
}
