package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

// BenchmarkApps times apps:list's reads at 1, 10 and 50 deployed apps
// (no runtime: the one container listing is not what grows).
func BenchmarkApps(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			ctx := context.Background()
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("app%02d", i)
			}
			st := storetest.WithApps(b, names...)
			for _, app := range names {
				r, err := st.CreateRelease(ctx, store.Release{App: app, Image: app + ":1", CommitSHA: "abc", Spec: []byte(`{}`)})
				if err != nil {
					b.Fatal(err)
				}
				if err := st.ActivateRelease(ctx, app, r.Version, nil); err != nil {
					b.Fatal(err)
				}
				if err := st.AddDomain(ctx, app, app+".example.com"); err != nil {
					b.Fatal(err)
				}
			}
			d := New(Options{Store: st, BaseDomain: "xcloud.test", Logger: slog.New(slog.DiscardHandler)})
			for b.Loop() {
				apps, err := d.Apps(ctx)
				if err != nil || len(apps) != n {
					b.Fatalf("Apps() = %d apps, %v", len(apps), err)
				}
			}
		})
	}
}
