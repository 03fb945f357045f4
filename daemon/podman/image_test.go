package podman

import (
	"os"
	"strings"
	"testing"
)

// TestBuildErrorMessage: build errors as Podman 4.3 sends them (testdata,
// captured from its build API) become one line naming the problem, without
// Buildah's Go structs or its temporary directory.
func TestBuildErrorMessage(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"copy-dangling-absolute.txt", `building at STEP "COPY broken /app/broken": "broken" is a symbolic link to "/nonexistent/target", which is not in the build context (the repository)`},
		{"copy-dangling-relative.txt", `building at STEP "COPY broken /app/x": "broken" is a symbolic link to "/missing.txt", which is not in the build context (the repository)`},
		{"copy-missing.txt", `building at STEP "COPY nothere /app/": checking on sources under the build context: copier: stat: "/nothere": no such file or directory`},
	} {
		raw, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := BuildErrorMessage(string(raw)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.file, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"plain failure\n": "plain failure",
		"two\nlines":      "two lines",
		`x for pkg.T{A:"}", B:[]string{"{"}}: tail`: "x: tail",
		`cut pkg.T{unclosed`:                        "cut",
		`a map{ is fine`:                            `a map{ is fine`,
		`building at STEP "COPY broken /broken": error encoding request for copier subprocess: write |1: broken pipe`: `building at STEP "COPY broken /broken": Podman could not read this step's sources from the repository (a symbolic link to a file outside the repository fails like this)`,
	} {
		if got := BuildErrorMessage(in); got != want {
			t.Errorf("BuildErrorMessage(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(BuildErrorMessage(in), "\n") {
			t.Errorf("BuildErrorMessage(%q) has a newline", in)
		}
	}
}

func TestJSONArray(t *testing.T) {
	if got := JSONArray([]string{"/bin/sh", "-c", `exec x "$PORT" <&`}); got != `["/bin/sh","-c","exec x \"$PORT\" <&"]` {
		t.Errorf("JSONArray = %s", got)
	}
	if got := JSONArray(nil); got != "[]" {
		t.Errorf("JSONArray(nil) = %s", got)
	}
}
