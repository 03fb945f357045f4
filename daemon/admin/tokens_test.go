package admin

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

func TestTokensCommands(t *testing.T) {
	d, st, _ := newKeysDaemon(t)
	tokens := perm.NewTokens(st)
	d.Admin.WithTokens(tokens, "https://xcloud.xcloud.test/")
	ctx := context.Background()

	code, out, errs := runKeysCmd(d, keysAdmin, "", "tokens:create", "ci", "--scope", "deploy", "--app", "web", "--expires", "30d")
	if code != 0 {
		t.Fatalf("tokens:create: %d %q", code, errs)
	}
	secret := regexp.MustCompile(`xct_[A-Za-z0-9_-]{43}`).FindString(out)
	if secret == "" || !strings.Contains(out, "Created token ci: deploy on web, expires ") ||
		!strings.Contains(out, `curl -H "Authorization: Bearer `+secret+`" https://xcloud.xcloud.test/api/v1/apps`) {
		t.Fatalf("tokens:create printed:\n%s", out)
	}
	p, err := tokens.Authenticate(ctx, secret)
	if err != nil || p.Name != "ci" || p.Scope != perm.Deploy || !p.Allows(perm.Deploy, "web") || p.Allows(perm.Read, "api") {
		t.Fatalf("the printed token: %+v %v", p, err)
	}
	evs := eventsOf(t, st, store.EventTokenCreated)
	if len(evs) != 1 || evs[0].Actor != keysAdmin.Name || strings.Contains(evs[0].Message+toJSON(t, evs[0].Data), secret) {
		t.Errorf("token:created events %+v", evs)
	}

	code, out, _ = runKeysCmd(d, keysAdmin, "", "tokens")
	if code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "deploy") || strings.Contains(out, secret) || strings.Contains(out, "xct_") {
		t.Errorf("tokens: %d\n%s", code, out)
	}
	code, out, _ = runKeysCmd(d, keysAdmin, "", "tokens", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0]["name"] != "ci" || list[0]["scope"] != "deploy" {
		t.Errorf("tokens --json: %d %v\n%s", code, err, out)
	}
	if _, ok := list[0]["hash"]; ok || strings.Contains(out, secret) {
		t.Errorf("tokens --json shows the hash or secret:\n%s", out)
	}

	// Bad input: one line, nothing made.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tokens:create", "ci", "--scope", "read"}, `a token named "ci" already exists`},
		{[]string{"tokens:create", "x"}, "give --scope once"},
		{[]string{"tokens:create", "x", "--scope", "write"}, `unknown scope "write"`},
		{[]string{"tokens:create", "x", "--scope", "admin", "--app", "web"}, "an admin token reaches every app"},
		{[]string{"tokens:create", "x", "--scope", "read", "--app", "nope"}, `app "nope" does not exist`},
		{[]string{"tokens:create", "x", "--scope", "read", "--app", "../etc"}, "invalid"},
		{[]string{"tokens:create", "x", "--scope", "read", "--expires", "soon"}, "--expires soon: want a number"},
		{[]string{"tokens:create", "x", "--scope", "read", "--expires", "0d"}, "--expires 0d"},
		{[]string{"tokens:create", "x", "--scope", "read", "--expires", "99999d"}, "at most 3650d"},
		{[]string{"tokens:create", "Bad Name", "--scope", "read"}, "invalid token name"},
		{[]string{"tokens:revoke", "nope"}, `no active token named "nope"`},
	} {
		code, out, errs := runKeysCmd(d, keysAdmin, "", tc.args...)
		if code == 0 || out != "" || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, out %q, err %q; want one line with %q", tc.args, code, out, errs, tc.want)
		}
	}
	if l, _ := tokens.List(ctx); len(l) != 1 {
		t.Errorf("rejected creates made tokens: %+v", l)
	}

	// App keys may not manage tokens.
	alice := gitreceive.Identity{Name: "alice", Apps: []string{"web"}}
	for _, args := range [][]string{{"tokens"}, {"tokens:create", "x", "--scope", "read"}, {"tokens:revoke", "ci"}} {
		if code, _, errs := runKeysCmd(d, alice, "", args...); code == 0 || !strings.Contains(errs, "it needs an admin key") {
			t.Errorf("%v by an app key: %d %q", args, code, errs)
		}
	}

	if code, out, errs := runKeysCmd(d, keysAdmin, "", "tokens:revoke", "ci"); code != 0 || out != "Revoked token ci; it is refused from now on.\n" {
		t.Fatalf("tokens:revoke: %d %q %q", code, out, errs)
	}
	if _, err := tokens.Authenticate(ctx, secret); err == nil {
		t.Error("a revoked token still authenticates")
	}
	if evs := eventsOf(t, st, store.EventTokenRevoked); len(evs) != 1 || evs[0].Actor != keysAdmin.Name {
		t.Errorf("token:revoked events %+v", evs)
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1w", "1.5d", "30"} {
		if _, err := parseTTL(in); err == nil {
			t.Errorf("parseTTL(%q) accepted", in)
		}
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
