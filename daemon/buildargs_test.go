package daemon

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

func TestBuildConfigDockerfile(t *testing.T) {
	fsys := fstest.MapFS{"Dockerfile": {Data: []byte("FROM base\nARG GREETING\nARG PIP_INDEX_URL\nARG PATH\nRUN echo \"$GREETING\" > /greeting\n")}}
	plan := &buildpacks.Plan{Kind: buildpacks.KindContainerfile, Containerfile: "Dockerfile"}
	vars := map[string]string{"GREETING": "hi", "UNDECLARED": "x", "PORT": "1", "PATH": "/evil", "XCLOUD_APP": "a"}
	configured := map[string]string{"PIP_INDEX_URL": "http://mirror/simple", "PIP_TRUSTED_HOST": "mirror"}
	in, err := buildConfig(plan, fsys, configured, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GREETING": "hi", "PIP_INDEX_URL": "http://mirror/simple"}
	if !maps.Equal(in.args, want) || in.generated != nil || !slices.Equal(in.vars, []string{"GREETING"}) {
		t.Errorf("got args %q, vars %q, generated %q; want args %q", in.args, in.vars, in.generated, want)
	}

	// The app's own value wins over the configured one.
	vars["PIP_INDEX_URL"] = "http://private/simple"
	if in, err = buildConfig(plan, fsys, configured, vars); err != nil || in.args["PIP_INDEX_URL"] != "http://private/simple" {
		t.Errorf("got %q, %v", in.args, err)
	}

	// No ARG: no build args at all.
	fsys["Dockerfile"] = &fstest.MapFile{Data: []byte("FROM scratch\nCOPY . .\n")}
	if in, err = buildConfig(plan, fsys, configured, vars); err != nil || in.args != nil || in.vars != nil {
		t.Errorf("got %q %q, %v", in.args, in.vars, err)
	}

	plan.Containerfile = "Containerfile"
	if _, err := buildConfig(plan, fsys, configured, vars); err == nil {
		t.Error("a missing Containerfile was read")
	}
}

func TestBuildConfigGenerated(t *testing.T) {
	gen := "FROM build AS build\nARG PIP_INDEX_URL\nCOPY requirements.txt ./\nRUN pip install -r requirements.txt\nCOPY . .\nRUN make\n\nFROM run\nCOPY --from=build /src /app\n"
	plan := &buildpacks.Plan{Kind: buildpacks.KindPython, Generated: []byte(gen)}
	vars := map[string]string{"VITE_API": "https://api", "NEXT_PUBLIC_X": "1", "PORT": "1", "HOME": "/x"}
	in, err := buildConfig(plan, fstest.MapFS{}, map[string]string{"PIP_INDEX_URL": "m", "UNUSED": "u"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"VITE_API": "https://api", "NEXT_PUBLIC_X": "1", "PIP_INDEX_URL": "m"}
	if !maps.Equal(in.args, want) || !slices.Equal(in.vars, []string{"NEXT_PUBLIC_X", "VITE_API"}) {
		t.Errorf("got args %q vars %q, want %q", in.args, in.vars, want)
	}
	g := string(in.generated)
	if !strings.Contains(g, "COPY . .\n# The app's config vars, for its build steps (not in the run image).\nARG NEXT_PUBLIC_X\nARG VITE_API\nRUN make\n") {
		t.Errorf("generated:\n%s", g)
	}
	for _, v := range vars {
		if strings.Contains(g, v) {
			t.Errorf("a value is in the Containerfile:\n%s", g)
		}
	}
	if string(plan.Generated) != gen {
		t.Error("the plan's Containerfile was changed in place")
	}
}
