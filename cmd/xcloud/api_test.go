package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// apiHost is where the daemon serves its API (the default api.host).
const apiHost = "xcloud." + baseDomain

// api calls the HTTP API through the proxy with token; it returns the
// status and body.
func (h *harness) api(method, path, token, body string) (int, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/api/v1%s", h.httpPort, path), rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = apiHost
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var tokenRe = regexp.MustCompile(`xct_[A-Za-z0-9_-]{43}`)

// token makes an API token over SSH and returns its secret.
func (h *harness) token(args ...string) string {
	h.t.Helper()
	out, errOut, err := h.ssh(h.key, append([]string{"tokens:create"}, args...)...)
	secret := tokenRe.FindString(out)
	if err != nil || secret == "" {
		h.t.Fatalf("tokens:create %v: %v\n%s%s", args, err, out, errOut)
	}
	return secret
}

func apiErrorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error.Code
}

// TestAPI: the HTTP API through the real proxy and daemon: a read token
// lists apps but may not roll back, a deploy token for one app may not
// touch another, and a deploy's lines stream to an API client while the
// push runs; what a token changes is an event with its name.
func TestAPI(t *testing.T) {
	h := newHarness(t)
	r := h.deployApp("web", "v1")
	if _, errOut, err := h.ssh(h.key, "apps:create", "other"); err != nil {
		t.Fatalf("apps:create: %v %s", err, errOut)
	}
	reader := h.token("reader", "--scope", "read")
	ci := h.token("ci", "--scope", "deploy", "--app", "web")

	// A read token lists every app but may not roll back.
	code, body := h.api("GET", "/apps", reader, "")
	var apps []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &apps); code != 200 || err != nil || len(apps) != 2 {
		t.Fatalf("GET /apps with a read token: %d %s", code, body)
	}
	code, body = h.api("POST", "/apps/web/rollback", reader, "")
	if code != 403 || apiErrorCode(t, body) != "forbidden" || !strings.Contains(body, "token reader may not rollback on app web") {
		t.Fatalf("rollback with a read token: %d %s", code, body)
	}
	// Bad tokens are 401, not 403 or 500.
	if code, body := h.api("GET", "/apps", "xct_"+strings.Repeat("A", 43), ""); code != 401 || apiErrorCode(t, body) != "unauthorized" {
		t.Errorf("unknown token: %d %s", code, body)
	}

	// A deploy token for web sees only web and may not touch other.
	code, body = h.api("GET", "/apps", ci, "")
	if err := json.Unmarshal([]byte(body), &apps); code != 200 || err != nil || len(apps) != 1 || apps[0].Name != "web" {
		t.Errorf("GET /apps with a web token: %d %s", code, body)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/apps/other/restart"}, {"GET", "/apps/other/releases"}, {"POST", "/apps/other/rollback"}} {
		if code, body := h.api(c.method, c.path, ci, ""); code != 403 || !strings.Contains(body, "token ci may not") {
			t.Errorf("%s %s with a web token: %d %s", c.method, c.path, code, body)
		}
	}
	if out, _, _ := h.ssh(h.key, "events", "--json", "-n", "100"); strings.Count(out, `"type": "access:denied"`)+strings.Count(out, `"type":"access:denied"`) < 5 {
		t.Errorf("refusals are not all access:denied events:\n%s", out)
	}

	// A deploy's lines reach an API stream while the push runs.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/apps/web/deploys/live", h.httpPort), nil)
	req.Host = apiHost
	req.Header.Set("Authorization", "Bearer "+ci)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("follow deploy: %v %v", err, resp)
	}
	defer resp.Body.Close()
	r.setApp("v2", "ok")
	r.commit("v2")
	push := exec.Command("git", "push", h.remote("web"), "main")
	push.Dir, push.Env = r.dir, r.env
	pushDone := make(chan error, 1)
	var pushOut strings.Builder
	push.Stdout, push.Stderr = &pushOut, &pushOut
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { pushDone <- push.Wait() }()
	sc := bufio.NewScanner(resp.Body)
	var event string
	var lines []string
	sawBuildEarly := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "event: ") {
			event = strings.TrimPrefix(l, "event: ")
			continue
		}
		data, ok := strings.CutPrefix(l, "data: ")
		if !ok {
			continue
		}
		if event == "end" {
			if !strings.Contains(data, `"failed":false`) {
				t.Errorf("deploy ended %s", data)
			}
			break
		}
		lines = append(lines, data)
		if strings.Contains(data, "Building web") {
			select {
			case <-pushDone:
				t.Error("the build's first line reached the stream only after the push ended")
			default:
				sawBuildEarly = true
			}
		}
	}
	if err := <-pushDone; err != nil {
		t.Fatalf("push v2: %v\n%s", err, pushOut.String())
	}
	if !sawBuildEarly || !strings.Contains(strings.Join(lines, "\n"), "deployed") {
		t.Fatalf("the stream showed no build while the push ran:\n%s", strings.Join(lines, "\n"))
	}
	h.waitBody("web."+baseDomain, "v2", 10*time.Second)

	// A deploy token rolls back its app; the event names the token.
	code, body = h.api("POST", "/apps/web/rollback", ci, "")
	if code != 200 {
		t.Fatalf("rollback with the web token: %d %s", code, body)
	}
	h.waitBody("web."+baseDomain, "v1", 10*time.Second)
	code, body = h.api("GET", "/apps/web/events?n=20", ci, "")
	var evs []struct{ Type, Actor string }
	if err := json.Unmarshal([]byte(body), &evs); code != 200 || err != nil {
		t.Fatalf("events: %d %s", code, body)
	}
	found := false
	for _, e := range evs {
		found = found || (e.Actor == "ci" && strings.HasPrefix(e.Type, "deploy:"))
	}
	if !found {
		t.Errorf("no deploy event with actor ci in %s", body)
	}

	// A token's requests are rate-limited through the proxy: a burst
	// past the bucket gets 429 with Retry-After.
	client := &http.Client{Timeout: 10 * time.Second}
	var ok, limited int
	var took time.Duration
	retryAfter := ""
	for range 80 {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/apps", h.httpPort), nil)
		req.Host = apiHost
		req.Header.Set("Authorization", "Bearer "+reader)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			ok++
			took += time.Since(start)
		case 429:
			limited++
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if ok == 0 || limited == 0 || retryAfter == "" {
		t.Errorf("80 requests at once: %d answered, %d limited (Retry-After %q); want both", ok, limited, retryAfter)
	} else {
		t.Logf("80 requests at once: %d answered (mean %s through the proxy), %d limited with Retry-After %s", ok, took/time.Duration(ok), limited, retryAfter)
	}
}

// TestAPIHTTPS: with TLS on, the API answers over HTTPS at its host with
// the proxy's certificate, plain HTTP is redirected, and tokens:create
// prints the HTTPS URL.
func TestAPIHTTPS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		missing(t, "curl is not installed")
	}
	h := newHarnessTLS(t, "internal")
	out, errOut, err := h.ssh(h.key, "tokens:create", "dash", "--scope", "read")
	secret := tokenRe.FindString(out)
	url := fmt.Sprintf("https://%s:%d/api/v1/apps", apiHost, h.httpsPort)
	if err != nil || secret == "" || !strings.Contains(out, url) {
		t.Fatalf("tokens:create: %v, want the URL %s:\n%s%s", err, url, out, errOut)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pem, _, err := h.ssh(h.key, "tls:ca")
	if err != nil {
		t.Fatalf("tls:ca: %v", err)
	}
	writeFile(t, ca, pem)
	resolve := fmt.Sprintf("%s:%d:127.0.0.1", apiHost, h.httpsPort)
	var last string
	waitFor(t, 30*time.Second, "the API over HTTPS", func() bool {
		body, e, err := runCurl("--cacert", ca, "--resolve", resolve, "-H", "Authorization: Bearer "+secret, url)
		last = fmt.Sprintf("%v %s %s", err, body, e)
		return err == nil && strings.TrimSpace(body) == "[]"
	})
	t.Logf("GET %s: %s", url, last)
	res, _, err := runCurl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: "+apiHost, fmt.Sprintf("http://127.0.0.1:%d/api/v1/apps", h.httpPort))
	if err != nil || res != "308" {
		t.Errorf("plain HTTP to the API: %q %v, want a 308 to HTTPS", res, err)
	}
}
