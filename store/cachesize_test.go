package store

import (
	"context"
	"testing"
)

// Every connection's page cache is bounded below SQLite's 2 MB default:
// that memory lives outside Go's heap and stays resident once filled.
func TestConnectionPageCacheBounded(t *testing.T) {
	s := newTestStore(t, Options{})
	for name, db := range map[string]queryer{"writer": s.w, "reader": s.r} {
		var n int
		if err := db.QueryRowContext(context.Background(), "PRAGMA cache_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		// Negative is KiB; positive, pages of 4 KiB.
		kib := -n
		if n > 0 {
			kib = n * 4
		}
		if kib > 256 {
			t.Errorf("%s connection: page cache of %d KiB, want at most 256", name, kib)
		}
	}
}
