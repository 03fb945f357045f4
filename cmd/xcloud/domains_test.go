package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCustomDomainHTTPS maps a custom domain to an app on a daemon with
// tls.mode = "internal" and reaches it over HTTPS with the system curl,
// trusting the CA that tls:ca prints.
func TestCustomDomainHTTPS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		missing(t, "curl is not installed")
	}
	h := newHarnessTLS(t, "internal")
	r := newRepo(t, h, h.key)
	app, domain := "shop", "shop.example.test"

	r.write("Dockerfile", containerfile)
	helloBinary(t, filepath.Join(r.dir, "app"), "hello shop")
	r.commit("v1")
	out, err := r.push(h.remote(app), "main")
	if err != nil {
		t.Fatalf("push failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("https://%s.%s:%d", app, baseDomain, h.httpsPort)) {
		t.Errorf("push output does not print the https URL:\n%s", out)
	}

	stdout, stderr, err := h.ssh(h.key, "domains:add", app, "Shop.Example.Test.")
	if err != nil {
		t.Fatalf("domains:add: %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "https://"+domain) || !strings.Contains(stdout, "tls:ca") {
		t.Errorf("domains:add output lacks the URL or the tls:ca hint:\n%s", stdout)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	stdout, stderr, err = h.ssh(h.key, "tls:ca")
	if err != nil || !strings.HasPrefix(stdout, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("tls:ca: %v\n%s%s", err, stdout, stderr)
	}
	writeFile(t, ca, stdout)

	// The certificate is issued asynchronously after the route appears:
	// poll until curl, verifying against the CA, gets the app's answer.
	httpsURL := fmt.Sprintf("https://%s:%d/", domain, h.httpsPort)
	resolve := fmt.Sprintf("%s:%d:127.0.0.1", domain, h.httpsPort)
	var last string
	waitFor(t, 30*time.Second, "the app over HTTPS at "+domain, func() bool {
		body, errOut, err := runCurl("--cacert", ca, "--resolve", resolve, httpsURL)
		last = fmt.Sprintf("%v: %s %s", err, body, errOut)
		return err == nil && strings.TrimSpace(body) == "hello shop"
	})
	t.Logf("curl %s: %s", httpsURL, last)

	// The default host is served over HTTPS too, with the same CA.
	def := app + "." + baseDomain
	waitFor(t, 30*time.Second, "the app over HTTPS at "+def, func() bool {
		body, _, err := runCurl("--cacert", ca, "--resolve", fmt.Sprintf("%s:%d:127.0.0.1", def, h.httpsPort),
			fmt.Sprintf("https://%s:%d/", def, h.httpsPort))
		return err == nil && strings.TrimSpace(body) == "hello shop"
	})

	// Plain HTTP redirects to HTTPS.
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/some/path?q=1", h.httpPort)
	res, _, err := runCurl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: "+domain, httpURL)
	if want := fmt.Sprintf("308 https://%s:%d/some/path?q=1", domain, h.httpsPort); err != nil || res != want {
		t.Errorf("plain HTTP to %s: %q (%v), want %q", domain, res, err, want)
	}

	wantDomains := func(app string, want ...string) {
		t.Helper()
		stdout, stderr, err := h.ssh(h.key, "domains", app, "--json")
		if err != nil {
			t.Fatalf("domains %s --json: %v %s", app, err, stderr)
		}
		var got struct {
			App         string   `json:"app"`
			DefaultHost string   `json:"default_host"`
			URL         string   `json:"url"`
			Domains     []string `json:"domains"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("domains --json: %v\n%s", err, stdout)
		}
		if got.App != app || got.URL != fmt.Sprintf("https://%s.%s:%d", app, baseDomain, h.httpsPort) || !slices.Equal(got.Domains, append([]string{}, want...)) {
			t.Errorf("domains %s --json = %+v, want domains %v", app, got, want)
		}
	}
	wantDomains(app, domain)

	// Bad input: a one-line error, a non-zero exit, nothing changed.
	if _, stderr, err := h.ssh(h.key, "apps:create", "other"); err != nil {
		t.Fatalf("apps:create other: %v %s", err, stderr)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"domains:add", app, "*.example.test"}, "wildcard domains are not supported"},
		{[]string{"domains:add", app, "192.0.2.7"}, "IP address"},
		{[]string{"domains:add", app, "bad_name!.example.test"}, "not a valid host name"},
		{[]string{"domains:add", app, "shop.example.test:8443"}, "without a port"},
		{[]string{"domains:add", "other", domain}, `already mapped to app "shop"`},
		{[]string{"domains:add", "other", def}, `default host of app "shop"`},
		{[]string{"domains:add", "nope", "nope.example.test"}, `app "nope" does not exist`},
		{[]string{"domains:remove", "other", domain}, `mapped to app "shop"`},
		{[]string{"domains", "nope"}, `app "nope" does not exist`},
	} {
		stdout, stderr, err := h.ssh(h.key, bad.args...)
		if err == nil || !strings.Contains(stderr, bad.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("%v: err %v, stdout %q, stderr %q; want a one-line error containing %q", bad.args, err, stdout, stderr, bad.want)
		}
	}
	wantDomains(app, domain)
	wantDomains("other")
	if body, _, err := runCurl("--cacert", ca, "--resolve", resolve, httpsURL); err != nil || strings.TrimSpace(body) != "hello shop" {
		t.Errorf("after bad inputs: %s %v", body, err)
	}

	// A restart re-installs the domain's route; the local CA (and the
	// certificate) persist under data_dir/caddy.
	h.restartWith()
	waitFor(t, 30*time.Second, "the app over HTTPS at "+domain+" after a restart", func() bool {
		body, errOut, err := runCurl("--cacert", ca, "--resolve", resolve, httpsURL)
		last = fmt.Sprintf("%v: %s %s", err, body, errOut)
		return err == nil && strings.TrimSpace(body) == "hello shop"
	})
	caPEM, _ := os.ReadFile(ca)
	if stdout, _, err := h.ssh(h.key, "tls:ca"); err != nil || stdout != string(caPEM) {
		t.Errorf("tls:ca after a restart printed another CA (%v):\n%s", err, stdout)
	}

	// Removing the domain stops serving it: the catch-all answers 404.
	if stdout, stderr, err := h.ssh(h.key, "domains:remove", app, domain); err != nil || !strings.Contains(stdout, "Removed "+domain) {
		t.Fatalf("domains:remove: %v\n%s%s", err, stdout, stderr)
	}
	wantDomains(app)
	plain := fmt.Sprintf("http://127.0.0.1:%d/", h.httpPort)
	waitFor(t, 30*time.Second, domain+" to answer 404 over HTTP", func() bool {
		res, _, err := runCurl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: "+domain, plain)
		last = fmt.Sprintf("%s %v", res, err)
		return err == nil && res == "404"
	})
	body, _, err := runCurl("-H", "Host: "+domain, plain)
	if err != nil || !strings.Contains(body, "no app is served at "+domain) {
		t.Errorf("plain HTTP to a removed domain: %q %v", body, err)
	}
	// Over HTTPS (without verification: no certificate names the host
	// any more) the catch-all answers too.
	res, _, err = runCurl("--insecure", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", resolve, httpsURL)
	if err != nil || res != "404" {
		t.Errorf("HTTPS to a removed domain: %q %v, want 404", res, err)
	}
	// The default host still serves.
	if code, _, err := runCurl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: "+def, plain); err != nil || code != "308" {
		t.Errorf("plain HTTP to the default host after the removal: %q %v, want 308", code, err)
	}
}

// TestTLSCAWhenOff checks that tls:ca explains itself when TLS is off, and
// that app URLs stay http.
func TestTLSCAWhenOff(t *testing.T) {
	h := newHarness(t)
	stdout, stderr, err := h.ssh(h.key, "tls:ca")
	if err == nil || stdout != "" || !strings.Contains(stderr, "TLS is off") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("tls:ca with TLS off: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	if _, stderr, err := h.ssh(h.key, "apps:create", "plain"); err != nil {
		t.Fatalf("apps:create: %v %s", err, stderr)
	}
	stdout, stderr, err = h.ssh(h.key, "domains:add", "plain", "plain.example.test")
	if err != nil || !strings.Contains(stdout, "http://plain.example.test") || strings.Contains(stdout, "https://") {
		t.Errorf("domains:add with TLS off: %v\n%s%s", err, stdout, stderr)
	}
}

// runCurl runs the system curl quietly; it returns stdout, stderr and the exit
// error (non-nil for transport and TLS failures).
func runCurl(args ...string) (string, string, error) {
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...)
	cmd.Env = append(os.Environ(), "no_proxy=*", "NO_PROXY=*")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
