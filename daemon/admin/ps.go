package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
)

// maxScale bounds ps:scale per process type on a single box.
const maxScale = daemon.MaxScale

func (a *Admin) cmdPs(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	app := c.args[0]
	rows, err := a.eng.Processes(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, rows)
	}
	info, err := a.eng.App(ctx, app)
	if err != nil {
		return err
	}
	if info.Stopped {
		fmt.Fprintf(c.out, "%s is stopped (ps:start to run it)\n", app)
	}
	if len(rows) == 0 {
		fmt.Fprintf(c.out, "%s has no running processes\n", app)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tRELEASE\tSTATE\tUPTIME\tRESTARTS\tCONTAINER")
	now := time.Now()
	for _, r := range rows {
		up := "-"
		if r.StartedAt != nil {
			up = uptime(now.Sub(*r.StartedAt))
		}
		fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%d\t%s\n", r.Type, r.Version, r.State, up, r.Restarts, r.Name)
	}
	return tw.Flush()
}

// uptime is a duration in its two largest units: 45s, 3m12s, 5h4m, 2d3h.
func uptime(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// parseScale reads TYPE=N arguments.
func parseScale(args []string) (map[string]int, error) {
	if len(args) == 0 {
		return nil, usageError{"want at least one TYPE=N"}
	}
	out := map[string]int{}
	for _, a := range args {
		typ, n, ok := strings.Cut(a, "=")
		q, err := strconv.Atoi(n)
		if !ok || typ == "" || err != nil || q < 0 || q > maxScale {
			return nil, usageError{fmt.Sprintf("%q: want TYPE=N with N from 0 to %d", a, maxScale)}
		}
		out[typ] = q
	}
	return out, nil
}

func (a *Admin) cmdPsScale(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one TYPE=N"}
	}
	scale, err := parseScale(c.args[1:])
	if err != nil {
		return err
	}
	return a.eng.Scale(ctx, daemon.ScaleRequest{App: c.args[0], Scale: scale}, c.out)
}

// cmdPsRestart replaces every container with a fresh one of the same
// release, health-checked before the route moves: a rolling restart.
func (a *Admin) cmdPsRestart(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.Restart(ctx, c.args[0], c.out)
}

func (a *Admin) cmdPsStop(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.Stop(ctx, c.args[0], c.out)
}

func (a *Admin) cmdPsStart(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.Start(ctx, c.args[0], c.out)
}

// cmdPsRebuild builds the deploy branch's commit again and deploys it.
func (a *Admin) cmdPsRebuild(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	return a.eng.Rebuild(ctx, c.args[0], c.id, c.out)
}

// cmdRollback deploys an earlier release's image and spec again.
func (a *Admin) cmdRollback(ctx context.Context, c *call) error {
	if len(c.args) < 1 || len(c.args) > 2 {
		return usageError{"want APP and an optional version like v3"}
	}
	req := daemon.RollbackRequest{App: c.args[0]}
	if len(c.args) == 2 {
		v, err := strconv.Atoi(strings.TrimPrefix(c.args[1], "v"))
		if err != nil || v <= 0 {
			return usageError{fmt.Sprintf("version must look like v3, got %q", c.args[1])}
		}
		req.Version = v
	}
	return a.eng.Rollback(ctx, req, c.out)
}

// cmdBuildsCancel stops the app's running build; its push fails.
func (a *Admin) cmdBuildsCancel(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	if err := a.eng.CancelBuild(ctx, c.args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Canceled the running build of %s\n", c.args[0])
	return nil
}
