package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestMountsFollowTheirApp: a mount goes with a destroyed app while its
// volume stays; it follows a renamed app; a volume still mounted cannot be
// deleted; each change is an event naming who acted.
func TestMountsFollowTheirApp(t *testing.T) {
	ctx := WithActor(context.Background(), "alice")
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")
	if _, err := s.AddMount(ctx, Mount{App: "web", Volume: "data", Path: "/app/data"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMount(ctx, Mount{App: "web", HostDir: "/srv/media", Path: "/app/media", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMount(ctx, Mount{App: "api", Volume: "data", Path: "/data"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMount(ctx, Mount{App: "web", Volume: "other", Path: "/app/data"}); !errors.Is(err, ErrExists) {
		t.Errorf("a second mount at a path: %v, want ErrExists", err)
	}
	if _, err := s.AddMount(ctx, Mount{App: "nope", Volume: "data", Path: "/x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a mount for a missing app: %v, want ErrNotFound", err)
	}
	if _, err := s.AddMount(ctx, Mount{App: "web", Volume: "Bad", Path: "/x"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("a bad volume name: %v, want ErrInvalidName", err)
	}
	if err := s.DeleteVolume(ctx, "data", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("deleting a mounted volume: %v, want ErrConflict", err)
	}

	if err := s.RenameApp(ctx, Rename{Old: "web", New: "www"}); err != nil {
		t.Fatalf("rename an app with mounts: %v", err)
	}
	ms, err := s.Mounts(ctx, "www")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Path != "/app/data" || ms[1].HostDir != "/srv/media" || !ms[1].ReadOnly {
		t.Errorf("www's mounts after the rename: %+v", ms)
	}

	if err := s.DeleteApp(ctx, "www"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.Mounts(ctx, ""); len(ms) != 0 {
		t.Errorf("mounts of destroyed apps: %+v", ms)
	}
	vs, err := s.Volumes(ctx)
	if err != nil || len(vs) != 1 || vs[0].Name != "data" {
		t.Fatalf("volumes after the apps went: %+v %v; want data kept", vs, err)
	}
	if err := s.DeleteVolume(ctx, "data", "api"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVolume(ctx, "data", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a deleted volume: %v, want ErrNotFound", err)
	}

	evs, err := s.ListEvents(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if strings.HasPrefix(e.Type, "storage:") {
			if e.Actor != "alice" {
				t.Errorf("%s by %q, want alice", e.Type, e.Actor)
			}
			got = append(got, e.Type)
		}
	}
	if strings.Join(got, " ") != "storage:mounted storage:mounted storage:mounted storage:destroyed" {
		t.Errorf("storage events: %v", got)
	}
}

func TestDeployStrategy(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	if st, err := s.DeployStrategy(ctx, "web"); err != nil || st != StrategyRolling {
		t.Fatalf("default strategy %q %v, want rolling", st, err)
	}
	if err := s.SetDeployStrategy(ctx, "web", StrategyRecreate); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.DeployStrategy(ctx, "web"); st != StrategyRecreate {
		t.Errorf("strategy %q, want recreate", st)
	}
	if err := s.SetDeployStrategy(ctx, "web", "canary"); err == nil {
		t.Error("strategy canary accepted")
	}
	if _, err := s.DeployStrategy(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("strategy of a missing app: %v, want ErrNotFound", err)
	}
}
