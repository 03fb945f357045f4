package gitreceive

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  \t\n", nil},
		{"apps:list", []string{"apps:list"}},
		{"  apps:list   --json ", []string{"apps:list", "--json"}},
		{"git-receive-pack '/hello.git'", []string{"git-receive-pack", "/hello.git"}},
		{`config:set app A="x y" B='it''s' C=a\ b`, []string{"config:set", "app", "A=x y", "B=its", "C=a b"}},
		{"x 'a\\b' \"a\\b\" \"\\\"\\\\\\$\\`\" a\\\\b", []string{"x", `a\b`, `a\b`, "\"\\$`", `a\b`}},
		{"x '' \"\"", []string{"x", "", ""}},
		{"x a\\\nb \"c\\\nd\"", []string{"x", "ab", "cd"}},
		{"x 'a\"b' \"a'b\"", []string{"x", `a"b`, "a'b"}},
		{"x héllo", []string{"x", "héllo"}},
	} {
		got, err := SplitCommand(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitCommandUnterminated(t *testing.T) {
	for _, in := range []string{
		`config:set app A="x`,
		`config:set app A='x`,
		`config:set app A="x\"`,
		`x "a\`,
		`x a\`,
		`'`,
	} {
		got, err := SplitCommand(in)
		if !errors.Is(err, ErrUnterminatedQuote) || got != nil {
			t.Errorf("SplitCommand(%q) = %q, %v; want ErrUnterminatedQuote", in, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestSplitCommandCap(t *testing.T) {
	// At the cap a line still splits, however it is quoted.
	arg := strings.Repeat("a", MaxCommandLength-len("config:set app A=''"))
	got, err := SplitCommand("config:set app A='" + arg + "'")
	if err != nil || len(got) != 3 || got[2] != "A="+arg {
		t.Fatalf("line at the cap: %d words, %v", len(got), err)
	}
	// Beyond it the line is refused before any splitting.
	for _, n := range []int{MaxCommandLength + 1, 256 << 10} {
		got, err := SplitCommand("config:set app A=" + strings.Repeat("x", n))
		if !errors.Is(err, ErrCommandTooLong) || got != nil {
			t.Fatalf("%d-byte line: %q, %v; want ErrCommandTooLong", n, got, err)
		}
	}
}

// BenchmarkSplitCommand splits a line at the cap, one long quoted word; the
// time per byte should not grow with the line (it once did quadratically).
func BenchmarkSplitCommand(b *testing.B) {
	line := `config:set app A="` + strings.Repeat("x", MaxCommandLength-20) + `"`
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := SplitCommand(line); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSplitCommand checks that SplitCommand never accepts an over-long
// line and that words quoted back with single quotes split the same again.
func FuzzSplitCommand(f *testing.F) {
	for _, seed := range []string{
		"git-receive-pack '/hello.git'",
		`config:set app A="x y" B='z' C=a\ b`,
		`config:set app A="x`,
		`config:set app A='x`,
		`x a\`,
		"x '' \"\" a\\\nb",
		"config:set app A=" + strings.Repeat("x", MaxCommandLength),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		words, err := SplitCommand(in)
		if len(in) > MaxCommandLength && !errors.Is(err, ErrCommandTooLong) {
			t.Fatalf("%d-byte line accepted", len(in))
		}
		if err != nil {
			if words != nil {
				t.Fatalf("error %v with words %q", err, words)
			}
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := SplitCommand(strings.Join(quoted, " "))
		if err != nil && !errors.Is(err, ErrCommandTooLong) {
			t.Fatalf("re-quoted %q: %v", words, err)
		}
		if err == nil && !slices.Equal(again, words) {
			t.Fatalf("re-quoted %q split as %q", words, again)
		}
	})
}
