package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestRenameApp(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "old")
	mustCreateApp(t, s, "other")
	b, err := s.CreateBuild(ctx, "old", "refs/heads/main", "abc")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRelease(ctx, Release{App: "old", BuildID: b.ID, Image: "img-old", Config: []byte("sealed-for-old")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateRelease(ctx, "old", r.Version, map[string][]byte{"K": []byte("old-seal")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDomain(ctx, "old", "www.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, Key{Name: "dev", Fingerprint: "SHA256:x", PublicKey: "ssh-ed25519 AAAA", Apps: []string{"other", "old"}}); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []struct {
		to   string
		want error
	}{{"other", ErrExists}, {"Bad", ErrInvalidName}, {"new-", ErrInvalidName}} {
		if err := s.RenameApp(ctx, Rename{Old: "old", New: bad.to}); !errors.Is(err, bad.want) {
			t.Errorf("rename to %q = %v, want %v", bad.to, err, bad.want)
		}
	}
	if err := s.RenameApp(ctx, Rename{Old: "nope", New: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename of a missing app = %v", err)
	}

	err = s.RenameApp(ctx, Rename{Old: "old", New: "new",
		Vars:      map[string][]byte{"K": []byte("new-seal")},
		Snapshots: map[int][]byte{r.Version: []byte("sealed-for-new")},
		Images:    map[string]string{"img-old": "img-new"},
	})
	if err != nil {
		t.Fatalf("RenameApp: %v", err)
	}
	if _, err := s.GetApp(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old name still there: %v", err)
	}
	cur, err := s.CurrentRelease(ctx, "new")
	if err != nil || cur.Image != "img-new" || string(cur.Config) != "sealed-for-new" {
		t.Errorf("current release of the new name = %+v, %v", cur, err)
	}
	if vars, err := s.ConfigVars(ctx, "new"); err != nil || string(vars["K"]) != "new-seal" {
		t.Errorf("config vars = %v, %v", vars, err)
	}
	if doms, err := s.Domains(ctx, "new"); err != nil || !slices.Equal(doms, []string{"www.example.com"}) {
		t.Errorf("domains = %v, %v", doms, err)
	}
	if bs, err := s.ListBuilds(ctx, "new", 10); err != nil || len(bs) != 1 {
		t.Errorf("builds = %v, %v", bs, err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 1 || !slices.Equal(keys[0].Apps, []string{"other", "new"}) {
		t.Errorf("keys = %+v, %v", keys, err)
	}
	evs, err := s.ListEvents(ctx, "new", 0, 0)
	if err != nil || len(evs) == 0 || evs[0].Type != EventAppCreated || evs[len(evs)-1].Type != EventAppRenamed {
		t.Errorf("events of the new name = %+v, %v", evs, err)
	}
	if ts, err := s.Tombstones(ctx); err != nil || !slices.Equal(ts, []Tombstone{{Name: "old", RenamedTo: "new"}}) {
		t.Errorf("tombstones = %v, %v", ts, err)
	}
	// The old name is free once its remains are gone.
	if _, err := s.CreateApp(ctx, "old"); !errors.Is(err, ErrUnfinishedDestroy) {
		t.Errorf("create over the rename's tombstone = %v", err)
	}
}
