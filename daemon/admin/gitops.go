package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// gitopsCommands are the git:* commands: deploys from a repository
// elsewhere.
func gitopsCommands() []command {
	const gitops = "GitOps"
	return []command{
		{name: "git:sync", group: gitops, usage: "git:sync APP URL [REF] [--build]", help: "fetch REF (default: the remote's default branch) of a public or deploy-keyed repository as the app's main branch; --build deploys it", example: "git:sync hello https://example.com/me/hello.git main --build", app: true, flags: []string{"--build"}, access: accessWrite, run: (*Admin).cmdGitSync},
		{name: "git:sync:auto", group: gitops, usage: "git:sync:auto APP [on|off] [--interval 1m]", help: "poll the git:sync source and deploy when its ref moves; without on|off, show the settings", example: "git:sync:auto hello on --interval 5m", app: true, opts: []string{"--interval"}, access: accessWrite, run: (*Admin).cmdGitSyncAuto},
		{name: "git:webhook", group: gitops, usage: "git:webhook APP", help: "print the URL and secret to give the forge's push webhook (GitHub, Gitea, GitLab); a signed push syncs and deploys", example: "git:webhook hello", app: true, access: accessWrite, run: (*Admin).cmdGitWebhook},
		{name: "git:deploy-key", group: gitops, usage: "git:deploy-key APP [--forget-host]", help: "print the app's SSH deploy key (made on first use) to add, read-only, on the forge; --forget-host trusts the remote's host key anew", example: "git:deploy-key hello", app: true, flags: []string{"--forget-host"}, access: accessWrite, run: (*Admin).cmdGitDeployKey},
	}
}

func (a *Admin) cmdGitSync(ctx context.Context, c *call) error {
	if len(c.args) < 2 || len(c.args) > 3 {
		return usageError{fmt.Sprintf("want APP URL and an optional REF, got %d argument(s)", len(c.args))}
	}
	req := daemon.SyncRequest{App: c.args[0], URL: c.args[1], Build: c.flags["--build"], Trigger: daemon.TriggerSync, By: c.id.Name}
	if len(c.args) == 3 {
		req.Ref = c.args[2]
	}
	_, err := a.eng.Sync(ctx, req, c.out)
	return err
}

func (a *Admin) cmdGitSyncAuto(ctx context.Context, c *call) error {
	app := c.args[0]
	if len(c.args) == 1 {
		g, err := a.eng.GitSyncSettings(ctx, app)
		if errors.Is(err, store.ErrNotFound) {
			g, err = store.GitSync{App: app}, nil
		}
		if err != nil {
			return err
		}
		state := "off"
		if g.Auto {
			state = "on, every " + g.Interval.String()
		}
		fmt.Fprintf(c.out, "source:   %s %s\npolling:  %s\nlast:     %s %s\n", cmpOr(g.URL, "(none)"), g.Ref, state, cmpOr(g.LastSHA, "-"), g.LastError)
		return nil
	}
	if len(c.args) != 2 || (c.args[1] != "on" && c.args[1] != "off") {
		return usageError{"want APP and on or off"}
	}
	var interval time.Duration
	if v := c.opts["--interval"]; len(v) > 0 {
		d, err := time.ParseDuration(v[len(v)-1])
		if err != nil {
			return usageError{fmt.Sprintf("--interval must be a duration like 1m or 30s, got %q", v[len(v)-1])}
		}
		interval = d
	}
	on := c.args[1] == "on"
	if err := a.eng.SetAutoSync(ctx, c.args[0], on, interval); err != nil {
		return err
	}
	if on {
		fmt.Fprintf(c.out, "Polling %s's git:sync source every %s; a moved ref deploys\n", app, cmpOr(interval.String(), daemon.DefaultSyncInterval.String()))
	} else {
		fmt.Fprintf(c.out, "Polling of %s is off\n", app)
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" || s == "0s" {
		return def
	}
	return s
}

func (a *Admin) cmdGitWebhook(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	secret, url, err := a.eng.Webhook(ctx, c.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "URL:     %s\nsecret:  %s\n", url, secret)
	fmt.Fprintln(c.out, "Add a push webhook with content type application/json: GitHub and Gitea sign with the secret, GitLab sends it as the token.")
	return nil
}

func (a *Admin) cmdGitDeployKey(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if c.flags["--forget-host"] {
		if err := a.eng.ForgetHostKey(ctx, c.args[0]); err != nil {
			return err
		}
		fmt.Fprintln(c.err, "The remote's host key is forgotten: the next git:sync trusts the one it shows")
	}
	pub, err := a.eng.DeployKey(ctx, c.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, pub)
	return nil
}
