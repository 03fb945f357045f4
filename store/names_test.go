package store

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// The patterns the name checks replaced, kept as their oracles.
var (
	oldAppName     = regexp.MustCompile(appNamePattern)
	oldVolumeName  = regexp.MustCompile(volumeNamePattern)
	oldProcessType = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
)

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	cases := nametest.Cases(63, "app", "my-app-2", "a-", "-a", "a--b", "9lives", "App")
	nametest.Agree(t, oldAppName, validAppName, cases)
	nametest.Agree(t, oldVolumeName, validVolumeName, cases)
	nametest.Agree(t, oldProcessType, validProcessType, cases)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		nametest.Agree(t, oldAppName, validAppName, []string{s})
		nametest.Agree(t, oldVolumeName, validVolumeName, []string{s})
		nametest.Agree(t, oldProcessType, validProcessType, []string{s})
	})
}
