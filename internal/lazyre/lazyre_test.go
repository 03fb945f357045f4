package lazyre

import "testing"

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
