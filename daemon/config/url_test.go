package config

import "testing"

func TestURLPort(t *testing.T) {
	for _, tc := range []struct {
		mode, listen, httpsListen string
		scheme, port              string
	}{
		{"acme", ":80", ":443", "https", ""},
		{"off", ":80", ":443", "http", ""},
		{"off", "127.0.0.1:8080", ":443", "http", "8080"},
		{"off", ":8080", ":8443", "http", "8080"},
		{"internal", ":8080", ":8443", "https", "8443"},
		{"acme", ":8080", "0.0.0.0:443", "https", ""},
		{"internal", ":80", "[::1]:4443", "https", "4443"},
	} {
		c := Default()
		c.TLS.Mode, c.HTTP.Listen, c.HTTP.HTTPSListen = tc.mode, tc.listen, tc.httpsListen
		if s, p := c.URLScheme(), c.URLPort(); s != tc.scheme || p != tc.port {
			t.Errorf("tls %s, listen %s, https_listen %s: scheme %q port %q, want %q %q", tc.mode, tc.listen, tc.httpsListen, s, p, tc.scheme, tc.port)
		}
	}
}
