package store

import (
	"context"
	"errors"
	"testing"
)

func TestFormationAndSpec(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.CreateApp(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Formation(ctx, "a"); err != nil || len(f) != 0 {
		t.Fatalf("empty formation = %v, %v", f, err)
	}
	if err := s.SetFormation(ctx, "a", map[string]int{"web": 3, "worker": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFormation(ctx, "a", map[string]int{"worker": 0}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Formation(ctx, "a")
	if err != nil || f["web"] != 3 || f["worker"] != 0 || len(f) != 2 {
		t.Errorf("formation = %v, %v", f, err)
	}
	for _, bad := range []map[string]int{{"web": -1}, {"a b": 1}, {"": 1}} {
		if err := s.SetFormation(ctx, "a", bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetFormation(%v) = %v, want ErrInvalidName", bad, err)
		}
	}
	if err := s.SetFormation(ctx, "nope", map[string]int{"web": 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetFormation(unknown app) = %v", err)
	}

	if err := s.SetStopped(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	if a, err := s.GetApp(ctx, "a"); err != nil || !a.Stopped {
		t.Errorf("stopped app = %+v, %v", a, err)
	}
	if err := s.SetStopped(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStopped(unknown) = %v", err)
	}

	if err := s.SetLimits(ctx, "a", []byte(`{"memory":1}`)); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetApp(ctx, "a"); string(a.Limits) != `{"memory":1}` {
		t.Errorf("limits = %q", a.Limits)
	}

	r, err := s.CreateRelease(ctx, Release{App: "a", Image: "img", Spec: []byte(`{"processes":{"web":"x"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRelease(ctx, "a", r.Version)
	if err != nil || string(got.Spec) != `{"processes":{"web":"x"}}` {
		t.Errorf("spec round trip = %q, %v", got.Spec, err)
	}
	r2, err := s.CreateRelease(ctx, Release{App: "a", Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRelease(ctx, "a", r2.Version); string(got.Spec) != "{}" {
		t.Errorf("default spec = %q", got.Spec)
	}
}

func TestConfigVarsAndReleaseSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.CreateApp(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfigVars(ctx, "a", map[string][]byte{"A": []byte("1"), "B": []byte("2")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfigVars(ctx, "a", map[string][]byte{"A": []byte("3")}, []string{"B", "MISSING"}); err != nil {
		t.Fatal(err)
	}
	vars, err := s.ConfigVars(ctx, "a")
	if err != nil || len(vars) != 1 || string(vars["A"]) != "3" {
		t.Errorf("vars = %v, %v", vars, err)
	}
	if err := s.SetConfigVars(ctx, "nope", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: %v", err)
	}
	r, err := s.CreateRelease(ctx, Release{App: "a", Image: "img", Config: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRelease(ctx, "a", r.Version); string(got.Config) != "\x01\x02\x03" {
		t.Errorf("config snapshot = %v", got.Config)
	}
	// Activation makes the release's vars the app's, in the same transaction.
	if err := s.ActivateRelease(ctx, "a", r.Version, map[string][]byte{"C": []byte("4")}); err != nil {
		t.Fatal(err)
	}
	vars, err = s.ConfigVars(ctx, "a")
	if err != nil || len(vars) != 1 || string(vars["C"]) != "4" {
		t.Errorf("vars after activation = %v, %v; want only C", vars, err)
	}
}
