package admin

import (
	"testing"

	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
)

// TestPrincipalOfKey: an SSH key is a principal of the one model: admin
// keys are admins, app keys deploy to their apps, and a non-admin key
// without apps reaches nothing (not every app, as an empty list would
// mean for a token).
func TestPrincipalOfKey(t *testing.T) {
	admin := principal(gitreceive.Identity{Name: "root", Admin: true})
	app := principal(gitreceive.Identity{Name: "alice", Apps: []string{"web"}})
	none := principal(gitreceive.Identity{Name: "stray"})
	for _, tc := range []struct {
		p    perm.Principal
		need perm.Scope
		app  string
		want bool
	}{
		{admin, perm.Admin, "", true},
		{admin, perm.Deploy, "web", true},
		{app, perm.Deploy, "web", true},
		{app, perm.Read, "api", false},
		{app, perm.Admin, "web", false},
		{none, perm.Read, "web", false},
		{none, perm.Read, "", false},
		{admin, accessAny, "", false}, // not a scope: never granted by Allows
	} {
		if got := tc.p.Allows(tc.need, tc.app); got != tc.want {
			t.Errorf("%s.Allows(%s, %q) = %v, want %v", tc.p.Name, tc.need, tc.app, got, tc.want)
		}
	}
	if app.Kind != "key" || app.Name != "alice" {
		t.Errorf("principal %+v", app)
	}
}
