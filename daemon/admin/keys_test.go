package admin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
	"github.com/xcloud-dev/xcloud/store/storetest"
)

func newPubKey(t *testing.T, comment string) (line string, fp string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))
	if comment != "" {
		line += " " + comment
	}
	return line + "\n", gossh.FingerprintSHA256(pk)
}

// door is the SSH door as cmd/xcloud wires it: commands and key auth.
type door struct {
	*Admin
	*Auth
}

// newKeysDaemon has apps web and api, and an admin_keys file with root@host.
func newKeysDaemon(t *testing.T) (*door, *store.Store, string) {
	t.Helper()
	st := newAppsStore(t, "web", "api")
	dir := t.TempDir()
	rootKey, _ := newPubKey(t, "root@host")
	adminKeys := filepath.Join(dir, "admin_keys")
	if err := os.WriteFile(adminKeys, []byte("# admins\n"+rootKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return newDoor(daemon.Options{Store: st, BaseDomain: "xcloud.test"}, adminKeys), st, rootKey
}

// newDoor wires an engine with opts (and a silent logger) to the commands
// and auth, with the admin keys of the file adminKeys ("" for none).
func newDoor(opts daemon.Options, adminKeys string) *door {
	log := slog.New(slog.DiscardHandler)
	opts.Logger = log
	eng := daemon.New(opts)
	auth := NewAuth(opts.Store, adminKeys, log)
	return &door{Admin: New(eng, auth, log), Auth: auth}
}

var keysAdmin = gitreceive.Identity{Name: "root@host", Fingerprint: "SHA256:root", Admin: true}

// newAppsStore opens a store in a temp dir with the given apps created.
func newAppsStore(t *testing.T, apps ...string) *store.Store {
	return storetest.WithApps(t, apps...)
}

func runKeysCmd(d *door, id gitreceive.Identity, stdin string, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := d.RunCommand(context.Background(), id, args, gitreceive.Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func eventsOf(t *testing.T, st *store.Store, typ string) []store.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestKeysAddListRemove(t *testing.T) {
	d, st, rootKey := newKeysDaemon(t)
	ctx := context.Background()
	alice, aliceFP := newPubKey(t, "alice@laptop")
	code, out, errs := runKeysCmd(d, keysAdmin, alice, "keys:add", "alice", "--app", "web", "--app=api", "--app", "web")
	if code != 0 || out != "Added key alice ("+aliceFP+") with access to: web, api\n" {
		t.Fatalf("keys:add: %d %q %q", code, out, errs)
	}
	k, err := st.KeyByFingerprint(ctx, aliceFP)
	if err != nil || k.Name != "alice" || k.Admin || strings.Join(k.Apps, ",") != "web,api" {
		t.Fatalf("stored key %+v, %v", k, err)
	}
	// The daemon now lets alice in with her apps.
	pk, _, _, _, _ := gossh.ParseAuthorizedKey([]byte(alice))
	id, err := d.Authenticate(ctx, pk)
	if err != nil || id.Name != "alice" || id.Admin || !id.CanPush("web") || id.CanPush("other") {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}

	bob, bobFP := newPubKey(t, "")
	if code, out, errs := runKeysCmd(d, keysAdmin, "\n# bob's key\n"+bob+"\n", "keys:add", "bob", "--admin"); code != 0 || !strings.Contains(out, "with access to: all apps (admin)") {
		t.Fatalf("keys:add --admin: %d %q %q", code, out, errs)
	}

	code, out, errs = runKeysCmd(d, keysAdmin, "", "keys:list", "--json")
	if code != 0 {
		t.Fatalf("keys:list: %d %q", code, errs)
	}
	var list []keyInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_, rootFP := func() (string, string) {
		pk, _, _, _, _ := gossh.ParseAuthorizedKey([]byte(rootKey))
		return "", gossh.FingerprintSHA256(pk)
	}()
	want := []struct {
		name, fp, source, apps string
		admin                  bool
	}{
		{"root@host", rootFP, "file", "", true},
		{"alice", aliceFP, "store", "web,api", false},
		{"bob", bobFP, "store", "", true},
	}
	if len(list) != len(want) {
		t.Fatalf("keys:list = %+v", list)
	}
	for i, w := range want {
		g := list[i]
		if g.Name != w.name || g.Fingerprint != w.fp || g.Source != w.source || strings.Join(g.Apps, ",") != w.apps || g.Admin != w.admin {
			t.Errorf("keys:list[%d] = %+v, want %+v", i, g, w)
		}
		if (g.Source == "store") != (g.CreatedAt != nil) {
			t.Errorf("keys:list[%d] created_at = %v", i, g.CreatedAt)
		}
	}
	code, out, _ = runKeysCmd(d, keysAdmin, "", "keys:list")
	for _, s := range []string{"NAME", "root@host", "admin_keys file", "alice", "web, api", "bob", "all apps (admin)", aliceFP} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("keys:list output lacks %q:\n%s", s, out)
		}
	}

	if code, out, errs := runKeysCmd(d, keysAdmin, "", "keys:remove", "alice"); code != 0 || out != "Removed key alice\n" {
		t.Fatalf("keys:remove: %d %q %q", code, out, errs)
	}
	if _, err := d.Authenticate(ctx, pk); err == nil {
		t.Fatal("removed key still authenticates")
	}
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "keys:remove", "alice"); code == 0 || errs != "error: keys:remove: key \"alice\" does not exist\n" {
		t.Fatalf("keys:remove twice: %d %q", code, errs)
	}
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "keys:remove", "root@host"); code == 0 || !strings.Contains(errs, "edit the admin_keys file") {
		t.Fatalf("keys:remove of a file key: %d %q", code, errs)
	}

	added, removed := eventsOf(t, st, store.EventKeyAdded), eventsOf(t, st, store.EventKeyRemoved)
	if len(added) != 2 || added[0].Data["key"] != "alice" || added[0].Data["by"] != "root@host" || added[0].Data["fingerprint"] != aliceFP {
		t.Errorf("key:added events %+v", added)
	}
	if len(removed) != 1 || removed[0].Data["key"] != "alice" || removed[0].Data["by"] != "root@host" {
		t.Errorf("key:removed events %+v", removed)
	}
}

func TestKeysAddRejects(t *testing.T) {
	d, st, rootKey := newKeysDaemon(t)
	taken, _ := newPubKey(t, "")
	if code, _, errs := runKeysCmd(d, keysAdmin, taken, "keys:add", "taken", "--app", "web"); code != 0 {
		t.Fatal(errs)
	}
	k1, _ := newPubKey(t, "")
	k2, _ := newPubKey(t, "")
	fresh, _ := newPubKey(t, "")
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, err := gossh.NewPublicKey(&weakRSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	weak := string(gossh.MarshalAuthorizedKey(weakPub))
	tests := []struct {
		desc  string
		stdin string
		args  []string
		want  string
	}{
		{"bad name", fresh, []string{"Alice", "--admin"}, `invalid key name "Alice"`},
		{"name too long", fresh, []string{strings.Repeat("a", 64), "--admin"}, "invalid key name"},
		{"name starts with a dot", fresh, []string{".a", "--admin"}, "invalid key name"},
		{"no name", fresh, []string{"--admin"}, "want 1 argument(s)"},
		{"two keys", k1 + k2, []string{"x", "--admin"}, "more than one public key"},
		{"two keys on a line", strings.TrimSpace(k1) + " " + k2, []string{"x", "--admin"}, "more than one public key"},
		{"no key", "", []string{"x", "--admin"}, "no public key on stdin"},
		{"only comments", "# nothing\n\n", []string{"x", "--admin"}, "no public key on stdin"},
		{"not a key", "hello world\n", []string{"x", "--admin"}, "line 1 of stdin is not an OpenSSH public key"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", []string{"x", "--admin"}, "not an OpenSSH public key"},
		{"options", `from="10.0.0.1" ` + fresh, []string{"x", "--admin"}, "key options"},
		{"weak RSA key", weak, []string{"x", "--admin"}, "RSA key of 1024 bits is too weak"},
		{"unknown app", fresh, []string{"x", "--app", "nope"}, `app "nope" does not exist`},
		{"bad app name", fresh, []string{"x", "--app", "No"}, "invalid app name"},
		{"admin and app", fresh, []string{"x", "--admin", "--app", "web"}, "--admin and --app exclude each other"},
		{"neither", fresh, []string{"x"}, "give --admin or at least one --app APP"},
		{"app without value", fresh, []string{"x", "--app"}, "--app needs a value"},
		{"unknown flag", fresh, []string{"x", "--root"}, `unknown flag "--root"`},
		{"duplicate name", fresh, []string{"taken", "--admin"}, `a key named "taken" already exists`},
		{"duplicate key", taken, []string{"y", "--admin"}, `is already registered as "taken"`},
		{"admin_keys file key", rootKey, []string{"y", "--admin"}, `already an admin key ("root@host") in the admin_keys file`},
		{"admin_keys file name", fresh, []string{"root@host", "--admin"}, "taken by a key in the admin_keys file"},
	}
	for _, tt := range tests {
		code, out, errs := runKeysCmd(d, keysAdmin, tt.stdin, append([]string{"keys:add"}, tt.args...)...)
		if code == 0 || out != "" || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: exit %d, out %q, err %q; want an error containing %q", tt.desc, code, out, errs, tt.want)
		}
	}
	keys, err := st.ListKeys(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys after rejected adds: %+v %v", keys, err)
	}
}

// TestAccessMatrix checks who may run what, and that every denial is
// reported, recorded and changes nothing.
func TestAccessMatrix(t *testing.T) {
	d, st, _ := newKeysDaemon(t)
	alice := gitreceive.Identity{Name: "alice", Fingerprint: "SHA256:alice", Apps: []string{"web"}}

	// The table says what an app key may do on its own app.
	wantAccess := map[string]access{
		"help": accessAny, "version": accessAny, "apps:list": accessAny,
		"apps:info": accessRead, "releases": accessRead, "builds": accessRead, "builds:log": accessRead,
		"ps": accessRead, "logs": accessRead, "config": accessRead, "config:get": accessRead, "domains": accessRead,
		"builds:cancel": accessWrite, "ps:scale": accessWrite, "ps:restart": accessWrite, "ps:stop": accessWrite,
		"ps:start": accessWrite, "rollback": accessWrite, "config:set": accessWrite, "config:unset": accessWrite,
		"domains:add": accessWrite, "domains:remove": accessWrite,
		"apps:create": accessAdmin, "apps:destroy": accessAdmin, "keys:add": accessAdmin, "keys:list": accessAdmin,
		"keys:remove": accessAdmin, "tls:ca": accessAdmin,
	}
	for _, c := range commands() {
		got := c.accessFor([]string{"web"})
		if w, ok := wantAccess[c.name]; ok && got != w {
			t.Errorf("%s: access %s, want %s", c.name, got, w)
		}
		if c.app && got == accessAny {
			t.Errorf("%s names an app but any key may run it", c.name)
		}
	}
	if a := (&command{app: true}).accessFor(nil); a != accessAdmin {
		t.Errorf("an app command without access is %s, want admin", a)
	}
	if resourcesAccess([]string{"web"}) != accessRead || resourcesAccess([]string{"web", "memory=1g"}) != accessAdmin {
		t.Error("resources: showing is read, setting is admin")
	}

	// Allowed: reads of alice's app, and apps:list shows only it.
	for _, args := range [][]string{{"releases", "web"}, {"apps:info", "web"}, {"builds", "web"}, {"resources", "web"}, {"version"}} {
		if code, _, errs := runKeysCmd(d, alice, "", args...); code != 0 {
			t.Errorf("%v by alice: %d %q", args, code, errs)
		}
	}
	if code, out, _ := runKeysCmd(d, alice, "", "apps:list"); code != 0 || !strings.Contains(out, "web") || strings.Contains(out, "api") {
		t.Errorf("apps:list by alice: %d %q", code, out)
	}
	if _, out, _ := runKeysCmd(d, alice, "", "help"); strings.Contains(out, "keys:add") || !strings.Contains(out, "releases") {
		t.Errorf("help for an app key lists admin commands or misses others:\n%s", out)
	}

	bob, _ := newPubKey(t, "")
	denied := []struct {
		args []string
		app  string
		want string
	}{
		{[]string{"releases", "api"}, "api", "error: key alice may not run releases on app api: the key may not access that app\n"},
		{[]string{"ps:scale", "api", "web=2"}, "api", "error: key alice may not run ps:scale on app api: the key may not access that app\n"},
		{[]string{"ps:scale", "nope", "web=2"}, "nope", "error: key alice may not run ps:scale on app nope: the key may not access that app\n"},
		{[]string{"resources", "web", "memory=1g"}, "web", "error: key alice may not run resources on app web: it needs an admin key\n"},
		{[]string{"keys:list"}, "", "error: key alice may not run keys:list: it needs an admin key\n"},
		{[]string{"keys:add", "bob", "--admin"}, "", "error: key alice may not run keys:add: it needs an admin key\n"},
		{[]string{"keys:remove", "alice"}, "", "error: key alice may not run keys:remove: it needs an admin key\n"},
		{[]string{"apps:create", "new"}, "", "error: key alice may not run apps:create: it needs an admin key\n"},
	}
	for _, tt := range denied {
		before := len(eventsOf(t, st, store.EventAccessDenied))
		code, out, errs := runKeysCmd(d, alice, bob, tt.args...)
		if code == 0 || out != "" || errs != tt.want {
			t.Errorf("%v by alice: exit %d, out %q, err %q; want %q", tt.args, code, out, errs, tt.want)
			continue
		}
		evs := eventsOf(t, st, store.EventAccessDenied)
		if len(evs) != before+1 {
			t.Errorf("%v: %d access:denied events, want %d", tt.args, len(evs), before+1)
			continue
		}
		e := evs[len(evs)-1]
		if e.App != tt.app || e.Data["key"] != "alice" || e.Data["command"] != tt.args[0] || e.Message != strings.TrimSuffix(strings.TrimPrefix(tt.want, "error: "), "\n") {
			t.Errorf("%v: event %+v", tt.args, e)
		}
	}
	// Nothing changed.
	if keys, _ := st.ListKeys(context.Background()); len(keys) != 0 {
		t.Errorf("keys after denials: %+v", keys)
	}
	if _, err := st.GetApp(context.Background(), "new"); err == nil {
		t.Error("apps:create by an app key created the app")
	}

	// Pushes and fetches denied by gitreceive are recorded too.
	d.AccessDenied(context.Background(), alice, "push", "api")
	evs := eventsOf(t, st, store.EventAccessDenied)
	if e := evs[len(evs)-1]; e.App != "api" || e.Data["command"] != "push" || e.Message != "key alice may not push to app api" {
		t.Errorf("push denial event %+v", e)
	}
}
