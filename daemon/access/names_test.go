package access

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// oldName is the pattern ValidName replaced, kept as its oracle.
var oldName = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,62}$`)

func TestValidNameAgreesWithItsPattern(t *testing.T) {
	nametest.Agree(t, nametest.Cases(63, "ci@host", "deploy.bot", "a_b", "-a", ".a", "@a", "a@"), nametest.Rule{Old: oldName, Check: ValidName})
}

func FuzzValidName(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		nametest.Agree(t, []string{s}, nametest.Rule{Old: oldName, Check: ValidName})
	})
}
