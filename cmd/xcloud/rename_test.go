package main

import (
	"strings"
	"testing"
	"time"
)

// TestAppsRename renames a serving app under load: no request fails, and
// its domains, config, releases, repository and logs follow the new name,
// while the old name's containers, network and route go.
func TestAppsRename(t *testing.T) {
	h := newHarness(t)
	r := h.deployApp("before", "v1")
	const domain = "www.rename.test"
	for _, args := range [][]string{
		{"config:set", "before", "K=kept-secret"},
		{"domains:add", "before", domain},
	} {
		if out, errOut, err := h.ssh(h.key, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
		}
	}
	h.getPath("before."+baseDomain, "/print?msg=line-before-rename")
	waitFor(t, 30*time.Second, "the printed line in the logs", func() bool {
		out, _, _ := h.ssh(h.key, "logs", "before", "-n", "100")
		return strings.Contains(out, "line-before-rename")
	})

	stop := make(chan struct{})
	load := h.load(domain, 4, stop)
	out, errOut, err := h.ssh(h.key, "apps:rename", "before", "after")
	close(stop)
	res := <-load
	if err != nil || !strings.Contains(out, "Renamed before to after") {
		t.Fatalf("apps:rename: %v\n%s%s", err, out, errOut)
	}
	if res.failed != 0 || res.ok == 0 {
		t.Errorf("requests to %s during the rename: %d ok, %d failed: %v", domain, res.ok, res.failed, res.errs)
	}

	h.waitBody("after."+baseDomain, "v1", 10*time.Second)
	if code, _, _ := h.get("before." + baseDomain); code != 404 {
		t.Errorf("the old name answers %d, want 404", code)
	}
	if got := h.envOf("after."+baseDomain, "K"); got != "kept-secret" {
		t.Errorf("K under the new name = %q", got)
	}
	if logs, _, _ := h.ssh(h.key, "logs", "after", "-n", "100"); !strings.Contains(logs, "line-before-rename") {
		t.Errorf("the logs did not follow the new name:\n%s", logs)
	}
	if cs := h.appContainers("before"); len(cs) != 0 {
		t.Errorf("containers of the old name left: %v", cs)
	}
	if nets := podmanOut(t, "network", "ls", "--format", "{{.Name}}", "--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app=before"); nets != "" {
		t.Errorf("network of the old name left: %s", nets)
	}
	if imgs := podmanList(t, "images", "-q", "--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app=before"); imgs != "" {
		t.Errorf("images still labelled with the old name: %s", imgs)
	}

	// The repository moved: the next push is a fast-forward of the old one.
	r.setApp("v2", "ok")
	r.commit("v2")
	if out, err := r.push(h.remote("after"), "main"); err != nil {
		t.Fatalf("push to the new name: %v\n%s", err, out)
	}
	h.waitBody(domain, "v2", 10*time.Second)

	for _, bad := range [][]string{{"after", "after"}, {"after", "Bad"}, {"after", "nope-"}, {"missing", "x"}} {
		_, errOut, err := h.ssh(h.key, append([]string{"apps:rename"}, bad...)...)
		if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("apps:rename %v: %v %q, want one error line", bad, err, errOut)
		}
	}
	h.waitBody("after."+baseDomain, "v2", 10*time.Second)
}
