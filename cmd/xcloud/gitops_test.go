package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// gitServer serves the bare repositories under root over git's smart HTTP
// protocol (git http-backend as CGI) on 127.0.0.1.
func gitServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&cgi.Handler{
		Path: git, Args: []string{"http-backend"}, Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	return srv
}

// hookPost POSTs a push event to the app's webhook through the proxy.
func (h *harness) hookPost(app string, body []byte, headers map[string]string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/.xcloud/hooks/%s", h.httpPort, app), strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = apiHost
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGitOps: git:sync --build deploys a repository served elsewhere; bad
// refs and URLs with credentials are refused with nothing changed; a
// signed webhook with a new commit deploys it and a wrongly signed one is
// 401 and changes nothing; polling picks up the next commit.
func TestGitOps(t *testing.T) {
	h := newHarness(t)
	host := "site." + baseDomain

	// The "forge": a bare repository on a local smart-HTTP server.
	forge := t.TempDir()
	work := newRepo(t, h, h.key)
	work.write("index.html", "v1\n")
	work.commit("v1")
	bare := filepath.Join(forge, "site.git")
	work.git("clone", "-q", "--bare", work.dir, bare)
	work.git("remote", "add", "forge", bare)
	srv := gitServer(t, forge)
	url := srv.URL + "/site.git"

	if _, stderr, err := h.ssh(h.key, "apps:create", "site"); err != nil {
		t.Fatalf("apps:create: %v\n%s", err, stderr)
	}
	out, stderr, err := h.ssh(h.key, "git:sync", "site", url, "--build")
	if err != nil {
		t.Fatalf("git:sync --build: %v\n%s%s", err, out, stderr)
	}
	h.waitBody(host, "v1", 30*time.Second)

	// Bad input: one line, exit non-zero, nothing changed.
	for _, args := range [][]string{
		{"git:sync", "site", url, "nosuch"},
		{"git:sync", "site", strings.Replace(url, "http://", "http://user:pw@", 1)},
	} {
		out, stderr, err := h.ssh(h.key, args...)
		if err == nil || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || strings.Contains(stderr, "pw@") {
			t.Errorf("%v: err %v, want one line naming the problem; stdout %q stderr %q", args, err, out, stderr)
		}
	}
	if out, _, _ := h.ssh(h.key, "git:sync:auto", "site"); !strings.Contains(out, url) {
		t.Errorf("the refused syncs changed the source:\n%s", out)
	}

	// Webhook: a wrong signature is refused and changes nothing.
	out, _, err = h.ssh(h.key, "git:webhook", "site")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`secret:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "/.xcloud/hooks/site") {
		t.Fatalf("git:webhook printed no URL and secret:\n%s", out)
	}
	secret := m[1]
	work.write("index.html", "v2\n")
	work.commit("v2")
	work.git("push", "-q", "forge", "main")
	body := []byte(`{"ref":"refs/heads/main"}`)
	sign := func(key string) string {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		return "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	if code, msg := h.hookPost("site", body, map[string]string{"X-Hub-Signature-256": sign("wrong"), "X-GitHub-Delivery": "d0"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d %s, want 401", code, msg)
	}
	if code, msg := h.hookPost("site", body, nil); code != http.StatusUnauthorized {
		t.Fatalf("no signature: %d %s, want 401", code, msg)
	}
	if evs, _, _ := h.ssh(h.key, "events", "site"); strings.Count(evs, "git:synced") != 1 {
		t.Fatalf("a refused webhook synced:\n%s", evs)
	}
	if _, got, _ := h.get(host); strings.TrimSpace(got) != "v1" {
		t.Fatalf("a refused webhook changed the site: %q", got)
	}
	signed := map[string]string{"X-Hub-Signature-256": sign(secret), "X-GitHub-Delivery": "d1", "X-GitHub-Event": "push"}
	if code, msg := h.hookPost("site", body, signed); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d %s, want 202", code, msg)
	}
	h.waitBody(host, "v2", 30*time.Second)
	if code, _ := h.hookPost("site", body, signed); code != http.StatusConflict {
		t.Errorf("replayed delivery: %d, want 409", code)
	}

	// Polling picks up a commit.
	if out, stderr, err := h.ssh(h.key, "git:sync:auto", "site", "on", "--interval", "5s"); err != nil {
		t.Fatalf("git:sync:auto: %v\n%s%s", err, out, stderr)
	}
	work.write("index.html", "v3\n")
	work.commit("v3")
	work.git("push", "-q", "forge", "main")
	h.waitBody(host, "v3", 60*time.Second)

	evs, _, _ := h.ssh(h.key, "events", "site")
	for _, want := range []string{"via git:sync", "github webhook via webhook", "via poll"} {
		if !strings.Contains(evs, want) {
			t.Errorf("events do not say who deployed %q:\n%s", want, evs)
		}
	}
}
