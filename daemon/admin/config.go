package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/daemon"
)

// parseAssignments reads K=V arguments; values may hold '=', spaces and
// newlines (the SSH command line is split like a shell would).
func parseAssignments(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, usageError{"want at least one KEY=VALUE"}
	}
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usageError{fmt.Sprintf("%q is not KEY=VALUE", a)}
		}
		if err := daemon.CheckVarName(k); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// decodeValues decodes base64 values (config:set --encoded): binary
// values and ones with quotes or newlines pass any shell that way.
func decodeValues(set map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(set))
	for k, v := range set {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--encoded: the value of %s is not base64: %v", k, err)}
		}
		out[k] = string(b)
	}
	return out, nil
}

func (a *Admin) cmdConfig(ctx context.Context, c *call) error {
	if err := wantArgs(c, 1); err != nil {
		return err
	}
	vars, err := a.eng.Config(ctx, c.args[0])
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, vars)
	}
	if len(vars) == 0 {
		fmt.Fprintf(c.out, "%s has no config vars\n", c.args[0])
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(tw, "%s:\t%s\n", k, vars[k])
	}
	return tw.Flush()
}

func (a *Admin) cmdConfigGet(ctx context.Context, c *call) error {
	if err := wantArgs(c, 2); err != nil {
		return err
	}
	vars, err := a.eng.Config(ctx, c.args[0])
	if err != nil {
		return err
	}
	v, ok := vars[c.args[1]]
	if !ok {
		return badf("%s has no config var %s (config %s lists them)", c.args[0], c.args[1], c.args[0])
	}
	fmt.Fprintln(c.out, v)
	return nil
}

func (a *Admin) cmdConfigSet(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one KEY=VALUE"}
	}
	set, err := parseAssignments(c.args[1:])
	if err != nil {
		return err
	}
	if c.flags["--encoded"] {
		if set, err = decodeValues(set); err != nil {
			return err
		}
	}
	return a.eng.SetConfig(ctx, daemon.SetConfigRequest{App: c.args[0], Set: set, NoRestart: c.flags["--no-restart"]}, c.out)
}

func (a *Admin) cmdConfigUnset(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want APP and at least one KEY"}
	}
	for _, k := range c.args[1:] {
		if err := daemon.CheckVarName(k); err != nil {
			return err
		}
	}
	return a.eng.SetConfig(ctx, daemon.SetConfigRequest{App: c.args[0], Unset: c.args[1:], NoRestart: c.flags["--no-restart"]}, c.out)
}
