package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// listRuntime is a container runtime that only lists: one running web
// container of web's v1, no images. Anything else panics (nil Runtime).
type listRuntime struct{ daemon.Runtime }

func (listRuntime) List(_ context.Context, labels map[string]string) ([]podman.Container, error) {
	c := podman.Container{ID: "c1", Name: "xcloud-web-web-v1-abc123", State: "running", Running: true,
		StartedAt: time.Now().Add(-90 * time.Second), HostPort: 40001,
		Labels: map[string]string{"xcloud.app": "web", "xcloud.release": "1", "xcloud.process": "web"}}
	for k, v := range labels {
		if c.Labels[k] != v && k != "xcloud.instance" && k != "xcloud.managed" {
			return nil, nil
		}
	}
	return []podman.Container{c}, nil
}

// ListExited: the one container runs.
func (listRuntime) ListExited(context.Context, map[string]string) ([]podman.Container, error) {
	return nil, nil
}

func (listRuntime) ListVolumes(context.Context, map[string]string) ([]podman.VolumeInfo, error) {
	return nil, nil
}

func (listRuntime) VolumeSizes(context.Context) (map[string]int64, error) { return nil, nil }

func (listRuntime) VolumeSize(context.Context, string) (int64, error) { return -1, nil }

func (listRuntime) ListImages(context.Context, map[string]string, bool) ([]podman.ImageInfo, error) {
	return nil, nil
}

// newJSONDoor has app web with a release, a build, a cron job with a run,
// a domain and a config var, app api without a release, and the token
// commands set up.
func newJSONDoor(t *testing.T) *door {
	t.Helper()
	st := newAppsStore(t, "web", "api")
	ctx := context.Background()
	b, err := st.CreateBuild(ctx, "web", "refs/heads/main", "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishBuild(ctx, b.ID, store.BuildSucceeded, "img1", "", []byte("build log")); err != nil {
		t.Fatal(err)
	}
	spec := `{"processes":{"web":"serve"},"cron":[{"id":"job1","command":"echo hi","schedule":"@daily"}]}`
	rel, err := st.CreateRelease(ctx, store.Release{App: "web", BuildID: b.ID, Image: "img1", CommitSHA: "0123456789abcdef", Description: "push", Spec: []byte(spec)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateRelease(ctx, "web", rel.Version, map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	run, err := st.StartCronRun(ctx, store.CronRun{App: "web", Job: "job1", Command: "echo hi", Schedule: "@daily", Release: 1, Trigger: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishCronRun(ctx, run.ID, 0, []byte("hi\n"), ""); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDomain(ctx, "web", "shop.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateService(ctx, store.Service{Name: "db", Type: store.ServicePostgres, Password: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	d := newDoor(daemon.Options{Store: st, Runtime: listRuntime{}, Router: &fakeRouter{}, BaseDomain: "xcloud.test",
		Instance: "test", SSHAddr: "xcloud.test:2222", Version: "1.2.3", Secrets: testBox(t)}, "")
	d.Admin.WithTokens(perm.NewTokens(st), "https://xcloud.test/")
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "config:set", "api", "GREETING=hi"); code != 0 {
		t.Fatalf("config:set: %s", errs)
	}
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "tokens:create", "ci", "--scope", "read"); code != 0 {
		t.Fatalf("tokens:create: %s", errs)
	}
	return d
}

// jsonArgs are the arguments each --json command is run with; a command
// that takes --json and is missing here fails the test.
var jsonArgs = map[string][]string{
	"version":       nil,
	"apps:list":     nil,
	"apps:info":     {"web"},
	"previews":      {"web"},
	"releases":      {"web"},
	"builds":        {"web"},
	"ps":            {"web"},
	"resources":     {"web"},
	"config":        {"api"},
	"domains":       {"web"},
	"keys:list":     nil,
	"cron":          {"web"},
	"cron:runs":     {"web"},
	"events":        {"web"},
	"logs":          {"web"},
	"tokens":        nil,
	"storage":       {"web"},
	"storage:list":  nil,
	"deploy:report": {"web"},
	"services":      nil,
	"services:list": nil,
	"services:info": {"db"},
	"export:kube":   {"web"},
}

// foreignJSON are commands whose JSON is another system's format, with
// its own names: their keys and fields are not checked against ours.
var foreignJSON = map[string]string{
	"export:kube": "a Kubernetes v1 List, in the Kubernetes API's names",
}

// TestJSONEveryCommand runs every command whose usage offers --json and
// decodes its output: one JSON document, snake_case keys at every depth,
// release numbers as an integer "version", no blobs. Every other command
// refuses --json in one line.
func TestJSONEveryCommand(t *testing.T) {
	d := newJSONDoor(t)
	var offered []string
	for _, c := range commands() {
		if !c.takesJSON() {
			if code, out, errs := runKeysCmd(d, keysAdmin, "", c.name, "--json"); code == 0 || out != "" ||
				errs != "error: "+c.name+" has no --json output (usage: "+c.usage+")\n" {
				t.Errorf("%s --json: exit %d, stdout %q, stderr %q; want it refused in one line", c.name, code, out, errs)
			}
			continue
		}
		offered = append(offered, c.name)
		args, ok := jsonArgs[c.name]
		if !ok {
			t.Errorf("%s offers --json; add its arguments to jsonArgs", c.name)
			continue
		}
		code, out, errs := runKeysCmd(d, keysAdmin, "", append(append([]string{c.name}, args...), "--json")...)
		if code != 0 {
			t.Errorf("%s --json: exit %d: %s", c.name, code, errs)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s --json: %v\n%s", c.name, err, out)
			continue
		}
		if dec.More() {
			t.Errorf("%s --json prints more than one JSON document:\n%s", c.name, out)
		}
		switch v.(type) {
		case []any, map[string]any:
		default:
			t.Errorf("%s --json: want an array or an object, got %T", c.name, v)
		}
		if _, ok := foreignJSON[c.name]; ok {
			continue
		}
		checkKeys(t, c.name, v)
		for _, blob := range []string{"spec", "config\":", "limits\":", "output", "secret", "token_hash", "hash"} {
			if strings.Contains(out, "\""+blob) {
				t.Errorf("%s --json holds %q:\n%s", c.name, blob, out)
			}
		}
		for _, old := range []string{"current_release", "\"release\":", "\"commit\":"} {
			if strings.Contains(out, old) {
				t.Errorf("%s --json names a release number other than \"version\" (%s):\n%s", c.name, old, out)
			}
		}
	}
	for name := range jsonArgs {
		if !slices.Contains(offered, name) {
			t.Errorf("jsonArgs has %s, whose usage does not offer --json", name)
		}
	}
	// Spot checks of what the documents hold.
	_, out, _ := runKeysCmd(d, keysAdmin, "", "apps:info", "web", "--json")
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info["version"] != 1.0 || info["status"] != "running" || info["git_remote"] != "ssh://xcloud@xcloud.test:2222/web.git" || info["commit_sha"] != "0123456789abcdef" {
		t.Errorf("apps:info web --json: %s", out)
	}
	if ps, _ := info["processes"].([]any); len(ps) != 1 {
		t.Errorf("apps:info web --json has no processes: %s", out)
	}
	_, out, _ = runKeysCmd(d, keysAdmin, "", "apps:list", "--json")
	var apps []map[string]any
	if err := json.Unmarshal([]byte(out), &apps); err != nil || len(apps) != 2 {
		t.Fatalf("apps:list --json: %v\n%s", err, out)
	}
	for _, a := range apps {
		if a["name"] == "api" && (a["version"] != nil || a["status"] != "no release" || a["commit_sha"] != nil) {
			t.Errorf("an app without a release: %v; want version and commit_sha null, status \"no release\"", a)
		}
	}
	_, out, _ = runKeysCmd(d, keysAdmin, "", "ps", "web", "--json")
	if !strings.Contains(out, `"version": 1,`) || !strings.Contains(out, `"started_at": "`) {
		t.Errorf("ps web --json: %s", out)
	}
}

// checkKeys fails for an object key with anything but a-z, 0-9 and _,
// at any depth. Config var names are data, not keys of the format.
func checkKeys(t *testing.T, cmd string, v any) {
	t.Helper()
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			checkKeys(t, cmd, e)
		}
	case map[string]any:
		for k, e := range v {
			if cmd == "config" {
				continue // the app's own var names
			}
			for _, r := range k {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
					t.Errorf("%s --json: key %q is not snake_case", cmd, k)
					break
				}
			}
			if k == "data" {
				continue // an event's data: keys chosen by each event, checked in store
			}
			checkKeys(t, cmd, e)
		}
	}
}

// TestHelpGroupsAndWidth: help lists every command the key may run under
// its group, each line under 100 columns, with the daemon's real SSH host
// and port; help COMMAND and COMMAND --help show usage and an example.
func TestHelpGroupsAndWidth(t *testing.T) {
	d := newJSONDoor(t)
	code, out, errs := runKeysCmd(d, keysAdmin, "", "help")
	if code != 0 {
		t.Fatalf("help: %d %s", code, errs)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) >= 100 {
			t.Errorf("help line of %d columns: %q", len(l), l)
		}
	}
	for _, g := range []string{"Apps:", "Deploys:", "Processes:", "Config:", "Domains and TLS:", "Keys:", "Cron:", "Logs and events:", "Tokens:"} {
		if !strings.Contains(out, "\n"+g+"\n") {
			t.Errorf("help has no group %q:\n%s", g, out)
		}
	}
	for _, c := range commands() {
		if !strings.Contains(out, "\n  "+c.usage) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	if !strings.Contains(out, "ssh -p 2222 xcloud@xcloud.test COMMAND") || !strings.Contains(out, "git push ssh://xcloud@xcloud.test:2222/APP.git main") {
		t.Errorf("help does not name the daemon's host and port:\n%s", out)
	}
	for _, args := range [][]string{{"help", "ps:scale"}, {"ps:scale", "--help"}, {"ps:scale", "web", "-h"}} {
		code, out, errs := runKeysCmd(d, keysAdmin, "", args...)
		want := "Usage: ssh -p 2222 xcloud@xcloud.test ps:scale APP TYPE=N...\n"
		if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "Example: ssh -p 2222 xcloud@xcloud.test ps:scale hello web=2") {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	// Everything after run's app is the command's, --help too.
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "run", "--help"); code != 0 {
		t.Errorf("run --help: %d %q", code, errs)
	}
	app := gitreceive.Identity{Name: "dev", Apps: []string{"web"}}
	if _, out, _ := runKeysCmd(d, app, "", "help"); strings.Contains(out, "keys:add") || strings.Contains(out, "Keys:") {
		t.Errorf("an app key's help lists admin commands:\n%s", out)
	}
}

// TestDidYouMean: a near miss of a command name gets a suggestion.
func TestDidYouMean(t *testing.T) {
	d := newJSONDoor(t)
	for _, tc := range []struct{ typed, want string }{
		{"app:list", "apps:list"},
		{"ps:scal", "ps:scale"},
		{"confg:set", "config:set"},
		{"apps", "apps:list"},
		{"relases", "releases"},
		{"domain:add", "domains:add"},
	} {
		code, _, errs := runKeysCmd(d, keysAdmin, "", tc.typed, "web")
		if code == 0 || !strings.Contains(errs, "did you mean "+tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: %d %q; want a suggestion of %s", tc.typed, code, errs, tc.want)
		}
	}
	if _, _, errs := runKeysCmd(d, keysAdmin, "", "frobnicate"); strings.Contains(errs, "did you mean") {
		t.Errorf("frobnicate: %q; want no suggestion", errs)
	}
}

func testBox(t *testing.T) *secret.Box {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return box
}
