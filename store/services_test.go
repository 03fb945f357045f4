package store

import (
	"context"
	"errors"
	"testing"
)

func TestServicesLinks(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.CreateApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateService(ctx, Service{Name: "Bad_Name", Type: ServicePostgres, Password: []byte("x")}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := s.CreateService(ctx, Service{Name: "db", Type: ServicePostgres, Password: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateService(ctx, Service{Name: "db", Type: ServiceRedis, Password: []byte("x")}); !errors.Is(err, ErrExists) {
		t.Fatalf("second db: %v", err)
	}
	if _, err := s.LinkService(ctx, ServiceLink{Service: "db", App: "nope", Var: "DATABASE_URL"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link to a missing app: %v", err)
	}
	if _, err := s.LinkService(ctx, ServiceLink{Service: "db", App: "web", Var: "DATABASE_URL"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkService(ctx, ServiceLink{Service: "db", App: "web", Var: "DATABASE_URL"}); !errors.Is(err, ErrExists) {
		t.Fatalf("linked twice: %v", err)
	}
	if err := s.DeleteService(ctx, "db"); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete while linked: %v", err)
	}
	links, err := s.ServiceLinks(ctx, "db")
	if err != nil || len(links) != 1 || links[0].App != "web" || links[0].Var != "DATABASE_URL" {
		t.Fatalf("links = %v, %v", links, err)
	}
	if err := s.ServiceBackedUp(ctx, "db", false); err != nil {
		t.Fatal(err)
	}
	if svc, err := s.GetService(ctx, "db"); err != nil || svc.LastBackupAt.IsZero() || string(svc.Password) != "sealed" {
		t.Fatalf("service = %+v, %v", svc, err)
	}
	if err := s.SetServiceBackupSchedule(ctx, "db", "@daily", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServiceBackupSchedule(ctx, "nope", "@daily", 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("schedule of a missing service: %v", err)
	}
	if svc, err := s.GetService(ctx, "db"); err != nil || svc.BackupSchedule != "@daily" || svc.BackupKeep != 3 {
		t.Fatalf("schedule = %+v, %v", svc, err)
	}
	if err := s.UnlinkService(ctx, "db", "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkService(ctx, "db", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlinked twice: %v", err)
	}
	if err := s.DeleteService(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if svcs, err := s.ListServices(ctx); err != nil || len(svcs) != 0 {
		t.Fatalf("services = %v, %v", svcs, err)
	}
}

// TestServiceExposeMajorAndGrants: the v14 columns round-trip: a
// service's published address and major, and a key's service grants.
func TestServiceExposeMajorAndGrants(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.CreateService(ctx, Service{Name: "db", Type: ServicePostgres, Password: []byte("x"), Major: 17}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServiceExpose(ctx, "db", "127.0.0.1:15432"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServiceExpose(ctx, "nope", "127.0.0.1:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expose of a missing service: %v", err)
	}
	if err := s.SetServiceMajor(ctx, "db", 18, "vol-18"); err != nil {
		t.Fatal(err)
	}
	svc, err := s.GetService(ctx, "db")
	if err != nil || svc.Expose != "127.0.0.1:15432" || svc.Major != 18 || svc.Volume != "vol-18" {
		t.Fatalf("service = %+v, %v", svc, err)
	}
	if err := s.AddKey(ctx, Key{Name: "alice", Fingerprint: "SHA256:a", PublicKey: "ssh-ed25519 AAAA", Apps: []string{"web"}, Services: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, Key{Name: "bob", Fingerprint: "SHA256:b", PublicKey: "ssh-ed25519 BBBB", Apps: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	a, err := s.KeyByFingerprint(ctx, "SHA256:a")
	if err != nil || len(a.Services) != 1 || a.Services[0] != "db" {
		t.Fatalf("alice = %+v, %v", a, err)
	}
	if b, err := s.KeyByFingerprint(ctx, "SHA256:b"); err != nil || b.Services != nil {
		t.Fatalf("bob = %+v, %v", b, err)
	}
}
