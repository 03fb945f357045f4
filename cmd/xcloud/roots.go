package main

import (
	"crypto/x509"
	"log/slog"
)

// checkSystemRoots logs an error when the system has no certificate
// authorities: xcloud does not embed a copy of them (go.mod replaces
// Caddy's fallback bundle), and without them the ACME issuer cannot reach
// its CA over HTTPS, so no certificate is ever issued. It is called only for
// tls.mode = "acme", which loads the roots on its first order anyway.
func checkSystemRoots(logger *slog.Logger, load func() (*x509.CertPool, error)) bool {
	pool, err := load()
	if err == nil && pool != nil && !pool.Equal(x509.NewCertPool()) {
		return true
	}
	logger.Error("no system certificate authorities found (install the ca-certificates package, or set SSL_CERT_FILE): tls.mode acme cannot reach its CA to get certificates", "err", err)
	return false
}
