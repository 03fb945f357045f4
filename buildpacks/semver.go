package buildpacks

import (
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// semverComparator matches one comparator of an npm version range.
var semverComparator = lazyre.MustCompile(`^(>=|<=|>|<|=|\^|~>?)?v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$`)

// semver is a major.minor.patch version.
type semver [3]int

func (a semver) less(b semver) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// infinity returns a version above every real one.
func infinity() semver { return semver{1 << 30} }

// interval is the versions v with lo <= v < hi.
type interval struct{ lo, hi semver }

func (iv interval) empty() bool { return !iv.lo.less(iv.hi) }

func (iv interval) intersect(o interval) interval {
	if iv.lo.less(o.lo) {
		iv.lo = o.lo
	}
	if o.hi.less(iv.hi) {
		iv.hi = o.hi
	}
	return iv
}

// partial is a version with only its first n components given: 20, 20.1.
type partial struct {
	v semver
	n int
}

func parsePartial(parts []string) partial {
	var p partial
	for _, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil { // "", x, X or *: this and the rest are wildcards
			break
		}
		p.v[p.n] = n
		p.n++
	}
	return p
}

// next returns the first version past every version p covers: 20 → 21.0.0,
// 20.1 → 20.2.0, 20.1.2 → 20.1.3.
func (p partial) next() semver {
	if p.n == 0 {
		return infinity()
	}
	var v semver
	copy(v[:], p.v[:p.n])
	v[p.n-1]++
	return v
}

// versionLine returns the versions a stack version such as "20" or "20.19"
// stands for.
func versionLine(v string) (interval, bool) {
	m := semverComparator().FindStringSubmatch(strings.TrimSpace(v))
	if m == nil || m[1] != "" {
		return interval{}, false
	}
	p := parsePartial(m[2:5])
	if p.n == 0 {
		return interval{}, false
	}
	return interval{p.v, p.next()}, true
}

// parseRange parses an npm version range: sets of comparators joined by
// "||". It returns the non-empty intervals the sets admit; ok is false when
// r cannot be parsed. An empty set ("", "a || ") admits every version.
func parseRange(r string) (ivs []interval, ok bool) {
	for _, set := range strings.Split(r, "||") {
		if strings.TrimSpace(set) == "" {
			ivs = append(ivs, interval{hi: infinity()})
			continue
		}
		iv, ok := parseRangeSet(set)
		if !ok {
			return nil, false
		}
		if !iv.empty() {
			ivs = append(ivs, iv)
		}
	}
	return ivs, true
}

// parseRangeSet parses space-separated comparators (all must hold) or a
// hyphen range "a - b" into an interval.
func parseRangeSet(set string) (interval, bool) {
	all := interval{hi: infinity()}
	// Join operators written apart from their version: ">= 18".
	var toks []string
	for _, f := range strings.Fields(set) {
		if n := len(toks); n > 0 && strings.Trim(toks[n-1], "<>=^~") == "" && toks[n-1] != "-" {
			toks[n-1] += f
			continue
		}
		toks = append(toks, f)
	}
	for i := 0; i < len(toks); i++ {
		var iv interval
		if i+2 < len(toks) && toks[i+1] == "-" {
			a, okA := comparatorPartial(toks[i])
			b, okB := comparatorPartial(toks[i+2])
			if !okA || !okB {
				return interval{}, false
			}
			iv = interval{a.v, b.next()}
			i += 2
		} else {
			var ok bool
			if iv, ok = parseComparator(toks[i]); !ok {
				return interval{}, false
			}
		}
		all = all.intersect(iv)
	}
	return all, true
}

// comparatorPartial parses an operator-free version of a hyphen range.
func comparatorPartial(tok string) (partial, bool) {
	m := semverComparator().FindStringSubmatch(tok)
	if m == nil || m[1] != "" {
		return partial{}, false
	}
	return parsePartial(m[2:5]), true
}

// parseComparator parses one comparator such as ">=18", "^20.1" or "20.x".
func parseComparator(tok string) (interval, bool) {
	m := semverComparator().FindStringSubmatch(tok)
	if m == nil {
		return interval{}, false
	}
	p := parsePartial(m[2:5])
	all := interval{hi: infinity()}
	if p.n == 0 {
		switch m[1] {
		case ">", "<":
			return interval{}, true // nothing
		}
		return all, true
	}
	switch m[1] {
	case "", "=":
		return interval{p.v, p.next()}, true
	case ">=":
		return interval{p.v, infinity()}, true
	case ">":
		return interval{p.next(), infinity()}, true
	case "<":
		return interval{semver{}, p.v}, true
	case "<=":
		return interval{semver{}, p.next()}, true
	case "~", "~>":
		if p.n == 1 {
			return interval{p.v, semver{p.v[0] + 1}}, true
		}
		return interval{p.v, semver{p.v[0], p.v[1] + 1}}, true
	case "^":
		switch {
		case p.v[0] > 0 || p.n == 1:
			return interval{p.v, semver{p.v[0] + 1}}, true
		case p.v[1] > 0 || p.n == 2:
			return interval{p.v, semver{0, p.v[1] + 1}}, true
		default:
			return interval{p.v, semver{0, 0, p.v[2] + 1}}, true
		}
	}
	return interval{}, false
}
