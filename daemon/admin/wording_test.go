package admin

import (
	"context"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// TestEngineErrorsWordedAsBefore: what the engine refuses with a sentinel
// reaches the user as the same one line the command printed before the
// engine had its own API.
func TestEngineErrorsWordedAsBefore(t *testing.T) {
	st := newAppsStore(t, "web", "site", "fresh")
	ctx := context.Background()
	for app, spec := range map[string]string{"web": `{"processes":{"web":"serve"}}`, "site": `{"static":"abc"}`} {
		rel, err := st.CreateRelease(ctx, store.Release{App: app, Image: "img", Description: "test", Spec: []byte(spec)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ActivateRelease(ctx, app, rel.Version, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := newDoor(daemon.Options{Store: st, BaseDomain: "xcloud.test"}, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps:scale", "web", "worker=1"}, "error: ps:scale: v1 has no process type \"worker\" (it has web) (usage: ps:scale APP TYPE=N...)\n"},
		{[]string{"rollback", "web", "v1"}, "error: rollback: v1 is already serving (usage: rollback APP [vN])\n"},
		{[]string{"rollback", "fresh"}, "error: app has no release yet; push to deploy\n"},
		{[]string{"config:set", "web", "PORT=1"}, "error: config:set: PORT is set by xcloud and cannot be configured (usage: config:set APP KEY=VALUE... [--no-restart] [--encoded])\n"},
		{[]string{"config:unset", "web", "1A"}, "error: config:unset: invalid config var name \"1A\": letters, digits and _, not starting with a digit (usage: config:unset APP KEY... [--no-restart])\n"},
		{[]string{"run", "site", "ls"}, "error: run: site is a static site: it has no container to run commands in\n"},
		{[]string{"cron:run", "site", "abc"}, "error: cron:run: site is a static site: it has no container to run commands in\n"},
		{[]string{"cron:log", "web"}, "error: cron:log: web has no cron runs yet\n"},
		{[]string{"domains:remove", "web", "x.example.com"}, "error: x.example.com is not a domain of app \"web\"\n"},
		{[]string{"builds:cancel", "web"}, "error: no build of web is running\n"},
	} {
		code, out, errs := runKeysCmd(d, keysAdmin, "", tc.args...)
		if code == 0 || out != "" || errs != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errs, tc.want)
		}
	}
}
