package daemon

import (
	"context"
	"fmt"
	"strings"
)

// alsoRunning says what a deploy of the app's release with spec set going
// besides its web process: the other process types and the cron jobs; ""
// when nothing.
func (d *Daemon) alsoRunning(ctx context.Context, app string, spec []byte) string {
	s, err := parseSpec(spec)
	if err != nil {
		return ""
	}
	formation, err := d.store.Formation(ctx, app)
	if err != nil {
		d.log.Warn("read the formation for the push output", "app", app, "err", err)
		return ""
	}
	return alsoLine(app, s, s.scale(formation))
}

// alsoLine: "Started 2 worker processes (worker=1, clock=1); scheduled 1
// cron job ("cron APP" lists them)".
func alsoLine(app string, s releaseSpec, scale map[string]int) string {
	var parts, types []string
	n := 0
	for _, t := range s.types() {
		if t != "web" && scale[t] > 0 {
			n += scale[t]
			types = append(types, fmt.Sprintf("%s=%d", t, scale[t]))
		}
	}
	if n > 0 {
		parts = append(parts, fmt.Sprintf("started %d worker %s (%s)", n, plural(n, "process", "processes"), strings.Join(types, ", ")))
	}
	if c := len(s.Cron); c > 0 {
		parts = append(parts, fmt.Sprintf("scheduled %d cron %s (\"cron %s\" lists them)", c, plural(c, "job", "jobs"), app))
	}
	if len(parts) == 0 {
		return ""
	}
	line := strings.Join(parts, "; ")
	return strings.ToUpper(line[:1]) + line[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
