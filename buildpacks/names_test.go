package buildpacks

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// oldEnvName is the pattern ValidEnvName replaced, kept as its oracle.
var oldEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

func TestValidEnvNameAgreesWithItsPattern(t *testing.T) {
	nametest.Agree(t, nametest.Cases(128, "DATABASE_URL", "_x", "9X", "A-B", "A.B"), nametest.Rule{Old: oldEnvName, Check: ValidEnvName})
}

func FuzzValidEnvName(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		nametest.Agree(t, []string{s}, nametest.Rule{Old: oldEnvName, Check: ValidEnvName})
	})
}
