// Package nametest checks a hand-written name rule against the regular
// expression it replaces, which stays in the test as the oracle.
package nametest

import (
	"regexp"
	"strings"
	"testing"
)

// odd are the characters a name rule most often gets wrong at its edges.
var odd = []string{"a", "z", "A", "Z", "0", "9", "_", "-", ".", "@", ":", "/", "+", " ", "é", "\n", "\x00"}

// Cases returns strings around the edges of a rule whose longest accepted
// name has max characters: every length from 0 to 3 and from max-1 to
// max+1, filled with each of a set of characters, with each of them also
// put first, last, or both. More are appended as given.
func Cases(max int, more ...string) []string {
	lengths := []int{0, 1, 2, 3, max - 1, max, max + 1}
	var out []string
	for _, n := range lengths {
		if n < 0 {
			continue
		}
		for _, fill := range odd {
			s := strings.Repeat(fill, n)
			out = append(out, s)
			if n == 0 {
				continue
			}
			for _, c := range odd {
				out = append(out, c+s[len(fill):], s[:len(s)-len(fill)]+c)
			}
		}
		if n == 0 {
			continue
		}
		// One body of 'a's, the odd character first, last or both: the
		// same for every fill, so built once a length.
		body := strings.Repeat("a", n)
		for _, first := range odd {
			out = append(out, first+body[1:])
			for _, last := range odd {
				if n > 1 {
					out = append(out, first+body[1:n-1]+last)
				}
			}
		}
	}
	return append(out, more...)
}

// Rule is a name check and the pattern it replaced.
type Rule struct {
	Old   *regexp.Regexp
	Check func(string) bool
}

// Agree fails t for every case on which a rule's check and its old
// pattern disagree.
func Agree(t testing.TB, cases []string, rules ...Rule) {
	t.Helper()
	for _, r := range rules {
		bad := 0
		for _, s := range cases {
			if want := r.Old.MatchString(s); r.Check(s) != want {
				if bad++; bad <= 10 {
					t.Errorf("%q: %s says %v, the check %v", s, r.Old, want, !want)
				}
			}
		}
		if bad > 10 {
			t.Errorf("%s: and %d more disagreements", r.Old, bad-10)
		}
	}
}
