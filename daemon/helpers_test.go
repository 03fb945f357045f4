package daemon

import (
	"bytes"
	"io"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

// newAppsStore opens a store in a temp dir with the given apps created.
func newAppsStore(t *testing.T, apps ...string) *store.Store {
	return storetest.WithApps(t, apps...)
}

func TestIndenterAndCapped(t *testing.T) {
	var buf bytes.Buffer
	in := (&progress{w: &buf}).indent()
	io.WriteString(in, "a\nb")
	io.WriteString(in, "c\n")
	if got := buf.String(); got != "       a\n       bc\n" {
		t.Errorf("indented = %q", got)
	}
	c := &Capped{Max: 4}
	n, err := c.Write([]byte("abcdef"))
	if n != 6 || err != nil || string(c.Bytes()) != "abcd" {
		t.Errorf("capped: n=%d err=%v bytes=%q", n, err, c.Bytes())
	}
}

func TestLimitsOver(t *testing.T) {
	if got := (Limits{CPUs: 2}).over(Limits{MemoryBytes: 1, CPUs: 1, Pids: 3}); got != (Limits{MemoryBytes: 1, CPUs: 2, Pids: 3}) {
		t.Errorf("over = %+v", got)
	}
}
