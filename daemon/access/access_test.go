package access

import "testing"

func TestAllows(t *testing.T) {
	admin := Principal{Name: "root", Scope: Admin}
	appKey := Principal{Name: "ci", Scope: Deploy, Apps: []string{"web"}}
	reader := Principal{Name: "dash", Scope: Read}
	for _, tc := range []struct {
		p    Principal
		need Scope
		app  string
		want bool
	}{
		{admin, Admin, "", true},
		{admin, Deploy, "any", true},
		{appKey, Deploy, "web", true},
		{appKey, Read, "web", true},
		{appKey, Deploy, "api", false},
		{appKey, Read, "", false}, // an app-bound principal sees no whole-box listing
		{appKey, Admin, "web", false},
		{reader, Read, "web", true},
		{reader, Read, "", true},
		{reader, Deploy, "web", false},
		{Principal{Scope: "bogus"}, Read, "web", false},
	} {
		if got := tc.p.Allows(tc.need, tc.app); got != tc.want {
			t.Errorf("%s (%s %v).Allows(%s, %q) = %v, want %v", tc.p.Name, tc.p.Scope, tc.p.Apps, tc.need, tc.app, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, s := range []string{"read", "deploy", "admin"} {
		if _, err := ParseScope(s); err != nil {
			t.Errorf("ParseScope(%q): %v", s, err)
		}
	}
	if _, err := ParseScope("write"); err == nil {
		t.Error("ParseScope(write) accepted")
	}
}
