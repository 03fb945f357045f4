package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/daemon/config"
)

// Limits caps an app's containers. Zero fields fall back to the defaults
// from xcloud.toml, where zero means no cap.
type Limits struct {
	MemoryBytes int64   `json:"memory,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
	Pids        int64   `json:"pids,omitempty"`
}

// over returns l with its unset fields taken from def.
func (l Limits) over(def Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = def.MemoryBytes
	}
	if l.CPUs == 0 {
		l.CPUs = def.CPUs
	}
	if l.Pids == 0 {
		l.Pids = def.Pids
	}
	return l
}

// appLimits returns the caps in force for the app's containers.
func (d *Daemon) appLimits(ctx context.Context, app string) (Limits, error) {
	a, err := d.store.GetApp(ctx, app)
	if err != nil {
		return Limits{}, err
	}
	var l Limits
	if len(a.Limits) > 0 {
		if err := json.Unmarshal(a.Limits, &l); err != nil {
			return Limits{}, fmt.Errorf("limits of %s: %w", app, err)
		}
	}
	return l.over(d.opts.Limits), nil
}

// parseLimits reads memory=256m cpus=0.5 pids=128 into l.
func parseLimits(l Limits, args []string) (Limits, error) {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return l, usageError{fmt.Sprintf("%q: want memory=SIZE, cpus=N or pids=N", a)}
		}
		switch k {
		case "memory":
			n, err := config.ParseSize(v)
			if err != nil || (n != 0 && n < 6<<20) {
				return l, usageError{fmt.Sprintf("memory=%s: want a size of at least 6m like 256m or 1g", v)}
			}
			l.MemoryBytes = n
		case "cpus":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0.01 || f > 1024 {
				return l, usageError{fmt.Sprintf("cpus=%s: want a number from 0.01 to 1024", v)}
			}
			l.CPUs = f
		case "pids":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 16 {
				return l, usageError{fmt.Sprintf("pids=%s: want a whole number of at least 16", v)}
			}
			l.Pids = n
		default:
			return l, usageError{fmt.Sprintf("unknown limit %q (memory, cpus, pids)", k)}
		}
	}
	return l, nil
}

func (d *Daemon) cmdResources(ctx context.Context, c *call) error {
	if len(c.args) < 1 {
		return usageError{"want APP"}
	}
	app := c.args[0]
	if len(c.args) > 1 {
		if !c.id.Admin {
			return fmt.Errorf("changing limits needs an admin key; key %q is not one", c.id.Name)
		}
		a, err := d.store.GetApp(ctx, app)
		if err != nil {
			return err
		}
		var l Limits
		if len(a.Limits) > 0 {
			if err := json.Unmarshal(a.Limits, &l); err != nil {
				return fmt.Errorf("limits of %s: %w", app, err)
			}
		}
		l, err = parseLimits(l, c.args[1:])
		if err != nil {
			return err
		}
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if err := d.store.SetLimits(ctx, app, b); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "Limits of %s saved; they apply to containers started from now on (ps:restart %s applies them now)\n", app, app)
	}
	l, err := d.appLimits(ctx, app)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, l)
	}
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
