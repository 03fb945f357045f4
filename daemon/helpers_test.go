package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
)

// newAppsStore opens a store in a temp dir with the given apps created.
func newAppsStore(t *testing.T, apps ...string) *store.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "x.db"), store.Options{BackupsDir: filepath.Join(dir, "b"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range apps {
		if _, err := st.CreateApp(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

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

func TestLimitsOver(t *testing.T) {
	if got := (Limits{CPUs: 2}).over(Limits{MemoryBytes: 1, CPUs: 1, Pids: 3}); got != (Limits{MemoryBytes: 1, CPUs: 2, Pids: 3}) {
		t.Errorf("over = %+v", got)
	}
}
