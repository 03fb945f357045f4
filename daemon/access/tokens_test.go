package access

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

func TestTokensAuthenticate(t *testing.T) {
	st := storetest.WithApps(t, "web")
	tokens := NewTokens(st)
	ctx := context.Background()
	secret, tok, err := tokens.Create(ctx, NewToken{Name: "ci", Scope: Deploy, Apps: []string{"web", "web"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 || tok.ExpiresAt.IsZero() || len(tok.Apps) != 1 {
		t.Fatalf("secret %q, token %+v", secret, tok)
	}
	p, err := tokens.Authenticate(ctx, secret)
	if err != nil || p.Name != "ci" || p.Kind != "token" || p.Scope != Deploy || !p.Allows(Deploy, "web") || p.Allows(Read, "api") {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	list, err := st.ListTokens(ctx)
	if err != nil || len(list) != 1 || list[0].LastUsedAt.IsZero() {
		t.Fatalf("last use not recorded: %+v %v", list, err)
	}
	if _, _, err := tokens.Create(ctx, NewToken{Name: "ci", Scope: Read}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate name: %v", err)
	}
	for _, bad := range []NewToken{{Name: "Bad Name", Scope: Read}, {Name: "x", Scope: "write"}} {
		if _, _, err := tokens.Create(ctx, bad); err == nil {
			t.Errorf("created %+v", bad)
		}
	}

	for _, tc := range []struct {
		secret string
		want   error
	}{
		{"", ErrNoToken},
		{"xct_short", ErrMalformedToken},
		{"ghp_" + secret[4:], ErrMalformedToken},
		{secret[:len(secret)-1] + "!", ErrMalformedToken},
		{TokenPrefix + strings.Repeat("A", 43), ErrUnknownToken},
	} {
		if _, err := tokens.Authenticate(ctx, tc.secret); !errors.Is(err, tc.want) {
			t.Errorf("Authenticate(%q) = %v, want %v", tc.secret, err, tc.want)
		}
	}

	tokens.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := tokens.Authenticate(ctx, secret); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired: %v", err)
	}
	tokens.now = time.Now
	if err := tokens.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Authenticate(ctx, secret); !errors.Is(err, ErrRevokedToken) {
		t.Errorf("revoked: %v", err)
	}
}
