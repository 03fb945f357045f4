package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, src string, env map[string]string) (Config, error) {
	t.Helper()
	return Parse("xcloud.toml", strings.NewReader(src), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func TestDefaultsValidate(t *testing.T) {
	c, err := parse(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Secrets.KeyFile != "/var/lib/xcloud/secret.key" {
		t.Errorf("secret key default = %q", c.Secrets.KeyFile)
	}
	if c.SSH.HostKey != "/var/lib/xcloud/ssh_host_ed25519_key" {
		t.Errorf("host key default = %q", c.SSH.HostKey)
	}
	if c.Build.Concurrency != 2 || c.TLS.Mode != "acme" || c.BaseDomain != "xcloud.localhost" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestExampleParses(t *testing.T) {
	f, err := os.Open("../../xcloud.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse("xcloud.toml.example", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The example documents the defaults: it must not drift from them.
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every field, so a new section cannot be skipped: the example's
	// [[notify]] tables are comments, so it has none.
	if len(c.Notify) != 0 {
		t.Errorf("example has notifiers: %+v", c.Notify)
	}
	ce, de := reflect.ValueOf(c), reflect.ValueOf(d)
	for i := range ce.NumField() {
		name := ce.Type().Field(i).Name
		if name == "Notify" {
			continue
		}
		if !reflect.DeepEqual(ce.Field(i).Interface(), de.Field(i).Interface()) {
			t.Errorf("example's %s differs from the default:\nexample %+v\ndefault %+v", name, ce.Field(i).Interface(), de.Field(i).Interface())
		}
	}
}

func TestValues(t *testing.T) {
	c, err := parse(t, `
data_dir = "/srv/x"
base_domain = "apps.example.com"
[ssh]
listen = "127.0.0.1:2200"
host_key = "hk"
[build]
concurrency = 4
timeout = "10m"
[deploy]
stop_grace = "0s"
`, map[string]string{"XCLOUD_HTTP_LISTEN": "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if c.SSH.HostKey != "/srv/x/hk" {
		t.Errorf("relative host key not under data_dir: %q", c.SSH.HostKey)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("env override not applied: %q", c.HTTP.Listen)
	}
	if c.Build.Concurrency != 4 || c.Build.Timeout.Duration != 10*time.Minute || c.Deploy.StopGrace.Duration != 0 {
		t.Errorf("values not decoded: %+v", c)
	}
	if got := c.Path("repos"); got != "/srv/x/repos" {
		t.Errorf("Path = %q", got)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string
	}{
		{"unknown top key", "data_dir = \"/x\"\nbogus = 1\n", "xcloud.toml:2: bogus: unknown key"},
		{"unknown nested key", "[ssh]\nlisten = \":22\"\nlistn = \":2\"\n", "xcloud.toml:3: ssh.listn: unknown key"},
		{"unknown table", "\n[sssh]\nlisten = \":22\"\n", "xcloud.toml:2: sssh"},
		{"bad enum", "[tls]\n\nmode = \"maybe\"\n", "xcloud.toml:3: tls.mode: must be one of acme, internal, off"},
		{"bad type", "[build]\nconcurrency = \"two\"\n", "xcloud.toml:2: build.concurrency"},
		{"bad range", "[build]\nconcurrency = 0\n", "xcloud.toml:2: build.concurrency: must be between 1 and 64"},
		{"bad duration", "[deploy]\nready_timeout = \"soon\"\n", "xcloud.toml:2: deploy.ready_timeout"},
		{"relative data dir", "data_dir = \"var/lib\"\n", "xcloud.toml:1: data_dir: must be an absolute path"},
		{"bad listen", "[http]\nlisten = \"eighty\"\n", "xcloud.toml:2: http.listen: must be host:port"},
		{"bad domain", "base_domain = \"Apps_Example\"\n", "xcloud.toml:1: base_domain"},
		{"bad size", "[limits]\nmemory = \"lots\"\n", "xcloud.toml:2: limits.memory"},
		{"tiny build memory", "[build]\nmemory = \"1m\"\n", "xcloud.toml:2: build.memory: must be 0 (no cap) or at least 64m"},
		{"negative cpus", "[limits]\ncpus = -1.0\n", "xcloud.toml:2: limits.cpus"},
		{"bad ulimit", "[podman]\nulimits = [\"nofile\"]\n", "xcloud.toml:2: podman.ulimits"},
		{"syntax", "[ssh\nlisten = 1\n", "xcloud.toml:2: syntax: expected"},
		{"bad stack image", "[stack]\nbuild_go = \"Go Image\"\n", "xcloud.toml:2: stack.build_go: must be a full image name"},
		{"duplicate stack image", "[stack]\nrun_node = \"localhost/xcloud/build-node:trixie\"\n", "xcloud.toml:2: stack.run_node: same image as stack.build_node"},
		{"bad stack mirror", "[stack]\nmirror = \"deb.debian.org/debian\"\n", "xcloud.toml:2: stack.mirror"},
		{"bad stack bool", "[stack]\ntrust_host_ca = \"yes\"\n", "xcloud.toml:2: stack.trust_host_ca"},
		{"negative keep_releases", "[deploy]\n\nkeep_releases = -1\n", "xcloud.toml:3: deploy.keep_releases: must be between 0 and 100"},
		{"huge keep_releases", "[deploy]\nkeep_releases = 1000\n", "xcloud.toml:2: deploy.keep_releases: must be between 0 and 100"},
		{"keep_releases not a number", "[deploy]\nkeep_releases = \"five\"\n", "xcloud.toml:2: deploy.keep_releases"},
		{"tiny cache_max", "[build]\ncache_max = \"1m\"\n", "xcloud.toml:2: build.cache_max: must be 0 (no bound) or at least 64m"},
		{"bad cache_max", "[build]\ncache_max = \"big\"\n", "xcloud.toml:2: build.cache_max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestEnvOverrideValidated(t *testing.T) {
	_, err := parse(t, "", map[string]string{"XCLOUD_TLS_MODE": "bogus"})
	if err == nil || !strings.Contains(err.Error(), "tls.mode") {
		t.Fatalf("error = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("data_dir = \"/x\"\n[ssh]\nlisten = \":22\"\n")
	f.Add("[build]\nconcurrency = 3\n[tls]\nmode = \"off\"\n")
	f.Add("[[a]]\n'b' = 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.toml", strings.NewReader(src), nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config fails revalidation: %v", err)
		}
	})
}
