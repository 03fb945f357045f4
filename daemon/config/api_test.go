package config

import (
	"strings"
	"testing"
)

func TestAPIHost(t *testing.T) {
	c, err := parse(t, "base_domain = \"apps.example.com\"\n", nil)
	if err != nil || c.API.Host != "xcloud.apps.example.com" {
		t.Fatalf("default api.host = %q, %v; want xcloud.apps.example.com", c.API.Host, err)
	}
	for src, want := range map[string]string{
		"[api]\nhost = \"api.example.com.\"\n": "api.example.com",
		"[api]\nhost = \"off\"\n":              "off",
	} {
		if c, err := parse(t, src, nil); err != nil || c.API.Host != want {
			t.Errorf("%q: api.host = %q, %v; want %q", src, c.API.Host, err, want)
		}
	}
	if c, err := parse(t, "", map[string]string{"XCLOUD_API_HOST": "ctl.example.com"}); err != nil || c.API.Host != "ctl.example.com" {
		t.Errorf("XCLOUD_API_HOST: %q, %v", c.API.Host, err)
	}
	for _, src := range []string{
		"[api]\nhost = \"Bad Host\"\n",
		"[api]\nhost = \"https://x.example.com\"\n",
		"base_domain = \"apps.example.com\"\n[api]\nhost = \"apps.example.com\"\n",
		"[api]\nhost = 3\n",
		"[api]\nport = 80\n",
	} {
		if _, err := parse(t, src, nil); err == nil || !strings.Contains(err.Error(), "api.") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line naming api.*", src, err)
		}
	}
}
