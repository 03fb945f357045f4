package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := WithActor(context.Background(), "root")
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tok, err := s.CreateToken(ctx, Token{Name: "ci", Hash: []byte("h1"), Scope: "deploy", Apps: []string{"web"}, ExpiresAt: exp})
	if err != nil || tok.ID == 0 || tok.CreatedAt.IsZero() {
		t.Fatalf("create: %+v %v", tok, err)
	}
	if _, err := s.CreateToken(ctx, Token{Name: "ci", Hash: []byte("h2"), Scope: "read"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second live token named ci: %v, want ErrExists", err)
	}
	got, err := s.TokenByHash(ctx, []byte("h1"))
	if err != nil || got.Name != "ci" || got.Scope != "deploy" || len(got.Apps) != 1 || !got.ExpiresAt.Equal(exp) || !got.RevokedAt.IsZero() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, []byte("nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	used := time.Now().UTC()
	if err := s.TouchToken(ctx, got.ID, used); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TokenByHash(ctx, []byte("h1")); !got.LastUsedAt.Equal(used) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, used)
	}
	if err := s.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "ci"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v, want ErrNotFound", err)
	}
	if got, _ := s.TokenByHash(ctx, []byte("h1")); got.RevokedAt.IsZero() {
		t.Error("revoked token reads back live")
	}
	// A revoked token's name may be used again; both stay listed.
	if _, err := s.CreateToken(ctx, Token{Name: "ci", Hash: []byte("h3"), Scope: "read"}); err != nil {
		t.Fatalf("reuse a revoked name: %v", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || !list[0].RevokedAt.IsZero() || list[1].RevokedAt.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	evs, err := s.ListEvents(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
		if e.Actor != "root" {
			t.Errorf("event %s actor %q, want root", e.Type, e.Actor)
		}
	}
	if len(types) != 3 || types[0] != EventTokenCreated || types[1] != EventTokenRevoked || types[2] != EventTokenCreated {
		t.Errorf("events %v", types)
	}
}
