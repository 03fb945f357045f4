package lazyre

import (
	"strings"
	"testing"
)

func TestMustCompileOnce(t *testing.T) {
	re := MustCompile(`^a+$`)
	if first := re(); first != re() || !first.MatchString("aa") {
		t.Fatal("want one Regexp, compiled from the pattern")
	}
}

func TestMustCompilePanicsOnFirstUse(t *testing.T) {
	re := MustCompile(`(`) // must not panic here
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a bad pattern")
		}
	}()
	re()
}

func TestCompilesNamesTheBadPattern(t *testing.T) {
	if err := Compiles(MustCompile(`a`), MustCompile(`(`)); err == nil || !strings.HasPrefix(err.Error(), "pattern 1: ") {
		t.Fatalf("got %v, want pattern 1's error", err)
	}
	if err := Compiles(MustCompile(`a`), MustCompile(`b`)); err != nil {
		t.Fatal(err)
	}
}
