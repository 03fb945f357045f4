package buildpacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWithLabels(t *testing.T) {
	cf := []byte("FROM a AS build\nRUN make\n\nFROM b\nCMD [\"x\"]")
	got := string(WithLabels(cf, map[string]string{"xcloud.managed": "true", "xcloud.app": "web", "odd": "a \"q\" $HOME\nb\\"}))
	want := "FROM a AS build\nRUN make\n\nFROM b\nCMD [\"x\"]\n" +
		`LABEL "odd"="a \"q\" \$HOME b\\" "xcloud.app"="web" "xcloud.managed"="true"` + "\n"
	if got != want {
		t.Errorf("WithLabels:\n got %q\nwant %q", got, want)
	}
	if string(WithLabels(cf, nil)) != string(cf) {
		t.Error("no labels changed the file")
	}
	// The LABEL is the last stage's last step.
	steps := Steps([]byte(got))
	if last := steps[len(steps)-1]; last.Stage != 2 || last.Keyword != "LABEL" || !strings.HasPrefix(got[strings.LastIndex(got, "LABEL"):], "LABEL ") {
		t.Errorf("last step %+v", last)
	}
}

// TestNoLayerCache: Go builds keep their caches in mounts and run without
// the layer cache; Node's node_modules is a layer, so its build keeps it.
func TestNoLayerCache(t *testing.T) {
	for repo, want := range map[string]bool{"go-simple": true, "go-no-gomod": true, "go-godir-vendor": true, "node-express": false, "python-fastapi": false} {
		plan, err := Detect(os.DirFS(filepath.Join("testdata", "repos", repo)), DefaultStack())
		if err != nil {
			t.Fatalf("%s: %v", repo, err)
		}
		if plan.NoLayerCache != want {
			t.Errorf("%s: NoLayerCache = %v, want %v", repo, plan.NoLayerCache, want)
		}
		if want && !strings.Contains(string(plan.Generated), "--mount=type=cache,target=/go/pkg/mod") && repo != "go-godir-vendor" {
			t.Errorf("%s: no module cache mount:\n%s", repo, plan.Generated)
		}
	}
}
