package buildpacks

import (
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
