package admin

import (
	"testing"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

// TestServicesCommandsRefuse: wrong arguments and keys that are not an
// admin's get one line and change nothing.
func TestServicesCommandsRefuse(t *testing.T) {
	d := newJSONDoor(t)
	app := gitreceive.Identity{Name: "dev", Apps: []string{"web"}}
	for _, tc := range []struct {
		id   gitreceive.Identity
		args []string
		want string
	}{
		{keysAdmin, []string{"services:create", "postgres"}, "error: services:create: want 2 argument(s), got 1 (usage: services:create postgres|redis NAME [--memory SIZE])\n"},
		{keysAdmin, []string{"services:create", "postgres", "db2", "--memory", "lots"}, "error: services:create: --memory lots: want a size like 256m or 1g (usage: services:create postgres|redis NAME [--memory SIZE])\n"},
		{keysAdmin, []string{"services:destroy", "db"}, "error: services:destroy: this deletes service db and its data; repeat with --force (usage: services:destroy NAME --force [--purge])\n"},
		{keysAdmin, []string{"services:info", "nope"}, "error: service \"nope\" does not exist (services lists them)\n"},
		{keysAdmin, []string{"services:unlink", "db", "web"}, "error: service db is not linked to web\n"},
		{app, []string{"services:link", "db", "web"}, ""},
		{app, []string{"services:list"}, ""},
	} {
		code, out, errs := runKeysCmd(d, tc.id, "", tc.args...)
		if code == 0 || out != "" || (tc.want != "" && errs != tc.want) || (tc.want == "" && errs == "") {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want %q", tc.id.Name, tc.args, code, out, errs, tc.want)
		}
	}
	if _, out, _ := runKeysCmd(d, keysAdmin, "", "services:list"); out != "NAME  TYPE      STATUS   MEMORY     LINKED APPS\ndb    postgres  missing  256.0 MiB  -\n" {
		t.Errorf("services:list:\n%s", out)
	}
}
