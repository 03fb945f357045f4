package daemon

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/gitreceive"
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

// TestDeployBranchRefusals: with previews off a branch is not taken; a
// branch whose preview name is another app's, or one preview too many, is
// refused in one line and creates nothing.
func TestDeployBranchRefusals(t *testing.T) {
	st := newAppsStore(t, "web", "web--taken", "web--one")
	d := New(Options{Store: st, Previews: PreviewOptions{MaxPerApp: 1}, Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	push := func(branch, sha string) (bool, error) {
		return d.DeployBranch(ctx, gitreceive.Push{App: "web", Ref: "refs/heads/" + branch, NewSHA: sha, Pusher: gitreceive.Identity{Name: "alice"}}, io.Discard)
	}
	if handled, err := push("feature", "abc"); handled || err != nil {
		t.Fatalf("previews off: handled %v, %v", handled, err)
	}
	if err := d.EnablePreviews(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if handled, err := push("Taken", "abc"); !handled || err == nil || !strings.Contains(err.Error(), "web--taken, an app that exists already") {
		t.Errorf("taken name: handled %v, %v", handled, err)
	}
	if err := st.AddPreview(ctx, store.Preview{App: "web--one", Parent: "web", Branch: "one"}); err != nil {
		t.Fatal(err)
	}
	if handled, err := push("two", "abc"); !handled || err == nil || !strings.Contains(err.Error(), "max_per_app") {
		t.Errorf("one too many: handled %v, %v", handled, err)
	}
	if _, err := st.GetApp(ctx, "web--two"); err == nil {
		t.Error("a refused preview was created")
	}
	if handled, err := push("gone", ""); handled || err != nil {
		t.Errorf("deleting a branch without a preview: handled %v, %v", handled, err)
	}
	if err := d.EnablePreviews(ctx, "web--one"); err == nil {
		t.Error("a preview took previews:enable")
	}
}
