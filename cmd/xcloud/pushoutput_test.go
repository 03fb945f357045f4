package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// podmanMachinery matches the lines of Podman's build output a push of a
// generated Containerfile must not show.
var podmanMachinery = regexp.MustCompile(`(?m)^\s*(\[\d+/\d+\] )?(STEP \d+/\d+|COMMIT)|^\s*--> |LABEL "?xcloud\.|Successfully tagged|^\s*[0-9a-f]{64}\s*$`)

// deployedURL finds the push's last line, "=====> APP vN deployed in T: URL",
// and returns its URL.
func deployedURL(t *testing.T, out, app string, version int) *url.URL {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^=====> %s v%d deployed in (?:[0-9]+m)?[0-9.]+s: (\S+)$`, app, version))
	m := re.FindStringSubmatchIndex(out)
	if m == nil {
		t.Fatalf("push output does not end with %q:\n%s", re, out)
	}
	if rest := out[m[1]:]; strings.Contains(rest, "----->") || strings.Contains(rest, "=====>") {
		t.Errorf("the deployed line is not the push's last:\n%s", out)
	}
	u, err := url.Parse(out[m[2]:m[3]])
	if err != nil {
		t.Fatalf("deployed line's URL: %v", err)
	}
	return u
}

// TestPushOutput: a push shows what the user cares about. A generated
// Containerfile's steps show under headings with their output and none of
// Podman's machinery, which the build log keeps; a repository's own
// Containerfile shows its STEP lines without hashes or xcloud's labels; no
// warning the user cannot act on; the push ends with the release, the time
// it took and a URL that works as printed, after a line saying what else
// runs.
func TestPushOutput(t *testing.T) {
	h := newHarness(t)

	t.Run("generated", func(t *testing.T) {
		app := "quiet"
		r := newRepo(t, h, h.key)
		r.write("go.mod", "module example.com/quiet\n\ngo 1.22\n")
		r.write("main.go", `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Println("compiled into the image")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "quiet ok") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`)
		r.write("Procfile", "web: quiet\nworker: sleep 3600\n")
		r.write("app.json", `{"cron": [{"command": "true", "schedule": "0 3 * * *"}]}`)
		r.commit("quiet")
		out, err := r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		for _, want := range []string{
			"-----> Building quiet (",
			"-----> Downloading dependencies and compiling (go mod download, go build)\n       go: no module dependencies to download\n",
			"-----> Build succeeded in ",
			"-----> Releasing v1\n",
			`-----> Started 1 worker process (worker=1); scheduled 1 cron job ("cron quiet" lists them)` + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("push output lacks %q:\n%s", want, out)
			}
		}
		if m := podmanMachinery.FindString(out); m != "" {
			t.Errorf("push output shows Podman's machinery (%q):\n%s", m, out)
		}
		u := deployedURL(t, out, app, 1)
		if u.Scheme != "http" || u.Hostname() != app+"."+baseDomain || u.Port() != itoa(h.httpPort) || u.Path != "" {
			t.Errorf("deployed URL %s: want http://%s.%s:%d", u, app, baseDomain, h.httpPort)
		}
		h.waitBody(u.Hostname(), "quiet ok", 10*time.Second)

		// The build log keeps the machinery the push leaves out: here the
		// Go builder's steps (a podman build keeps Podman's whole stream).
		log, errOut, err := h.ssh(h.key, "builds:log", app)
		if err != nil {
			t.Fatalf("builds:log: %v\n%s", err, errOut)
		}
		for _, want := range []string{"Go builder ", " go mod download", "COMMIT", "LABEL xcloud.app=quiet", "\n--> "} {
			if !strings.Contains(log, want) {
				t.Errorf("build log lacks %q:\n%s", want, log)
			}
		}
	})

	t.Run("python", func(t *testing.T) {
		r := newRepo(t, h, h.key)
		r.write("requirements.txt", "# no dependencies\n")
		r.write("index.html", "python quiet\n")
		r.write("Procfile", "web: python3 -m http.server $PORT --bind 0.0.0.0\n")
		r.commit("python")
		out, err := r.push(h.remote("quietpy"), "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		if !strings.Contains(out, "-----> Creating the virtual environment\n") {
			t.Errorf("push output lacks the virtual environment's heading:\n%s", out)
		}
		if strings.Contains(out, "PIP_") || strings.Contains(strings.ToLower(out), "warning") {
			t.Errorf("push output warns about what the user cannot change:\n%s", out)
		}
		if m := podmanMachinery.FindString(out); m != "" {
			t.Errorf("push output shows Podman's machinery (%q):\n%s", m, out)
		}
		deployedURL(t, out, "quietpy", 1)
		h.waitBody("quietpy."+baseDomain, "python quiet", 10*time.Second)
	})

	t.Run("own Containerfile", func(t *testing.T) {
		app := "ownfile"
		r := appRepo(t, h)
		r.setApp("own one", "ok")
		r.commit("one")
		out, err := r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		// appRepo's Containerfile has four steps; the labels xcloud adds
		// neither show nor count.
		for _, want := range []string{"-----> Building ownfile (", " from Containerfile\n", "       STEP 1/4: FROM scratch\n", "       STEP 4/4: CMD [\"/app\"]\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("push output lacks %q:\n%s", want, out)
			}
		}
		hashes := regexp.MustCompile(`(?m)^\s*--> .*[0-9a-f]{6}|LABEL "?xcloud\.|COMMIT|Successfully tagged|^\s*[0-9a-f]{64}\s*$`)
		if m := hashes.FindString(out); m != "" {
			t.Errorf("push output shows hashes or xcloud's labels (%q):\n%s", m, out)
		}
		h.waitBody(deployedURL(t, out, app, 1).Hostname(), "own one", 10*time.Second)

		// A cached step says so, without the layer's hash.
		r.setApp("own two", "ok")
		r.commit("two")
		out, err = r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		if !strings.Contains(out, "STEP 2/4: COPY busybox /bin/sh\n       --> Using cache\n") {
			t.Errorf("second push does not show the cached step:\n%s", out)
		}
		if m := hashes.FindString(out); m != "" {
			t.Errorf("second push shows hashes or xcloud's labels (%q):\n%s", m, out)
		}
		h.waitBody(deployedURL(t, out, app, 2).Hostname(), "own two", 10*time.Second)
	})
}
