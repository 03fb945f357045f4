package store

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
)

// AppOverviews reads in five queries what apps:list used to read with
// four an app; it must agree with those per-app reads for every app.
func TestAppOverviewsAgreeWithPerAppReads(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	for _, name := range []string{"web", "api", "empty", "broken"} {
		mustCreateApp(t, s, name)
	}
	release := func(app string) int {
		t.Helper()
		r, err := s.CreateRelease(ctx, Release{App: app, Image: app + ":img", CommitSHA: "abc", Spec: []byte(`{"web":"x"}`), Config: []byte("sealed")})
		if err != nil {
			t.Fatal(err)
		}
		return r.Version
	}
	activate := func(app string, v int) {
		t.Helper()
		if err := s.ActivateRelease(ctx, app, v, map[string][]byte{"K": []byte("sealed")}); err != nil {
			t.Fatal(err)
		}
	}
	activate("web", release("web"))
	activate("web", release("web"))
	release("web") // pending: the newest, not the current one
	activate("api", release("api"))
	if err := s.FailRelease(ctx, "api", release("api"), "health check"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailRelease(ctx, "broken", release("broken"), "build"); err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]string{{"web", "b.example.com"}, {"web", "a.example.com"}, {"api", "api.example.com"}} {
		if err := s.AddDomain(ctx, d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetFormation(ctx, "web", map[string]int{"web": 2, "worker": 0}); err != nil {
		t.Fatal(err)
	}

	all, err := s.AppOverviews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(apps) {
		t.Fatalf("%d overviews for %d apps", len(all), len(apps))
	}
	for i, o := range all {
		a := apps[i]
		if o.App.Name != a.Name || o.App.CurrentRelease != a.CurrentRelease || !o.App.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("overview %d is app %+v, want %+v", i, o.App, a)
		}
		newest, err := s.ListReleases(ctx, a.Name, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last ReleaseStatus
		if len(newest) > 0 {
			last = newest[0].Status
		}
		if o.LastDeploy != last {
			t.Errorf("%s: last deploy %q, want %q", a.Name, o.LastDeploy, last)
		}
		if a.CurrentRelease > 0 {
			cur, err := s.CurrentRelease(ctx, a.Name)
			if err != nil {
				t.Fatal(err)
			}
			cur.Config = nil // not read for a listing
			if o.Current.Version != cur.Version || o.Current.Image != cur.Image || o.Current.CommitSHA != cur.CommitSHA ||
				!o.Current.CreatedAt.Equal(cur.CreatedAt) || string(o.Current.Spec) != string(cur.Spec) || o.Current.Config != nil {
				t.Errorf("%s: current release %+v, want %+v", a.Name, o.Current, cur)
			}
		} else if o.Current.Version != 0 {
			t.Errorf("%s: current release v%d, want none", a.Name, o.Current.Version)
		}
		doms, err := s.Domains(ctx, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(o.Domains, doms) || o.Domains == nil {
			t.Errorf("%s: domains %q, want %q (not nil)", a.Name, o.Domains, doms)
		}
		form, err := s.Formation(ctx, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(o.Formation, form) {
			t.Errorf("%s: formation %v, want %v", a.Name, o.Formation, form)
		}
		one, err := s.GetAppOverview(ctx, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		if one.App.Name != o.App.Name || one.LastDeploy != o.LastDeploy || one.Current.Version != o.Current.Version ||
			!slices.Equal(one.Domains, o.Domains) || !maps.Equal(one.Formation, o.Formation) {
			t.Errorf("GetAppOverview(%s) = %+v, want %+v", a.Name, one, o)
		}
	}
	if got := all[slices.IndexFunc(all, func(o AppOverview) bool { return o.App.Name == "web" })]; got.LastDeploy != ReleasePending || got.Current.Version != 2 {
		t.Errorf("web: last deploy %q, current v%d; want pending and v2", got.LastDeploy, got.Current.Version)
	}
	if _, err := s.GetAppOverview(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetAppOverview(nope) = %v, want ErrNotFound", err)
	}
}

func TestAppOverviewsNoApps(t *testing.T) {
	all, err := newTestStore(t, Options{}).AppOverviews(context.Background())
	if err != nil || len(all) != 0 {
		t.Fatalf("AppOverviews() = %v, %v; want none", all, err)
	}
}
