package admin

import (
	"github.com/xcloud-dev/xcloud/daemon"

	"strings"
	"testing"
)

func TestParseAssignments(t *testing.T) {
	got, err := parseAssignments([]string{"A=1", "URL=postgres://u:p@h/db?x=y", "MULTI=a b\nc", "EMPTY="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "URL": "postgres://u:p@h/db?x=y", "MULTI": "a b\nc", "EMPTY": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"NOEQ", "=x", "1A=x", "A-B=x", "PORT=1", "XCLOUD_APP=x"} {
		if _, err := parseAssignments([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseAssignments(nil); err == nil {
		t.Error("no assignments accepted")
	}
}

// FuzzParseAssignments: whatever the SSH command line splits into, parsing
// never panics, and what it accepts round-trips.
func FuzzParseAssignments(f *testing.F) {
	for _, s := range []string{"A=1", "K=a=b=c", "X=line\nline", "=", "1=2", "PORT=80", "A_B=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		got, err := parseAssignments([]string{arg})
		if err != nil {
			return
		}
		k, v, _ := strings.Cut(arg, "=")
		if len(got) != 1 || got[k] != v || daemon.CheckVarName(k) != nil {
			t.Fatalf("%q parsed to %v", arg, got)
		}
	})
}

func TestDecodeValues(t *testing.T) {
	got, err := decodeValues(map[string]string{"A": "aGk9dGhlcmUKbGluZSAy", "EMPTY": ""})
	if err != nil || got["A"] != "hi=there\nline 2" || got["EMPTY"] != "" {
		t.Errorf("decodeValues = %q, %v", got, err)
	}
	_, err = decodeValues(map[string]string{"B": "not base64!"})
	if err == nil || !strings.Contains(err.Error(), "value of B is not base64") {
		t.Errorf("bad base64: %v", err)
	}
}
