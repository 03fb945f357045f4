package admin

import (
	"context"
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
	return a.eng.Logs(ctx, req, c.out)
}

// lastOpt returns the last value given for a value flag, or "".
func lastOpt(c *call, name string) string {
	if v := c.opts[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}
