package export

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// oldDNSLabel is the pattern dnsLabel replaced, kept as its oracle.
var oldDNSLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func TestDNSLabelAgreesWithItsPattern(t *testing.T) {
	nametest.Agree(t, nametest.Cases(63, "default", "kube-system", "0", "a-", "-a", "a.b"), nametest.Rule{Old: oldDNSLabel, Check: dnsLabel})
}

func FuzzDNSLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		nametest.Agree(t, []string{s}, nametest.Rule{Old: oldDNSLabel, Check: dnsLabel})
	})
}
