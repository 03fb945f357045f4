package store

import (
	"context"
	"errors"
	"testing"
)

func TestSetReleaseImage(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	rel, err := s.CreateRelease(ctx, Release{App: "web", Image: "built"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetReleaseImage(ctx, "web", rel.Version, "committed"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRelease(ctx, "web", rel.Version)
	if err != nil || got.Image != "committed" {
		t.Fatalf("image = %q, %v; want committed", got.Image, err)
	}
	if err := s.SetReleaseImage(ctx, "web", 99, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown release: err = %v, want ErrNotFound", err)
	}
	if err := s.ActivateRelease(ctx, "web", rel.Version, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReleaseImage(ctx, "web", rel.Version, "other"); !errors.Is(err, ErrConflict) {
		t.Errorf("active release: err = %v, want ErrConflict", err)
	}
	if got, _ := s.GetRelease(ctx, "web", rel.Version); got.Image != "committed" {
		t.Errorf("active release's image changed to %q", got.Image)
	}
}
