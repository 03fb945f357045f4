package backup

import (
	"regexp"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// The checks and the patterns they replaced, kept as their oracles.
var nameRules = []nametest.Rule{
	{Old: regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`), Check: validName},
	{Old: regexp.MustCompile(`^[0-9a-f]{64}$`), Check: hex256},
	{Old: regexp.MustCompile(`^((sha256:)?[0-9a-f]{64}|[a-z0-9][a-z0-9._/-]{0,200}:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$`), Check: imageRef},
}

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	cases := append(nametest.Cases(63), nametest.Cases(64)...)
	for _, name := range []string{"", "a", "localhost/xcloud/app", "-x", "A", strings.Repeat("a", 201), strings.Repeat("a", 202), "sha256", "a:b"} {
		for _, tag := range []string{"", "v1", "_x", ".x", "-x", "Latest", "a:b", "é", strings.Repeat("t", 128), strings.Repeat("t", 129)} {
			cases = append(cases, name+":"+tag, name+tag)
		}
	}
	cases = append(cases, hex, "sha256:"+hex, "sha256:sha256:"+hex, "sha512:"+hex, "sha256:"+hex[1:], strings.ToUpper(hex), hex+"\n")
	nametest.Agree(t, cases, nameRules...)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { nametest.Agree(t, []string{s}, nameRules...) })
}
