package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
)

func TestStoreReadRereadsOnlyAfterAWrite(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "xcloud.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reads := 0
	var fail error
	read := func(ctx context.Context) ([]store.App, error) {
		reads++
		if fail != nil {
			return nil, fail
		}
		return st.ListApps(ctx)
	}
	var c storeRead[[]store.App]
	check := func(wantReads, wantApps int) {
		t.Helper()
		apps, err := c.get(ctx, st, read)
		if err != nil && fail == nil {
			t.Fatal(err)
		}
		if reads != wantReads || len(apps) != wantApps {
			t.Fatalf("after get: %d reads, %d apps; want %d reads, %d apps", reads, len(apps), wantReads, wantApps)
		}
	}
	check(1, 0)
	check(1, 0) // nothing changed
	if _, err := st.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	check(2, 1)
	check(2, 1)
	if _, err := st.CreateApp(ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	fail = errors.New("disk on fire")
	check(3, 0) // the failed read is not kept
	fail = nil
	check(4, 2)
	check(4, 2)
}
