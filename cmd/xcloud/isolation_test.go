package main

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAppIsolation pushes two apps and has the first one's code, and a
// one-off container of it, fetch the second one's config straight from its
// container's address: both must fail, while the proxy serves both apps and
// the second app's own one-off container, on its network, gets through (so
// the probe itself works).
func TestAppIsolation(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	r.setApp("isolated", "ok")
	r.commit("app")
	a, b, c := "iso-a", "iso-b", "iso-c"
	for _, app := range []string{a, b, c} {
		if out, err := r.push(h.remote(app), "main"); err != nil {
			t.Fatalf("push %s: %v\n%s", app, err, out)
		}
	}
	if out, errOut, err := h.ssh(h.key, "config:set", b, "SECRET=b-secret"); err != nil {
		t.Fatalf("config:set: %v\n%s%s", err, out, errOut)
	}
	var web []string
	waitFor(t, 30*time.Second, "one web container of "+b, func() bool {
		web = h.appContainers(b)
		return len(web) == 1
	})
	for app, want := range map[string]string{a: h.appNetwork(a), b: h.appNetwork(b)} {
		for _, c := range h.appContainers(app) {
			if got := podmanOut(t, "inspect", c, "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); got != want {
				t.Errorf("container %s is on networks %q, want only %q", c, got, want)
			}
		}
	}
	ip := podmanOut(t, "inspect", web[0], "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	if net.ParseIP(ip) == nil {
		t.Fatalf("address of %s: %q", web[0], ip)
	}
	target := "http://" + net.JoinHostPort(ip, "5000") + "/env?name=SECRET"
	// busybox's wget crashes in a FROM-scratch image; its nc does not.
	probe := `'printf "GET /env?name=SECRET HTTP/1.0\r\n\r\n" | nc -w 3 ` + ip + ` 5000'`

	// The probe works: B's own one-off container reaches B.
	if out, errOut, code := h.sshIn("", nil, "run", b, probe); code != 0 || !strings.Contains(out, "b-secret") {
		t.Fatalf("run %s %s: exit %d, %q %q; want b-secret", b, probe, code, out, errOut)
	}

	// A's web container cannot reach B, yet A serves through the proxy.
	blocked := func(when string) {
		t.Helper()
		code, body, err := h.getPath(a+"."+baseDomain, "/fetch?url="+url.QueryEscape(target))
		if err != nil {
			t.Fatal(err)
		}
		if code == 200 || strings.Contains(body, "b-secret") || !strings.Contains(body, "fetch failed") {
			t.Errorf("%s: %s fetched %s: status %d, %q; want the connection to fail", when, a, target, code, body)
		}
	}
	blocked("two apps running")
	h.waitBody(a+"."+baseDomain, "isolated", time.Second)
	h.waitBody(b+"."+baseDomain, "isolated", time.Second)

	// Nor can A's one-off containers.
	if out, errOut, code := h.sshIn("", nil, "run", a, probe); code == 0 || strings.Contains(out, "b-secret") {
		t.Errorf("run %s %s: exit %d, %q %q; want a failure", a, probe, code, out, errOut)
	}

	// A restart keeps containers that are on their app's network.
	h.restartWith()
	waitFor(t, 30*time.Second, b+" serving after a restart", func() bool {
		code, body, err := h.get(b + "." + baseDomain)
		return err == nil && code == 200 && strings.TrimSpace(body) == "isolated"
	})
	if after := h.appContainers(b); len(after) != 1 || after[0] != web[0] {
		t.Errorf("%s's containers after a restart: %v, want %v kept", b, after, web)
	}

	// A third app's network losing its last container must not lift the
	// isolation of the others (netavark 1.4 drops the rule all isolated
	// networks share when one is torn down completely).
	if out, errOut, err := h.ssh(h.key, "ps:scale", c, "web=0"); err != nil {
		t.Fatalf("ps:scale: %v\n%s%s", err, out, errOut)
	}
	waitFor(t, 30*time.Second, c+" scaled to zero", func() bool { return len(h.appContainers(c)) == 0 })
	blocked("after a third app scaled to zero")
	if out, errOut, err := h.ssh(h.key, "apps:destroy", c, "--force"); err != nil {
		t.Fatalf("apps:destroy: %v\n%s%s", err, out, errOut)
	}
	blocked("after a third app was destroyed")

	// Destroying an app removes its network.
	if out, errOut, err := h.ssh(h.key, "apps:destroy", b, "--force"); err != nil {
		t.Fatalf("apps:destroy: %v\n%s%s", err, out, errOut)
	}
	if nets := podmanOut(t, "network", "ls", "--format", "{{.Name}}", "--filter", "label=xcloud.instance="+h.instance); strings.Contains(nets, h.appNetwork(b)) || !strings.Contains(nets, h.appNetwork(a)) {
		t.Errorf("networks after destroying %s: %q; want only %s's", b, nets, a)
	}
}

// appNetwork is the name of the daemon's network for app.
func (h *harness) appNetwork(app string) string { return "xcloud-" + h.instance + "-" + app }
