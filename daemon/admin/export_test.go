package admin

import (
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

// TestExportWording: export's bad input is one line naming the problem,
// with a non-zero exit and nothing on stdout.
func TestExportWording(t *testing.T) {
	d := newJSONDoor(t)
	appKey := gitreceive.Identity{Name: "alice", Fingerprint: "SHA256:alice", Apps: []string{"web"}}
	for _, c := range []struct {
		id   gitreceive.Identity
		args []string
		want string
	}{
		{keysAdmin, []string{"export", "kube", "nope"}, `error: app "nope" does not exist` + "\n"},
		{keysAdmin, []string{"export:kube", "api"}, "error: export:kube: api has no release yet; push to it first\n"},
		{keysAdmin, []string{"export:image", "api"}, "error: export:image: api has no release yet; push to it first\n"},
		{keysAdmin, []string{"export:kube", "web", "--registry", "Registry.Example/Team"}, ""},
		{keysAdmin, []string{"export:compose", "web", "--registry=reg.example/team:v2"}, "error: export:compose: --registry \"reg.example/team:v2\" is not a valid image reference prefix (HOST/PREFIX, e.g. registry.example.com/team): no tag\n"},
		{keysAdmin, []string{"export:kube", "web", "--namespace", "Prod"}, "error: export:kube: --namespace \"Prod\" is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63 characters)\n"},
		{appKey, []string{"export", "kube", "api"}, "error: key alice may not run export:kube on app api: the key may not access that app\n"},
	} {
		code, out, errs := runKeysCmd(d, c.id, "", c.args...)
		if code == 0 || out != "" || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want one error line", c.args, code, out, errs)
			continue
		}
		if c.want != "" && errs != c.want {
			t.Errorf("%q: stderr %q, want %q", c.args, errs, c.want)
		}
	}
}

// TestExportKubeByAppKey: an app key exports its own app, and the
// output's secrets are announced on stderr, not mixed into stdout.
func TestExportKubeByAppKey(t *testing.T) {
	d := newJSONDoor(t)
	appKey := gitreceive.Identity{Name: "alice", Fingerprint: "SHA256:alice", Apps: []string{"web"}}
	code, out, errs := runKeysCmd(d, appKey, "", "export", "kube", "web", "--namespace", "prod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"kind: Deployment", "name: web-web", "namespace: prod", "image: img1", "host: web.xcloud.test", "host: shop.example.com", "kind: CronJob"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kind: Secret") || errs != "" {
		t.Errorf("web has no config vars: want no Secret and no warning; stderr %q", errs)
	}
}
