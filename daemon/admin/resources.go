package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// cpusRe is a plain decimal: ParseFloat alone would take "nan", "inf",
// "1e1" and hex floats.
var cpusRe = lazyre.MustCompile(`^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$`)

// parseLimits reads memory=256m cpus=0.5 pids=128 into l; K=default goes
// back to the [limits] default. Values are checked against what the kernel
// and runc accept, so a saved cap cannot make the app's containers fail to
// start.
func parseLimits(l daemon.Limits, args []string) (daemon.Limits, error) {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return l, usageError{fmt.Sprintf("%q: want memory=SIZE, cpus=N or pids=N", a)}
		}
		if k != "memory" && k != "cpus" && k != "pids" {
			return l, usageError{fmt.Sprintf("unknown limit %q (memory, cpus, pids)", k)}
		}
		switch v {
		case "default":
			// A zero field falls back to the default (see over).
			switch k {
			case "memory":
				l.MemoryBytes = 0
			case "cpus":
				l.CPUs = 0
			case "pids":
				l.Pids = 0
			}
			continue
		case "0":
			// 0 once silently meant the default; say how to ask for it.
			return l, usageError{fmt.Sprintf("%s=0: 0 is not a cap; %s=default goes back to the [limits] default", k, k)}
		}
		switch k {
		case "memory":
			n, err := config.ParseSize(v)
			if err != nil || config.CheckMemory(n) != nil {
				return l, usageError{fmt.Sprintf("memory=%s: want a size of at least 6m like 256m or 1g, or default", v)}
			}
			l.MemoryBytes = n
		case "cpus":
			f, err := strconv.ParseFloat(v, 64)
			if !cpusRe().MatchString(v) || err != nil || config.CheckCPUs(f) != nil {
				return l, usageError{fmt.Sprintf("cpus=%s: want a number from %g to %d like 0.5 or 2, or default", v, config.MinCPUs, config.MaxCPUs)}
			}
			l.CPUs = f
		case "pids":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || config.CheckPids(n) != nil {
				return l, usageError{fmt.Sprintf("pids=%s: want a whole number from %d to %d (the kernel's limit), or default", v, config.MinPids, config.MaxPids)}
			}
			l.Pids = n
		}
	}
	return l, nil
}

func (a *Admin) cmdResources(ctx context.Context, c *call) error {
	if len(c.args) < 1 {
		return usageError{"want APP"}
	}
	app := c.args[0]
	if len(c.args) > 1 {
		if !c.id.Admin {
			return fmt.Errorf("changing limits needs an admin key; key %q is not one", c.id.Name)
		}
		cur, err := a.eng.Limits(ctx, app)
		if err != nil {
			return err
		}
		l, err := parseLimits(cur.Own, c.args[1:])
		if err != nil {
			return err
		}
		if err := a.eng.SetLimits(ctx, app, l); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "Limits of %s saved; they apply to containers started from now on (ps:restart %s applies them now)\n", app, app)
	}
	cur, err := a.eng.Limits(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, cur)
	}
	l := cur.Effective
	show := func(v string, zero bool) string {
		if zero {
			return "no cap"
		}
		return v
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "memory:\t%s\n", show(fmt.Sprintf("%dm", l.MemoryBytes>>20), l.MemoryBytes == 0))
	fmt.Fprintf(tw, "cpus:\t%s\n", show(strconv.FormatFloat(l.CPUs, 'g', -1, 64), l.CPUs == 0))
	fmt.Fprintf(tw, "pids:\t%s\n", show(strconv.FormatInt(l.Pids, 10), l.Pids == 0))
	return tw.Flush()
}
