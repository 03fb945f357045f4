package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildRunSteps pushes a Containerfile with RUN steps and a cache mount,
// which the COPY-only builds of the other tests never exercise. On rootless
// Podman (.ci/test-rootless) such a build needs the daemon to leave out the
// resource limits the host cannot enforce, and a build cache the user owns
// (contrib/install.sh gives its Podman its own TMPDIR).
func TestBuildRunSteps(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	app := "runsteps"
	r.write("Containerfile", "FROM scratch\nCOPY busybox /bin/sh\n"+
		"RUN --mount=type=cache,target=/cache echo hit >/cache/marker && echo ran >/ran\n"+
		"COPY app /app\nCMD [\"/app\"]\n")
	helloBinary(t, filepath.Join(r.dir, "app"), "ran")
	r.commit("v1")
	out, err := r.push(h.remote(app), "main")
	if err != nil {
		t.Fatalf("push failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, ": RUN --mount=type=cache") {
		t.Errorf("push output lacks the RUN step:\n%s", out)
	}
	h.waitBody(app+"."+baseDomain, "ran", 10*time.Second)
}
