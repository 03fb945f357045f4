package store

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// The checks and the patterns they replaced, kept as their oracles.
var nameRules = []nametest.Rule{
	{Old: regexp.MustCompile(appNamePattern), Check: validAppName},
	{Old: regexp.MustCompile(volumeNamePattern), Check: validVolumeName},
	{Old: regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`), Check: validProcessType},
}

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	nametest.Agree(t, nametest.Cases(63, "app", "my-app-2", "a-", "-a", "a--b", "9lives", "App"), nameRules...)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { nametest.Agree(t, []string{s}, nameRules...) })
}
