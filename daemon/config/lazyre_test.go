package config

import "testing"

// The patterns compiled on first use compile: a typo in one must fail
// here, not on the error path that first needs it.
func TestLazyPatternsCompile(t *testing.T) {
	table, key := lineRes()
	if typeErrRe() == nil || ulimitRe() == nil || table == nil || key == nil {
		t.Fatal("nil regexp")
	}
}
