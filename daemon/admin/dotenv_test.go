package admin

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func dotenvMap(vars []dotenvVar) map[string]string {
	m := map[string]string{}
	for _, v := range vars {
		m[v.key] = v.value
	}
	return m
}

func TestParseDotenv(t *testing.T) {
	in := "\ufeff# a comment\n" +
		"PLAIN=value\n" +
		"  SPACED = padded value   # trailing comment\n" +
		"export EXPORTED=yes\r\n" +
		"EMPTY=\n" +
		"EMPTY2=   # only a comment\n" +
		"HASH=a#b\n" +
		"HASH2=#not-a-comment\n" +
		"SINGLE='literal $HOME \\n # kept'  # comment\n" +
		"DOUBLE=\"tab\\there\\nnew \\\"q\\\" \\\\ \\$HOME \\x\"\n" +
		"MULTI=\"line one\nline two\"\n" +
		"MULTI1='a\nb'\n" +
		"URL=postgres://u:p@h:5432/db?sslmode=disable\n" +
		"EQ=a=b=c\n" +
		"DUP=first\n" +
		"DUP=second\n" +
		"\n" +
		"LAST=no newline"
	vars, err := parseDotenv([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN": "value", "SPACED": "padded value", "EXPORTED": "yes", "EMPTY": "", "EMPTY2": "",
		"HASH": "a#b", "HASH2": "#not-a-comment",
		"SINGLE": `literal $HOME \n # kept`, "DOUBLE": "tab\there\nnew \"q\" \\ $HOME \\x",
		"MULTI": "line one\nline two", "MULTI1": "a\nb",
		"URL": "postgres://u:p@h:5432/db?sslmode=disable", "EQ": "a=b=c", "DUP": "second", "LAST": "no newline",
	}
	if got := dotenvMap(vars); !maps.Equal(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		t.Errorf("got %q", got)
	}
	lines := map[string]int{}
	for _, v := range vars {
		lines[v.key] = v.line
	}
	if lines["PLAIN"] != 2 || lines["MULTI1"] != 13 || lines["URL"] != 15 || lines["LAST"] != 20 {
		t.Errorf("line numbers: %v", lines)
	}

	for _, tc := range []struct{ in, want string }{
		{"A=1\nB\n", `line 2: B has no = after it (want KEY=VALUE)`},
		{"A=1\n1A=x\n", `line 2: "1A" is not a config var name: letters, digits and _, not starting with a digit`},
		{"FOO-BAR=1\n", `line 1: "FOO-BAR" is not a config var name: letters, digits and _, not starting with a digit`},
		{"A='open\nB=2\n", `line 1: the ' opening A's value is not closed`},
		{"\n\nA=\"open\\\"\n", `line 3: the " opening A's value is not closed`},
		{"A='x' junk\n", `line 1: text after the closing quote of A's value: "junk"`},
		{"A=\"x\ny\" junk\n", `line 2: text after the closing quote of A's value: "junk"`},
		{"export\n", `line 1: export has no = after it (want KEY=VALUE)`},
		{"=x\n", `line 1: "=x" is not a config var name: letters, digits and _, not starting with a digit`},
	} {
		if _, err := parseDotenv([]byte(tc.in)); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v; want %s", tc.in, err, tc.want)
		}
	}
}

func TestFormatDotenvRoundTrip(t *testing.T) {
	vars := map[string]string{"A": "plain", "B": "", "C": "with space", "D": "q\"uo'te $x `y` \\z", "E": "two\nlines\r\ttab", "F": "#hash"}
	text := formatDotenv(vars)
	if !strings.HasPrefix(text, "A=plain\nB=\"\"\nC=\"with space\"\n") {
		t.Errorf("formatDotenv:\n%s", text)
	}
	got, err := parseDotenv([]byte(text))
	if err != nil || !maps.Equal(dotenvMap(got), vars) {
		t.Errorf("round trip: %q %v\n%s", dotenvMap(got), err, text)
	}
}

// FuzzParseDotenv: the parser never panics, a parsed file's vars written
// out by formatDotenv read back the same, and a value set through
// formatDotenv comes back whole. The corpus is in testdata/fuzz.
func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{
		"A=1\n", "export B='x y'\n", "C=\"a\\nb\" # c\n", "D=\n#x\nE=f#g", "F='multi\nline'", "G=\"unterminated",
	} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, file, value string) {
		vars, err := parseDotenv([]byte(file))
		if err == nil {
			m := dotenvMap(vars)
			back, err := parseDotenv([]byte(formatDotenv(m)))
			if err != nil || !maps.Equal(dotenvMap(back), m) {
				t.Fatalf("%q: formatted and parsed again: %q, %v", m, dotenvMap(back), err)
			}
		} else if !strings.HasPrefix(err.Error(), "line ") {
			t.Fatalf("%q: error %v does not name a line", file, err)
		}
		if !utf8.ValidString(value) {
			return
		}
		one := map[string]string{"K": value}
		back, err := parseDotenv([]byte(formatDotenv(one)))
		if err != nil || !maps.Equal(dotenvMap(back), one) {
			t.Fatalf("value %q: read back %q, %v", value, dotenvMap(back), err)
		}
	})
}

// TestConfigImportExport: config:import sets a .env file's vars in one
// change, config:export prints them back as a .env file; a bad file is
// refused in one line naming its line, and nothing changes.
func TestConfigImportExport(t *testing.T) {
	d := newJSONDoor(t)
	env := "# settings\nexport GREETING='hello there'\nDATABASE_URL=postgres://db/x # the db\nNOTE=\"two\\nlines\"\n"
	if code, out, errs := runKeysCmd(d, keysAdmin, env, "config:import", "api"); code != 0 {
		t.Fatalf("config:import: %d %q %q", code, out, errs)
	}
	code, out, errs := runKeysCmd(d, keysAdmin, "", "config:export", "api")
	want := "DATABASE_URL=postgres://db/x\nGREETING=\"hello there\"\nNOTE=\"two\\nlines\"\n"
	if code != 0 || out != want {
		t.Fatalf("config:export: %d %q %q; want %q", code, out, errs, want)
	}
	for _, tc := range []struct{ stdin, want string }{
		{"A=1\nB='open\n", "error: config:import: line 2: the ' opening B's value is not closed\n"},
		{"A=1\nPORT=80\n", "error: config:import: line 2: PORT is set by xcloud and cannot be configured\n"},
		{"# nothing\n", "error: config:import: no KEY=VALUE lines on stdin (usage: config:import APP < .env)\n"},
	} {
		if code, out, errs := runKeysCmd(d, keysAdmin, tc.stdin, "config:import", "api"); code == 0 || out != "" || errs != tc.want {
			t.Errorf("%q: %d %q %q; want %q", tc.stdin, code, out, errs, tc.want)
		}
	}
	if _, again, _ := runKeysCmd(d, keysAdmin, "", "config:export", "api"); again != want {
		t.Errorf("a refused import changed the config:\n%s", again)
	}
}
