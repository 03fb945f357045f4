// Package storetest gives other packages' tests a real SQLite store.
package storetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
)

// WithApps opens a store in a temp dir with the given apps created; it is
// closed when the test ends.
func WithApps(t testing.TB, apps ...string) *store.Store {
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
