package podman

import (
	"regexp"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// oldImageID is the pattern IsImageID replaced, kept as its oracle.
var oldImageID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestIsImageIDAgreesWithItsPattern(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	nametest.Agree(t, nametest.Cases(64, hex, strings.ToUpper(hex), "sha256:"+hex, hex+"\n", hex[1:]+"g"), nametest.Rule{Old: oldImageID, Check: IsImageID})
}

func FuzzIsImageID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		nametest.Agree(t, []string{s}, nametest.Rule{Old: oldImageID, Check: IsImageID})
	})
}
