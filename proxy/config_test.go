package proxy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json golden files")

func goldenRoutes() []Route {
	return []Route{
		{App: "web", Hosts: []string{"www.example.com", "Example.com."}, Upstreams: []string{"127.0.0.1:43123", "127.0.0.1:43124"}},
		{App: "api", Hosts: []string{"api.xcloud.localhost"}, Upstreams: []string{"127.0.0.1:40001"}},
		{App: "idle", Hosts: []string{"idle.xcloud.localhost"}},
		{App: "nohosts", Upstreams: []string{"127.0.0.1:40002"}},
	}
}

func TestBuildConfigGolden(t *testing.T) {
	base := Config{
		HTTPListen:  ":80",
		HTTPSListen: ":443",
		StorageDir:  "/var/lib/xcloud/caddy",
	}
	cases := map[string]Config{
		"off":      withTLS(base, TLSOff, "", ""),
		"internal": withTLS(base, TLSInternal, "", ""),
		"acme": withTLS(base, TLSACME, "ops@example.com",
			"https://acme-staging-v02.api.letsencrypt.org/directory"),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := BuildConfig(cfg, "golden", goldenRoutes())
			if err != nil {
				t.Fatalf("BuildConfig: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatalf("indent: %v", err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("BuildConfig(%s) differs from %s (run go test -update):\n%s", name, path, pretty.Bytes())
			}
		})
	}
}

func withTLS(cfg Config, mode TLSMode, email, ca string) Config {
	cfg.TLS, cfg.Email, cfg.ACMECA = mode, email, ca
	return cfg
}

func TestBuildConfigDeterministic(t *testing.T) {
	cfg := Config{HTTPListen: ":80"}
	a, err := BuildConfig(cfg, "golden", goldenRoutes())
	if err != nil {
		t.Fatal(err)
	}
	r := goldenRoutes()
	r[0], r[3] = r[3], r[0]
	r[3].Hosts = []string{"www.example.com", "example.com", "EXAMPLE.com"}
	b, err := BuildConfig(cfg, "golden", r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("order of routes/hosts changed the output:\n%s\n%s", a, b)
	}
}

func TestBuildConfigErrors(t *testing.T) {
	ok := Config{HTTPListen: ":80", HTTPSListen: ":443"}
	cases := []struct {
		name   string
		cfg    Config
		routes []Route
		want   string
	}{
		{"bad upstream", ok, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{"::::"}}}, "invalid upstream"},
		{"no port", ok, []Route{{App: "a", Hosts: []string{"a.test"}, Upstreams: []string{"127.0.0.1"}}}, "invalid upstream"},
		{"bad host", ok, []Route{{App: "a", Hosts: []string{"a test"}, Upstreams: []string{"127.0.0.1:1"}}}, "invalid host"},
		{"shared host", ok, []Route{
			{App: "a", Hosts: []string{"x.test"}, Upstreams: []string{"127.0.0.1:1"}},
			{App: "b", Hosts: []string{"X.test"}, Upstreams: []string{"127.0.0.1:2"}},
		}, "claimed by"},
		{"bad mode", withTLS(ok, "mtls", "", ""), nil, "unknown TLS mode"},
		{"no http listen", Config{}, nil, "listen address"},
		{"no https listen", Config{HTTPListen: ":80", TLS: TLSInternal}, nil, "listen address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := BuildConfig(c.cfg, "golden", c.routes)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("BuildConfig error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
