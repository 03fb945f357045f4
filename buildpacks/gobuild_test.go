package buildpacks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestGoBuildData: where a Go plan carries its build as data (Plan.Go),
// the data says exactly what the generated Containerfile does, instruction
// for instruction, so that the daemon's builder makes the same image.
func TestGoBuildData(t *testing.T) {
	withData := 0
	for _, repo := range []string{"go-simple", "go-cmd-dir", "go-multi-cmd", "go-heroku-layout", "go-newer-toolchain",
		"go-no-gomod", "go-procfile-cmd", "go-godir-vendor", "go-godeps-workspace"} {
		plan, err := Detect(os.DirFS(filepath.Join("testdata", "repos", repo)), DefaultStack())
		if err != nil {
			t.Fatalf("%s: %v", repo, err)
		}
		g := plan.Go
		other := strings.Contains(string(plan.Generated), "GO111MODULE=off") || strings.Contains(string(plan.Generated), ".slugignore")
		if other != (g == nil) {
			t.Errorf("%s: GOPATH mode or .slugignore %v, data %v; want data for the others only", repo, other, g != nil)
		}
		if g == nil {
			continue
		}
		withData++
		want := []string{
			"FROM " + g.BuildImage + " AS build",
			"WORKDIR /src",
			"COPY . .",
			"RUN --mount=type=cache,target=" + strings.Join(g.Caches, " --mount=type=cache,target=") + " " + g.Script,
			"FROM " + g.RunImage,
			"WORKDIR /app",
			"ENV " + strings.Join(g.Env, " "),
			"USER " + g.User,
		}
		if g.Cmd != nil {
			want = append(want, "CMD "+jsonArray(g.Cmd))
		}
		want = append(want, "COPY --from=build --chown="+g.User+":"+g.User+" /src /app")
		if got := cfInstructions(string(plan.Generated)); !slices.Equal(got, want) {
			t.Errorf("%s: the Containerfile\n%s\ndoes not do what the data says:\n%s", repo, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !strings.Contains(string(plan.Generated), "# -----> "+g.Heading+"\n") {
			t.Errorf("%s: heading %q is not the compile step's", repo, g.Heading)
		}
	}
	if withData < 5 {
		t.Errorf("only %d Go plans carry their build as data", withData)
	}

	// A .slugignore adds a step the data does not describe; podman build
	// applies an ignore file to COPY . . .
	for _, ignore := range []string{".slugignore", ".dockerignore", ".containerignore"} {
		fsys := fstest.MapFS{
			"go.mod":    {Data: []byte("module example.com/x\n\ngo 1.22\n")},
			"main.go":   {Data: []byte("package main\n\nfunc main() {}\n")},
			ignore:      {Data: []byte("docs\n")},
			"docs/a.md": {Data: []byte("a")},
		}
		plan, err := Detect(fsys, DefaultStack())
		if err != nil {
			t.Fatal(err)
		}
		if plan.Go != nil {
			t.Errorf("a build with %s carries data:\n%s", ignore, plan.Generated)
		}
	}
}

// cfInstructions lists a Containerfile's instructions, continuation lines
// joined, comments and blank lines dropped.
func cfInstructions(cf string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(cf, "\n") {
		if cur == "" && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur += rest + "\\\n"
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	return out
}
