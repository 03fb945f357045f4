package daemon

import (
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
)

func TestPreviewName(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, tc := range []struct{ app, branch, want string }{
		{"web", "feature", "web--feature"},
		{"web", "Feature/Login_Page", "web--feature-login-page"},
		{"web", "fix--double..dots", "web--fix-double-dots"},
		{"web", "-lead/trail-", "web--lead-trail"},
		{"web", "日本", "web--"}, // no letter or digit left: a hash names it
		{"shop", "feature/" + long + long, "shop--feature-"},
	} {
		got, err := PreviewName(tc.app, tc.branch)
		if err != nil {
			t.Errorf("%s %q: %v", tc.app, tc.branch, err)
			continue
		}
		if !strings.HasPrefix(got, tc.want) || store.ValidateAppName(got) != nil || len(got) > 63 {
			t.Errorf("%s %q: got %q, want a valid name starting %q", tc.app, tc.branch, got, tc.want)
		}
	}
	// Long names that differ only past the cut stay apart.
	a, _ := PreviewName("shop", long+long+"a")
	b, _ := PreviewName("shop", long+long+"b")
	if a == b {
		t.Errorf("two long branches share the preview name %q", a)
	}
	// An app name too long to leave room for a branch is one line.
	if _, err := PreviewName(strings.Repeat("a", 62), "x"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("long app name: %v", err)
	}
}
