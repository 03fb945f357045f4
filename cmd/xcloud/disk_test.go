package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKeepReleases: with keep_releases = 2, after five pushes only the
// images of the current release and the two before it remain; a rollback
// to a release whose image was removed fails with one line and changes
// nothing; apps:info and the metrics show disk use.
func TestKeepReleases(t *testing.T) {
	h := newHarness(t, "[deploy]\nkeep_releases = 2")
	const app = "disk"
	r := h.deployApp(app, "push 1")
	for i := 2; i <= 5; i++ {
		msg := fmt.Sprintf("push %d", i)
		r.setApp(msg, "ok")
		r.commit(msg)
		if out, err := r.push(h.remote(app), "main"); err != nil {
			t.Fatalf("push %d: %v\n%s", i, err, out)
		}
	}
	h.waitBody(app+"."+baseDomain, "push 5", 10*time.Second)

	stdout, stderr, err := h.ssh(h.key, "releases", app, "--json")
	if err != nil {
		t.Fatalf("releases: %v\n%s%s", err, stdout, stderr)
	}
	var rels []struct {
		Version int
		Image   string
		Status  string
	}
	if err := json.Unmarshal([]byte(stdout), &rels); err != nil {
		t.Fatalf("releases --json: %v\n%s", err, stdout)
	}
	if len(rels) != 5 {
		t.Fatalf("want 5 releases, got %+v", rels)
	}
	image := map[int]string{}
	for _, rel := range rels {
		image[rel.Version] = rel.Image
	}

	// A 4.3 service ignores all but one label filter for images: filter by
	// instance, pick the app's by its label. The last deploy's prune runs
	// in the background after the push.
	appImages := func() []string {
		out := podmanList(t, "images", "--format", `{{.ID}} {{index .Labels "xcloud.app"}}`, "--no-trunc",
			"--filter", "label=xcloud.instance="+h.instance)
		var have []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			id, a, _ := strings.Cut(line, " ")
			if a == app {
				have = append(have, strings.TrimPrefix(id, "sha256:"))
			}
		}
		slices.Sort(have)
		return have
	}
	want := []string{image[3], image[4], image[5]}
	slices.Sort(want)
	have := appImages()
	for deadline := time.Now().Add(60 * time.Second); !slices.Equal(have, want) && time.Now().Before(deadline); have = appImages() {
		time.Sleep(200 * time.Millisecond)
	}
	if !slices.Equal(have, want) {
		t.Errorf("the app's images are %v, want those of v3, v4, v5: %v (v1 %s, v2 %s)", have, want, image[1], image[2])
	}

	// Rolling back to v1, whose image is gone, says so and changes nothing.
	stdout, stderr, err = h.ssh(h.key, "rollback", app, "v1")
	if err == nil {
		t.Fatalf("rollback to a pruned release succeeded:\n%s%s", stdout, stderr)
	}
	msg := strings.TrimSpace(stdout + stderr)
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "v1's image was removed") || !strings.Contains(msg, "keep_releases") {
		t.Errorf("rollback to a pruned release said:\n%s\nwant one line naming v1 and keep_releases", msg)
	}
	stdout, _, _ = h.ssh(h.key, "releases", app)
	if strings.Contains(stdout, "v6") {
		t.Errorf("the refused rollback made a release:\n%s", stdout)
	}
	if code, body, err := h.get(app + "." + baseDomain); err != nil || code != 200 || strings.TrimSpace(body) != "push 5" {
		t.Errorf("after the refused rollback the app answers %d %q (%v), want push 5", code, body, err)
	}

	stdout, stderr, err = h.ssh(h.key, "apps:info", app)
	if err != nil {
		t.Fatalf("apps:info: %v\n%s%s", err, stdout, stderr)
	}
	disk := regexp.MustCompile(`(?m)^Disk:\s+images [0-9.]+ MiB \(3 kept\), build cache [0-9.]+ [KMG]?i?B, repository [0-9.]+ [KMG]iB, static files 0 B, logs [0-9.]+ [KMG]?i?B$`)
	if !disk.MatchString(stdout) {
		t.Errorf("apps:info shows no disk use like %s:\n%s", disk, stdout)
	}
	t.Logf("apps:info:\n%s", stdout)

	// The metric is measured after each deploy, not per scrape.
	repos := regexp.MustCompile(`(?m)^xcloud_disk_bytes\{kind="repos"\} [1-9]`)
	waitFor(t, 30*time.Second, "xcloud_disk_bytes", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", h.metricsPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return repos.Match(b) && strings.Contains(string(b), `xcloud_disk_bytes{kind="images"}`) &&
			strings.Contains(string(b), `xcloud_disk_bytes{kind="build_cache"}`)
	})
}
