package podman

import (
	"regexp"
	"testing"
)

// The patterns compiled on first use (lazyre) compile: a typo in one must
// fail here, not on the rare path that first needs it.
func TestLazyPatternsCompile(t *testing.T) {
	for _, re := range []func() *regexp.Regexp{
		goValueRe,
		builderDirRe,
		copierPipeRe,
		danglingRe,
	} {
		if re() == nil {
			t.Fatal("nil regexp")
		}
	}
}
