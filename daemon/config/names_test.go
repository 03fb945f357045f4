package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/internal/nametest"
)

// The checks and the patterns they replaced, kept as their oracles.
var nameRules = []nametest.Rule{
	{Old: regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), Check: dnsName},
	{Old: regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`), Check: imageName},
	{Old: regexp.MustCompile(notifyNamePattern), Check: validNotifyName},
}

func TestNameChecksAgreeWithTheirPatterns(t *testing.T) {
	cases := nametest.Cases(63)
	label, long := strings.Repeat("a", 63), strings.Repeat("b", 64)
	cases = append(cases, "example.com", "apps.example.com", "a.b.c", ".a", "a.", "a..b", "-a.b", "a-.b", "a.-b", "A.b", "x_y.z",
		label+"."+label, label+"."+long, long+".a", "1.2.3.4", "é.com", "a.b\n")
	for _, host := range []string{"localhost", "localhost:5000", "reg.example.com:5000", "Reg", "a-", "-a", "", "a:", "a:b"} {
		for _, path := range []string{"", "/xcloud/base", "/x", "/a..b", "/a_b-c.d", "/A", "//x", "/x/"} {
			for _, tag := range []string{"", ":trixie", ":", ":_x", ":.x", ":-x", ":v1.2-rc_3", ":a:b", ":a/b",
				":" + strings.Repeat("t", 128), ":" + strings.Repeat("t", 129)} {
				cases = append(cases, host+path+tag)
			}
		}
	}
	nametest.Agree(t, cases, nameRules...)
}

func FuzzNameChecks(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) { nametest.Agree(t, []string{s}, nameRules...) })
}
