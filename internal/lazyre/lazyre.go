// Package lazyre compiles a regular expression on its first use, so that
// a process which never takes the path needing it never pays for it.
package lazyre

import (
	"fmt"
	"regexp"
	"sync"
)

// MustCompile returns a function that compiles pattern on its first call
// and returns that Regexp from then on. Like regexp.MustCompile it panics
// on a bad pattern, at the first call: Compiles, in the package's tests,
// catches that before the path that first needs it does.
func MustCompile(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}

// Compiles calls each of res (as MustCompile returns them) and says which
// one, counting from 0, failed to compile.
func Compiles(res ...func() *regexp.Regexp) (err error) {
	for i, re := range res {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("pattern %d: %v", i, r)
				}
			}()
			re()
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
