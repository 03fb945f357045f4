package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want string
		err      string // substring of the error; "" = valid
	}{
		{in: "shop.example.com", want: "shop.example.com"},
		{in: "Shop.Example.COM", want: "shop.example.com"},
		{in: "shop.example.com.", want: "shop.example.com"},
		{in: "  www.example.org ", want: "www.example.org"},
		{in: "a-b.c-d.example", want: "a-b.c-d.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "MÜNCHEN.de", want: "xn--mnchen-3ya.de"},
		{in: "1.example.com", want: "1.example.com"},
		{in: strings.Repeat("a", 63) + ".example", want: strings.Repeat("a", 63) + ".example"},

		{in: "", err: "empty"},
		{in: "*.example.com", err: "wildcard domains are not supported (they would need on-demand TLS)"},
		{in: "shop.*.com", err: "wildcard"},
		{in: "1.2.3.4", err: "IP address"},
		{in: "::1", err: "IP address"},
		{in: "[::1]", err: "IP address"},
		{in: "[2001:db8::1]:443", err: "IP address"},
		{in: "1.2.3.4:80", err: "IP address"},
		{in: "shop.example.com:8443", err: "without a port"},
		{in: "shop.example.com/path", err: "without a path"},
		{in: "https://shop.example.com", err: "is a URL"},
		{in: "shop_1.example.com", err: "not a valid host name"},
		{in: "sh op.example.com", err: "not a valid host name"},
		{in: "shop!.example.com", err: "not a valid host name"},
		{in: "-shop.example.com", err: "not a valid host name"},
		{in: "shop-.example.com", err: "not a valid host name"},
		{in: "a..example.com", err: "empty label"},
		{in: "example.com..", err: "empty label"},
		{in: ".example.com", err: "not a valid host name"},
		{in: "localhost", err: "fully qualified"},
		{in: "example.123", err: "numeric"},
		{in: "xn--zz.example", err: "not a valid host name"},
		{in: strings.Repeat("a", 64) + ".example", err: "63"},
		{in: strings.Repeat("abcdefghi.", 26) + "com", err: "253"},
		{in: "shop@example.com", err: "not a valid host name"},
	}
	for _, tt := range tests {
		got, err := normalizeDomain(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("normalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("normalizeDomain(%q) = %q, want an error containing %q", tt.in, got, tt.err)
			continue
		}
		if !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("normalizeDomain(%q) error %q, want one line containing %q", tt.in, err, tt.err)
		}
		if !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("normalizeDomain(%q) error %q does not wrap ErrInvalidName", tt.in, err)
		}
	}
}

// fakeRouter records applied routes and fails when told to.
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
