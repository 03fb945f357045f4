package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// runRuntime lists web's one container and runs one-offs whose program is
// never in the image, as the Podman adapter reports it.
type runRuntime struct{ listRuntime }

func (runRuntime) EnsureNetwork(context.Context, string, map[string]string) error { return nil }

func (runRuntime) RunAttached(_ context.Context, cs podman.ContainerSpec, _ podman.Stdio) (int, error) {
	return -1, fmt.Errorf("start container %s: %w", cs.Name, podman.ErrProgramNotFound)
}

// TestFirstHourAnswers: the wrong or noisy answers a new user met, each
// now one line in words.
func TestFirstHourAnswers(t *testing.T) {
	st := newAppsStore(t, "web", "site", "down", "broken")
	ctx := context.Background()
	for app, spec := range map[string]string{
		"web":    `{"processes":{"web":"serve","worker":"work"}}`,
		"site":   `{"static":"abc"}`,
		"down":   `{"processes":{"web":"serve"}}`,
		"broken": `{"processes":{"web":"serve"}}`,
	} {
		rel, err := st.CreateRelease(ctx, store.Release{App: app, Image: "img", Description: "test", Spec: []byte(spec)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ActivateRelease(ctx, app, rel.Version, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetStopped(ctx, "down", true); err != nil {
		t.Fatal(err)
	}
	// broken's newest release failed; v1 still serves.
	rel, err := st.CreateRelease(ctx, store.Release{App: "broken", Image: "img2", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FailRelease(ctx, "broken", rel.Version, "health check failed"); err != nil {
		t.Fatal(err)
	}
	d := newDoor(daemon.Options{Store: st, Runtime: runRuntime{}, BaseDomain: "xcloud.test", Instance: "test", SSHAddr: "xcloud.test:2222"}, "")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"builds:log", "web", "99"}, "error: build 99 of web does not exist (builds web lists them)\n"},
		{[]string{"builds:log", "web"}, "error: web has no builds yet: push to build\n"},
		{[]string{"rollback", "web", "v99"}, "error: rollback: web has no release v99 (releases web lists them)\n"},
		{[]string{"rollback", "web"}, "error: rollback: web has no release before v1 that served: nothing to roll back to\n"},
		{[]string{"rollback", "broken", "v2"}, "error: rollback: release v2 never served (failed); pick one that did\n"},
		{[]string{"ps:scale", "site", "web=2"}, "error: ps:scale: site is a static site: it runs no processes, so there is nothing to scale\n"},
		{[]string{"logs", "web", "--type", "nope"}, "error: logs: --type nope: web has no process type \"nope\"; its log has web, worker, run, cron\n"},
		{[]string{"config:get", "web", "NOPE"}, "error: config:get: web has no config var NOPE (config web lists them)\n"},
		{[]string{"run", "web", "pyhton", "manage.py"}, "error: web v1 has no program \"pyhton\" (not found on its $PATH); a shell command line goes as one quoted argument: ssh -p 2222 xcloud@xcloud.test \"run web 'cd app && ls'\"\n"},
		{[]string{"ps:sacle", "web", "web=2"}, "error: unknown command \"ps:sacle\"; did you mean ps:scale? (help lists them all)\n"},
		{[]string{"ps:scale", "web", "web=2", "--json"}, "error: ps:scale has no --json output (usage: ps:scale APP TYPE=N...)\n"},
	} {
		code, out, errs := runKeysCmd(d, keysAdmin, "", tc.args...)
		if code == 0 || out != "" || errs != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errs, tc.want)
		}
	}
	if code, out, errs := runKeysCmd(d, keysAdmin, "", "logs", "web", "--type", "worker"); code != 0 {
		t.Errorf("logs web --type worker: %d %q %q", code, out, errs)
	}

	if code, out, errs := runKeysCmd(d, keysAdmin, "", "ps", "web"); code != 0 || !strings.Contains(out, "UPTIME") ||
		!strings.Contains(out, "web   v1       running  1m30s   0") {
		t.Errorf("ps web: %d %q %q; want the container's uptime", code, out, errs)
	}
	code, out, errs := runKeysCmd(d, keysAdmin, "", "apps:list")
	if code != 0 {
		t.Fatalf("apps:list: %d %s", code, errs)
	}
	for app, status := range map[string]string{"web": "running", "site": "running", "down": "stopped", "broken": "failed"} {
		if !strings.Contains(out, fmt.Sprintf("\n%-6s  %s ", app, status)) {
			t.Errorf("apps:list does not show %s %s:\n%s", app, status, out)
		}
	}
	code, out, _ = runKeysCmd(d, keysAdmin, "", "apps:info", "broken")
	if code != 0 || !strings.Contains(out, "Status:       failed") || !strings.Contains(out, "the newest release failed") ||
		!strings.Contains(out, "Git remote:   ssh://xcloud@xcloud.test:2222/broken.git") {
		t.Errorf("apps:info broken:\n%s", out)
	}
}
