package gitreceive

import (
	"regexp"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
	"github.com/xcloud-dev/xcloud/store"
)

// The checks and the patterns they replaced, kept as their oracles.
var nameRules = []nametest.Rule{
	{Old: regexp.MustCompile(AppNamePattern), Check: ValidAppName},
	// One rule for app names, whichever package checks it.
	{Old: regexp.MustCompile(AppNamePattern), Check: func(s string) bool { return store.ValidateAppName(s) == nil }},
	{Old: regexp.MustCompile(`^[a-z][a-z0-9:._-]{0,63}$`), Check: logsafeCommand},
	{Old: regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`), Check: logsafeVar},
	{Old: regexp.MustCompile(`^--?[a-z][a-z0-9-]{0,31}$`), Check: logsafeFlag},
}

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	var cases []string
	for _, max := range []int{32, 33, 63, 64, 128} {
		cases = append(cases, nametest.Cases(max)...)
	}
	cases = append(cases, "config:set", "-a", "--app", "---a", "--", "-", "-1", "a.b-c_D", "a-", "-a")
	nametest.Agree(t, cases, nameRules...)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { nametest.Agree(t, []string{s}, nameRules...) })
}
