package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	gossh "golang.org/x/crypto/ssh"

	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

// denied tells the caller what was refused, records an access:denied
// event, and returns the exit status 1. app may be "".
func (a *Admin) denied(ctx context.Context, w io.Writer, id gitreceive.Identity, cmd, app string, needsAdmin bool) int {
	msg := fmt.Sprintf("key %s may not run %s", id.Name, cmd)
	if app != "" {
		msg += " on app " + app
	}
	if needsAdmin {
		msg += ": it needs an admin key"
	} else {
		msg += ": the key may not access that app"
	}
	fmt.Fprintf(w, "error: %s\n", msg)
	a.auth.recordDenied(ctx, id, cmd, app, msg)
	return 1
}

// AccessDenied implements gitreceive.Auditor for pushes and fetches.
func (au *Auth) AccessDenied(ctx context.Context, id gitreceive.Identity, command, app string) {
	verb := map[string]string{"push": "push to", "fetch": "fetch from"}[command]
	if verb == "" {
		verb = "run " + command + " on"
	}
	au.recordDenied(ctx, id, command, app, fmt.Sprintf("key %s may not %s app %s", id.Name, verb, app))
}

func (au *Auth) recordDenied(ctx context.Context, id gitreceive.Identity, cmd, app, msg string) {
	au.log.Warn("access denied", "key", id.Name, "fingerprint", id.Fingerprint, "command", cmd, "app", app)
	if app != "" && store.ValidateAppName(app) != nil {
		app = "" // keep junk out of the app column; the message still has it
	}
	// Record it even if the client has already hung up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := au.keys.AddEvent(ctx, store.Event{Type: store.EventAccessDenied, App: app, Message: msg,
		Data: map[string]any{"key": id.Name, "fingerprint": id.Fingerprint, "command": cmd}})
	if err != nil {
		au.log.Error("record access:denied event", "err", err)
	}
}

// inputError is bad input to a command: printed as is, not logged.
type inputError struct{ msg string }

func (e inputError) Error() string { return e.msg }

func badf(format string, a ...any) error { return inputError{fmt.Sprintf(format, a...)} }

// maxKeyInput bounds what keys:add reads from stdin.
const maxKeyInput = 64 << 10

// readOneKey parses exactly one authorized_keys line from r; ssh is how
// the user reaches the daemon, for the hint.
func readOneKey(r io.Reader, ssh string) (gossh.PublicKey, error) {
	if r == nil {
		return nil, badf("no public key on stdin; run: %s keys:add NAME ... < key.pub", ssh)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading the public key from stdin: %w", err)
	}
	if len(b) > maxKeyInput {
		return nil, badf("stdin is larger than %d KiB; send one public key line", maxKeyInput>>10)
	}
	var (
		key   gossh.PublicKey
		count int
	)
	for n, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		count++
		if count > 1 {
			return nil, badf("stdin has more than one public key; send exactly one")
		}
		pk, comment, opts, rest, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, badf("line %d of stdin is not an OpenSSH public key (like \"ssh-ed25519 AAAA... you@host\")", n+1)
		}
		if len(opts) > 0 {
			return nil, badf("key options (%s) are not supported; send the bare public key", strings.Join(opts, ","))
		}
		if err := gitreceive.CheckKeyStrength(pk); err != nil {
			return nil, badf("%v", err) // such a key could never log in
		}
		// Keys pasted onto one line: the second one parses as the comment.
		if _, _, _, _, err := gossh.ParseAuthorizedKey([]byte(comment)); err == nil || len(bytes.TrimSpace(rest)) > 0 {
			return nil, badf("stdin has more than one public key; send exactly one")
		}
		key = pk
	}
	if key == nil {
		return nil, badf("no public key on stdin; run: %s keys:add NAME ... < key.pub", ssh)
	}
	return key, nil
}

func (a *Admin) cmdKeysAdd(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	name := c.args[0]
	if !perm.ValidName(name) {
		return badf("invalid key name %q: use 1-63 of a-z 0-9 . _ @ - starting with a letter or digit", name)
	}
	admin := c.flags["--admin"]
	var apps []string
	for _, app := range c.opts["--app"] {
		if !slices.Contains(apps, app) {
			apps = append(apps, app)
		}
	}
	var services []string
	for _, svc := range c.opts["--service"] {
		if !slices.Contains(services, svc) {
			services = append(services, svc)
		}
	}
	switch {
	case admin && len(apps) > 0:
		return usageError{"--admin and --app exclude each other"}
	case !admin && len(apps) == 0:
		return usageError{"give --admin or at least one --app APP"}
	case admin && len(services) > 0:
		return usageError{"--service grants an app key a service; an admin key reaches every service already"}
	}
	for _, app := range apps {
		if err := store.ValidateAppName(app); err != nil {
			return err
		}
		if _, err := a.eng.App(ctx, app); errors.Is(err, store.ErrNotFound) {
			return badf("app %q does not exist", app)
		} else if err != nil {
			return err
		}
	}
	for _, svc := range services {
		if _, err := a.eng.ServiceInfo(ctx, svc); err != nil {
			return err
		}
	}
	key, err := readOneKey(c.in, a.eng.SSHCommand())
	if err != nil {
		return err
	}
	fp := gossh.FingerprintSHA256(key)
	files, ferr := a.auth.fileKeys()
	if ferr != nil {
		a.log.Error("read admin keys", "path", a.auth.file.path, "err", ferr)
	}
	for _, f := range files {
		if keysEqual(f.key, key) {
			return badf("key %s is already an admin key (%q) in the admin_keys file", fp, f.name)
		}
		if f.name == name {
			return badf("key name %q is taken by a key in the admin_keys file; choose another", name)
		}
	}
	if k, err := a.auth.keys.KeyByFingerprint(ctx, fp); err == nil {
		return badf("key %s is already registered as %q", fp, k.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) + " " + name
	err = a.auth.keys.AddKeyBy(ctx, store.Key{Name: name, Fingerprint: fp, PublicKey: line, Admin: admin, Apps: apps, Services: services}, c.id.Name)
	if errors.Is(err, store.ErrExists) {
		if strings.Contains(err.Error(), "fingerprint") {
			return badf("key %s is already registered", fp)
		}
		return badf("a key named %q already exists", name)
	}
	if err != nil {
		return err
	}
	a.log.Info("key added", "key", name, "fingerprint", fp, "admin", admin, "apps", apps, "services", services, "by", c.id.Name)
	fmt.Fprintf(c.out, "Added key %s (%s) with access to: %s\n", name, fp, accessText(admin, apps, services))
	return nil
}

func accessText(admin bool, apps, services []string) string {
	if admin {
		return "all apps (admin)"
	}
	if len(services) > 0 {
		return strings.Join(apps, ", ") + "; may link them to services " + strings.Join(services, ", ")
	}
	return strings.Join(apps, ", ")
}

// keyInfo is one row of keys:list.
type keyInfo struct {
	Name        string     `json:"name"`
	Fingerprint string     `json:"fingerprint"`
	Admin       bool       `json:"admin"`
	Apps        []string   `json:"apps"`
	Services    []string   `json:"services"`   // it may link its apps to
	Source      string     `json:"source"`     // "store" (keys:add) or "file" (admin_keys)
	CreatedAt   *time.Time `json:"created_at"` // null for the file's keys
}

func (a *Admin) cmdKeysList(ctx context.Context, c *call) error {
	if err := wantArgs(c, 0); err != nil {
		return err
	}
	list := []keyInfo{}
	files, err := a.auth.fileKeys()
	if err != nil {
		a.log.Error("read admin keys", "path", a.auth.file.path, "err", err)
		fmt.Fprintf(c.out, "warning: the admin_keys file cannot be read; see the daemon log\n")
	}
	for _, f := range files {
		list = append(list, keyInfo{Name: f.name, Fingerprint: gossh.FingerprintSHA256(f.key), Admin: true, Apps: []string{}, Services: []string{}, Source: "file"})
	}
	keys, err := a.auth.keys.ListKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		at := k.CreatedAt
		apps := k.Apps
		if apps == nil {
			apps = []string{}
		}
		svcs := k.Services
		if svcs == nil {
			svcs = []string{}
		}
		list = append(list, keyInfo{Name: k.Name, Fingerprint: k.Fingerprint, Admin: k.Admin, Apps: apps, Services: svcs, Source: "store", CreatedAt: &at})
	}
	if c.json {
		return writeJSON(c.out, list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFINGERPRINT\tACCESS\tSOURCE\tCREATED")
	for _, k := range list {
		created := "-"
		if k.CreatedAt != nil {
			created = k.CreatedAt.Format(time.RFC3339)
		}
		src := k.Source
		if src == "file" {
			src = "admin_keys file"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Fingerprint, accessText(k.Admin, k.Apps, k.Services), src, created)
	}
	return tw.Flush()
}

func (a *Admin) cmdKeysRemove(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	name := c.args[0]
	err := a.auth.keys.RemoveKeyBy(ctx, name, c.id.Name)
	if errors.Is(err, store.ErrNotFound) {
		files, _ := a.auth.fileKeys()
		for _, f := range files {
			if f.name == name {
				return badf("key %q is in the admin_keys file (%s); edit the admin_keys file to remove it", name, a.auth.file.path)
			}
		}
		return badf("key %q does not exist", name)
	}
	if err != nil {
		return err
	}
	a.log.Info("key removed", "key", name, "by", c.id.Name)
	fmt.Fprintf(c.out, "Removed key %s\n", name)
	return nil
}
