package admin

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// previewCommands are the previews:* commands: apps deployed from branches.
func previewCommands() []command {
	const previews = "Previews"
	return []command{
		{name: "previews", group: previews, usage: "previews APP [--json]", help: "list the app's previews (APP--BRANCH apps deployed from pushed branches) with their URLs", example: "previews hello", app: true, access: accessRead, run: (*Admin).cmdPreviews},
		{name: "previews:enable", group: previews, usage: "previews:enable APP", help: "deploy every pushed branch other than main as its own app, APP--BRANCH; deleting the branch destroys it", example: "previews:enable hello", app: true, access: accessWrite, run: (*Admin).cmdPreviewsEnable},
		{name: "previews:disable", group: previews, usage: "previews:disable APP", help: "stop deploying previews of pushed branches (existing previews stay until their branch is deleted)", example: "previews:disable hello", app: true, access: accessWrite, run: (*Admin).cmdPreviewsDisable},
		{name: "previews:config:set", group: previews, usage: "previews:config:set APP KEY=VALUE...", help: "config vars previews get on top of the app's own, from their next deploy (KEY= removes one)", example: "previews:config:set hello DEBUG=1", app: true, access: accessWrite, run: (*Admin).cmdPreviewsConfigSet},
	}
}

// previewRow is a preview as `previews --json` prints it.
type previewRow struct {
	store.Preview
	URL string `json:"url"`
}

func (a *Admin) cmdPreviews(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	ps, on, err := a.eng.PreviewsOf(ctx, app)
	if err != nil {
		return err
	}
	rows := make([]previewRow, 0, len(ps))
	for _, p := range ps {
		rows = append(rows, previewRow{Preview: p, URL: a.eng.AppURL(p.App)})
	}
	if c.json {
		return writeJSON(c.out, map[string]any{"app": app, "enabled": on, "previews": rows})
	}
	if !on {
		fmt.Fprintf(c.out, "Previews of %s are off (previews:enable %s turns them on)\n", app, app)
	} else if names, err := a.eng.PreviewConfigNames(ctx, app); err == nil && len(names) > 0 {
		fmt.Fprintf(c.out, "Previews get %s's config vars, and: %s\n", app, strings.Join(names, ", "))
	}
	if len(rows) == 0 {
		fmt.Fprintf(c.out, "%s has no previews\n", app)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREVIEW\tBRANCH\tLAST PUSH\tURL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.App, r.Branch, r.PushedAt.UTC().Format(time.RFC3339), r.URL)
	}
	return tw.Flush()
}

func (a *Admin) cmdPreviewsEnable(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if err := a.eng.EnablePreviews(ctx, c.args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Previews of %s are on: a push of branch B deploys %s--B; git push REMOTE :B destroys it\n", c.args[0], c.args[0])
	return nil
}

func (a *Admin) cmdPreviewsDisable(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if err := a.eng.DisablePreviews(ctx, c.args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Previews of %s are off; existing ones stay until their branch is deleted\n", c.args[0])
	return nil
}

func (a *Admin) cmdPreviewsConfigSet(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one KEY=VALUE"}
	}
	set := map[string]string{}
	for _, kv := range c.args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Sprintf("%q is not KEY=VALUE", kv)}
		}
		set[k] = v
	}
	if err := a.eng.SetPreviewConfig(ctx, c.args[0], set); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Set %d preview config var(s) of %s; previews get them from their next deploy\n", len(set), c.args[0])
	return nil
}
