package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildErrorOneLine: a Dockerfile COPY of a dangling symbolic link
// fails the push with one line naming the link, not Buildah's request
// struct (about 2 KB of Go syntax).
func TestBuildErrorOneLine(t *testing.T) {
	h := newHarness(t)
	r := newRepo(t, h, h.key)
	r.write("Dockerfile", "FROM scratch\nCOPY broken /broken\n")
	if err := os.Symlink("/nowhere/target", filepath.Join(r.dir, "broken")); err != nil {
		t.Fatal(err)
	}
	r.commit("dangling")
	out, err := r.push(h.remote("dangle"), "main")
	if err == nil {
		t.Fatalf("push of a COPY of a dangling link succeeded:\n%s", out)
	}
	// Under load Podman 4.3 sometimes reports a broken pipe to its copier
	// instead of the link it could not follow: then the line names the
	// step and the likely cause.
	want := `"broken" is a symbolic link to "/nowhere/target", which is not in the build context`
	lost := strings.Contains(out, `STEP "COPY broken /broken": reading "broken": Podman could not read this step's sources`)
	if !(strings.Contains(out, want) || lost) || strings.Contains(out, "copier") || strings.Contains(out, "libpod_builder") {
		t.Errorf("push output lacks %q or has Buildah's internals:\n%s", want, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 400 {
			t.Errorf("a %d-byte line in the push output: %.200q…", len(line), line)
		}
	}
}
