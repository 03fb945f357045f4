// Package lazyre compiles a regular expression on its first use, so that
// a process which never takes the path needing it never pays for it.
package lazyre

import (
	"regexp"
	"sync"
)

// MustCompile returns a function that compiles pattern on its first call
// and returns that Regexp from then on. Like regexp.MustCompile it panics
// on a bad pattern, at the first call: a test of the path that uses it
// catches that.
func MustCompile(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
