package gitreceive

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
	"github.com/xcloud-dev/xcloud/store"
)

// The patterns the checks replaced, kept as their oracles.
var (
	oldAppName     = regexp.MustCompile(AppNamePattern)
	oldCommandName = regexp.MustCompile(`^[a-z][a-z0-9:._-]{0,63}$`)
	oldVarName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
	oldFlag        = regexp.MustCompile(`^--?[a-z][a-z0-9-]{0,31}$`)
)

func storeAppName(s string) bool { return store.ValidateAppName(s) == nil }

func agreeAll(t testing.TB, cases []string) {
	t.Helper()
	nametest.Agree(t, oldAppName, ValidAppName, cases)
	// One rule for app names, whichever package checks it.
	nametest.Agree(t, oldAppName, storeAppName, cases)
	nametest.Agree(t, oldCommandName, logsafeCommand, cases)
	nametest.Agree(t, oldVarName, logsafeVar, cases)
	nametest.Agree(t, oldFlag, logsafeFlag, cases)
}

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	var cases []string
	for _, max := range []int{32, 33, 63, 64, 128} {
		cases = append(cases, nametest.Cases(max)...)
	}
	cases = append(cases, "config:set", "-a", "--app", "---a", "--", "-", "-1", "a.b-c_D", "a-", "-a")
	agreeAll(t, cases)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { agreeAll(t, []string{s}) })
}
