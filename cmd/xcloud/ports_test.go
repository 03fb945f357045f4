package main

import (
	"strings"
	"testing"
	"time"
)

// TestWebPortFound pushes an app that ignores $PORT and listens on a fixed
// port 3000, as a hapi or Express starter does: it is found by its
// container's sockets and served, the push says so with the fix, and the
// port is kept with the release so a scale-up publishes it at once.
func TestWebPortFound(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	app := "fixedport"
	r.setApp("served from 3000", "ok")
	r.write("Procfile", "web: export PORT=3000; exec /app\n")
	r.commit("fixed port")
	start := time.Now()
	out, err := r.push(h.remote(app), "main")
	if err != nil {
		t.Fatalf("push failed: %v\n%s", err, out)
	}
	t.Logf("push took %s", time.Since(start).Round(100*time.Millisecond))
	for _, want := range []string{"does not listen on $PORT (5000) but on port 3000", "listen on $PORT"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	h.waitBody(app+"."+baseDomain, "served from 3000", 10*time.Second)

	out, errOut, err := h.ssh(h.key, "ps:scale", app, "web=2")
	if err != nil {
		t.Fatalf("ps:scale: %v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out, "does not listen on $PORT") {
		t.Errorf("the scale-up looked for the port again:\n%s", out)
	}
	names := h.appContainers(app)
	if len(names) != 2 {
		t.Fatalf("containers: %v, want 2", names)
	}
	for _, n := range names {
		ports := podmanOut(t, "inspect", "--format", "{{range $p, $b := .NetworkSettings.Ports}}{{$p}} {{end}}", n)
		if strings.TrimSpace(ports) != "3000/tcp" {
			t.Errorf("%s publishes %q, want 3000/tcp", n, ports)
		}
	}
	h.waitBody(app+"."+baseDomain, "served from 3000", 10*time.Second)
}
