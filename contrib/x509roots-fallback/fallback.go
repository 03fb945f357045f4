// Package fallback stands in for golang.org/x/crypto/x509roots/fallback,
// which Caddy's command package imports to embed a copy of the public
// certificate authorities in case the system has none. go.mod replaces the
// real package with this empty one: the embedded copy is parsed at start-up
// and held for the life of the daemon (idle RssAnon 0.5 MB lower without it,
// measured in the daemon; bench/README.md, seventh round), and
// it only changes when xcloud is rebuilt, while the system's ca-certificates
// package gets the distribution's security updates. contrib/podman-setup.sh
// installs ca-certificates, and the daemon says at start when the system
// has no roots and tls.mode is acme.
package fallback
