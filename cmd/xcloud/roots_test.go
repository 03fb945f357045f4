package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestCheckSystemRoots(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	one := x509.NewCertPool()
	one.AddCert(root)
	for _, tc := range []struct {
		name string
		pool *x509.CertPool
		err  error
		ok   bool
	}{
		{"a root", one, nil, true},
		{"empty", x509.NewCertPool(), nil, false},
		{"error", nil, errors.New("no roots"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			ok := checkSystemRoots(slog.New(slog.NewTextHandler(&buf, nil)), func() (*x509.CertPool, error) { return tc.pool, tc.err })
			if ok != tc.ok {
				t.Fatalf("checkSystemRoots = %v, want %v", ok, tc.ok)
			}
			if logged := strings.Contains(buf.String(), "ca-certificates"); logged == tc.ok {
				t.Fatalf("logged %q; want a line naming ca-certificates only without roots", buf.String())
			}
		})
	}
}
