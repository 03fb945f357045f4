package admin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/xcloud-dev/xcloud/daemon"
)

// cmdLogs prints an app's recent output and, with -f, follows it across
// restarts and redeploys until the client disconnects.
func (a *Admin) cmdLogs(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	n := 100
	if v := lastOpt(c, "-n"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 || n > 100000 {
			return usageError{fmt.Sprintf("-n %s: want a number of lines from 0 to 100000", v)}
		}
	}
	req := daemon.LogsRequest{App: c.args[0], Lines: n, Type: lastOpt(c, "--type"), Follow: c.flags["-f"]}
	switch {
	case c.json && !req.Follow:
		lines := []daemon.LogLine{}
		if err := a.eng.LogLines(ctx, req, func(l daemon.LogLine) error { lines = append(lines, l); return nil }); err != nil {
			return err
		}
		return writeJSON(c.out, lines)
	case c.json:
		enc := json.NewEncoder(c.out) // -f: one object a line, so it can stream
		return a.eng.LogLines(ctx, req, func(l daemon.LogLine) error { return enc.Encode(l) })
	}
	return a.eng.Logs(ctx, req, c.out)
}

// lastOpt returns the last value given for a value flag, or "".
func lastOpt(c *call, name string) string {
	if v := c.opts[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}
