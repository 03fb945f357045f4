package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGoBuilderSameImage: a push of a Go app builds with the Go builder
// (no podman build), ps:rebuild builds the same commit from the generated
// Containerfile with podman build, and the two images are the same: config
// (command, environment, working directory, user, labels) and /app (names,
// owners, modes, sizes, link targets, the binary's bytes).
func TestGoBuilderSameImage(t *testing.T) {
	requireStack(t)
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	r.write("go.mod", "module example.com/gbapp\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n")
	r.write("main.go", `package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/google/uuid"
)

func main() {
	_ = uuid.New()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "built twice") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`)
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = r.dir
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	r.commit("go app")
	// A run container an earlier run of the daemon left (a crash between
	// its creation and removal): the first Go build removes it.
	stray := "xcloud-" + h.instance + "-go-layer-0123456789ab-b1"
	podmanOut(t, "create", "--name", stray, "localhost/xcloud/base:trixie", "true")
	t.Cleanup(func() { podmanOut(t, "rm", "-f", "--ignore", stray) })
	out, err := r.push(h.remote("gb"), "main")
	if err != nil || !strings.Contains(out, "-----> Downloading dependencies and compiling (go mod download, go build)\n") {
		t.Fatalf("push: %v\n%s", err, out)
	}
	h.waitBody("gb."+baseDomain, "built twice", 10*time.Second)
	if strings.Contains(h.log(), "Go builder failed") {
		t.Fatalf("the push fell back to podman build:\n%s", h.log())
	}
	fast := h.servingImage("gb")

	out, errOut, err := h.ssh(h.key, "ps:rebuild", "gb")
	if err != nil || !strings.Contains(out+errOut, "Releasing v2") {
		t.Fatalf("ps:rebuild: %v\n%s%s", err, out, errOut)
	}
	var built string
	waitFor(t, 30*time.Second, "the rebuilt release serving", func() bool {
		built = h.servingImage("gb")
		return built != "" && built != fast
	})

	if a, b := imageConfig(t, fast), imageConfig(t, built); a != b {
		t.Errorf("image config:\n Go builder   %s\n podman build %s", a, b)
	}
	if a, b := appListing(t, fast), appListing(t, built); a != b {
		t.Errorf("/app:\n Go builder:\n%s\n podman build:\n%s", a, b)
	}
	waitFor(t, 30*time.Second, "the stray run container removed", func() bool {
		return podmanList(t, "ps", "-aq", "--filter", "name=^"+stray+"$") == ""
	})

	// The builder does not outlive the daemon.
	builder := "xcloud-" + h.instance + "-go-builder"
	if podmanList(t, "ps", "-q", "--filter", "name=^"+builder+"$") == "" {
		t.Fatalf("no builder %s while the daemon runs", builder)
	}
	h.stop()
	if ids := podmanList(t, "ps", "-aq", "--filter", "name=^"+builder+"$"); ids != "" {
		t.Errorf("the builder %s is still there after the daemon stopped", builder)
	}
}

// servingImage is the image ID of the app's running web container; "" when
// none runs.
func (h *harness) servingImage(app string) string {
	return podmanOut(h.t, "ps", "--format", "{{.ImageID}}", "--filter", "label=xcloud.instance="+h.instance,
		"--filter", "label=xcloud.app="+app, "--filter", "label=xcloud.process=web", "--filter", "status=running")
}

// imageConfig is what of an image's config a build decides, as JSON, the
// environment sorted (Podman's ENV and a commit order it differently).
func imageConfig(t *testing.T, image string) string {
	t.Helper()
	var imgs []struct {
		Config struct {
			Cmd, Entrypoint, Env []string
			WorkingDir, User     string
			Labels               map[string]string
		}
	}
	if err := json.Unmarshal([]byte(podmanOut(t, "image", "inspect", image)), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("image inspect %s: %v", image, err)
	}
	c := imgs[0].Config
	slices.Sort(c.Env)
	b, _ := json.Marshal(c)
	return string(b)
}

// appListing lists /app in image: each entry's path, owner, mode, type,
// size and link target, and the binaries' checksums.
func appListing(t *testing.T, image string) string {
	t.Helper()
	return podmanOut(t, "run", "--rm", "--user", "0", "--entrypoint", "/bin/sh", image, "-c",
		"cd /app && find . -printf '%p %U:%G %m %y %s %l\\n' | sort && sha256sum bin/*")
}
