package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPreviews: with previews:enable, a pushed branch deploys as APP--BRANCH
// at its own host with the parent's config plus the overrides, while the
// parent still serves main; deleting the branch destroys the preview's
// containers, route and ref. With previews off a branch push deploys
// nothing.
func TestPreviews(t *testing.T) {
	h := newHarness(t)
	r := h.deployApp("web", "main")
	preview, previewHost := "web--feature-x", "web--feature-x."+baseDomain

	// Off: the branch is stored, nothing deployed.
	r.git("checkout", "-q", "-b", "early")
	r.commit("early")
	out, err := r.push(h.remote("web"), "early")
	if err != nil || !strings.Contains(out, "only main (or master) is deployed") {
		t.Fatalf("branch push with previews off: %v\n%s", err, out)
	}
	r.git("checkout", "-q", "main")

	for _, args := range [][]string{
		{"previews:enable", "web"},
		{"config:set", "web", "SHARED=parent", "--no-restart"},
		{"previews:config:set", "web", "ONLY_PREVIEW=yes"},
	} {
		if out, stderr, err := h.ssh(h.key, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, stderr)
		}
	}
	r.git("checkout", "-q", "-b", "Feature/X")
	r.setApp("preview", "ok")
	r.commit("preview")
	out, err = r.push(h.remote("web"), "Feature/X")
	if err != nil {
		t.Fatalf("push branch: %v\n%s", err, out)
	}
	h.waitBody(previewHost, "preview", 30*time.Second)
	if _, body, _ := h.get("web." + baseDomain); strings.TrimSpace(body) != "main" {
		t.Errorf("the parent serves %q after the preview's push, want main", body)
	}
	cfg, _, err := h.ssh(h.key, "config", preview)
	if err != nil || !strings.Contains(cfg, "SHARED") || !strings.Contains(cfg, "ONLY_PREVIEW") {
		t.Errorf("the preview's config lacks the parent's var or the override (%v):\n%s", err, cfg)
	}
	js, _, err := h.ssh(h.key, "previews", "web", "--json")
	var list struct {
		Enabled  bool
		Previews []struct{ App, Branch, URL string }
	}
	if err != nil || json.Unmarshal([]byte(js), &list) != nil || !list.Enabled || len(list.Previews) != 1 ||
		list.Previews[0].App != preview || list.Previews[0].Branch != "Feature/X" {
		t.Errorf("previews --json: %v\n%s", err, js)
	}
	if _, stderr, err := h.ssh(h.key, "domains:add", preview, "preview.example.com"); err == nil || !strings.Contains(stderr, "preview") {
		t.Errorf("domains:add on a preview: %v %s", err, stderr)
	}
	if len(h.appContainers(preview)) == 0 {
		t.Fatal("the preview runs no containers")
	}

	// Deleting the branch destroys the preview.
	out, err = r.push(h.remote("web"), ":Feature/X")
	if err != nil || !strings.Contains(out, "destroyed") {
		t.Fatalf("delete branch: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "the preview's containers to go", func() bool { return len(h.appContainers(preview)) == 0 })
	if code, _, _ := h.get(previewHost); code == http.StatusOK {
		t.Errorf("the preview's host still answers 200")
	}
	if apps, _, _ := h.ssh(h.key, "apps:list"); strings.Contains(apps, preview) {
		t.Errorf("apps:list still has the preview:\n%s", apps)
	}
	if refs := r.git("ls-remote", h.remote("web")); strings.Contains(refs, "Feature/X") {
		t.Errorf("the branch is still in the repository:\n%s", refs)
	}
	if _, body, _ := h.get("web." + baseDomain); strings.TrimSpace(body) != "main" {
		t.Errorf("the parent serves %q after the preview went, want main", body)
	}
}
