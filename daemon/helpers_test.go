package daemon

import (
	"bytes"
	"io"
	"testing"
)

func TestIndenterAndCapped(t *testing.T) {
	var buf bytes.Buffer
	in := (&progress{w: &buf}).indent()
	io.WriteString(in, "a\nb")
	io.WriteString(in, "c\n")
	if got := buf.String(); got != "       a\n       bc\n" {
		t.Errorf("indented = %q", got)
	}
	c := &capped{max: 4}
	n, err := c.Write([]byte("abcdef"))
	if n != 6 || err != nil || string(c.Bytes()) != "abcd" {
		t.Errorf("capped: n=%d err=%v bytes=%q", n, err, c.Bytes())
	}
}

func TestParseAuthorizedKeys(t *testing.T) {
	keys, err := parseAuthorizedKeys([]byte("# admins\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].name != "alice@laptop" {
		t.Errorf("keys = %+v", keys)
	}
	if _, err := parseAuthorizedKeys([]byte("ssh-ed25519 AAAA\n")); err == nil || err.Error()[:6] != "line 1" {
		t.Errorf("bad key error = %v", err)
	}
}

func TestParseLimits(t *testing.T) {
	l, err := parseLimits(Limits{Pids: 64}, []string{"memory=256m", "cpus=0.5"})
	if err != nil || l != (Limits{MemoryBytes: 256 << 20, CPUs: 0.5, Pids: 64}) {
		t.Errorf("parseLimits = %+v, %v", l, err)
	}
	for _, bad := range []string{"memory=1k", "cpus=0", "pids=3", "disk=1g", "memory"} {
		if _, err := parseLimits(Limits{}, []string{bad}); err == nil {
			t.Errorf("parseLimits(%q) accepted", bad)
		}
	}
	if got := (Limits{CPUs: 2}).over(Limits{MemoryBytes: 1, CPUs: 1, Pids: 3}); got != (Limits{MemoryBytes: 1, CPUs: 2, Pids: 3}) {
		t.Errorf("over = %+v", got)
	}
}
